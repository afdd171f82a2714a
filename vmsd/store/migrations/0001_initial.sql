-- Camera registry (filled by the camera-registry issue), API tokens, events.

CREATE TABLE cameras (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    source          text NOT NULL,
    username        text,
    password_enc    bytea,
    rtsp_transport  text NOT NULL DEFAULT 'tcp'
                    CHECK (rtsp_transport IN ('tcp', 'udp', 'automatic')),
    enabled         boolean NOT NULL DEFAULT true,
    record          boolean NOT NULL DEFAULT true,
    recording       jsonb NOT NULL DEFAULT '{}'::jsonb,
    retention       jsonb NOT NULL DEFAULT '{}'::jsonb,
    description     text NOT NULL DEFAULT '',
    location        text NOT NULL DEFAULT '',
    managed_by      text NOT NULL DEFAULT 'api' CHECK (managed_by IN ('api', 'config')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role            text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    -- SHA-256 of the whole token; the token itself is shown once and never stored.
    token_hash      bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time            timestamptz NOT NULL DEFAULT now(),
    type            text NOT NULL,
    camera          text,
    data            jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_type_time ON events (type, time);
CREATE INDEX events_camera_time ON events (camera, time) WHERE camera IS NOT NULL;

-- Daemons keep API tokens in memory (no query per request); a token created or revoked by
-- `vmsd token ...` or another box reaches them through this notification.
CREATE FUNCTION vmsd_notify_api_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vmsd_api_tokens', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION vmsd_notify_api_tokens();
