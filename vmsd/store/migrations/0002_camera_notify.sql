-- Daemons keep the camera registry in memory (the auth hook and the renderer read it on every
-- request); a change by the API, a CLI command or another box reaches them through this.
CREATE FUNCTION vmsd_notify_cameras() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vmsd_cameras', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER cameras_changed AFTER INSERT OR UPDATE OR DELETE ON cameras
    FOR EACH STATEMENT EXECUTE FUNCTION vmsd_notify_cameras();
