-- Retention for the audit trail (audit.retention_days): the oldest rows may be deleted, and
-- only through one narrow door that leaves the chain verifiable.
--
-- The anchor (audit_anchor, one row) records the last pruned row: its id and its hash, which
-- is the prev_hash of the chain's first remaining row, so `vmsd audit verify` starts from it
-- instead of the genesis value (32 zero bytes). last_id 0 and the genesis hash: nothing pruned.
--
-- The rule, enforced here for every SQL session (vmsd's prune is only one user of it):
-- * UPDATE and TRUNCATE of audit_log: refused, always.
-- * DELETE of an audit_log row: only of a row the anchor already covers (id <= last_id).
-- * The anchor only moves forward, by an UPDATE of last_id and cutoff alone; the database
--   fills the rest (last_hash from the row named, pruned_rows counted, pruned_at = now()).
--   It may move only to an existing row that is not the chain's last (appends go on from the
--   last row's hash), over rows all older than the cutoff, and the cutoff must be at least
--   6 days old (audit.retention_days is at least 7; one day of slack for the clocks of boxes
--   sharing the database): a prune cannot take the recent trail.
-- * At commit (a deferred constraint trigger) no row the anchor covers may remain (the delete
--   is a whole prefix of the chain), and the same transaction must have appended the prune's
--   own row (action `audit.prune`, details.up_to_id = last_id) after it: no prune is
--   invisible in the trail.
-- So a row in the middle, a recent row or the end of the chain cannot be deleted, and the
-- oldest rows only together with the anchor and a trail row saying so. Whoever can disable
-- triggers (the table's owner, a superuser) can still do anything; verify shows it.
--
-- SECURITY DEFINER was not needed: vmsd's database user owns the table, so privileges could
-- not keep anyone out that the triggers do not.

CREATE TABLE audit_anchor (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id         bigint NOT NULL,
    last_hash       bytea NOT NULL,
    pruned_rows     bigint NOT NULL,
    pruned_at       timestamptz,
    cutoff          timestamptz
);
INSERT INTO audit_anchor (last_id, last_hash, pruned_rows)
    VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000', 0);

CREATE FUNCTION vmsd_audit_row_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.id <= (SELECT last_id FROM audit_anchor) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: only a prune through audit_anchor deletes rows, the oldest ones';
END;
$$;
-- The same trigger name as 0009's, with the rule above.
DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION vmsd_audit_row_guard();

CREATE FUNCTION vmsd_audit_anchor_move() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_hash bytea;
    last_row bigint;
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'audit_anchor has one row, which only moves forward';
    END IF;
    IF NEW.singleton IS DISTINCT FROM OLD.singleton
        OR NEW.last_hash IS DISTINCT FROM OLD.last_hash
        OR NEW.pruned_rows IS DISTINCT FROM OLD.pruned_rows
        OR NEW.pruned_at IS DISTINCT FROM OLD.pruned_at THEN
        RAISE EXCEPTION 'audit_anchor: set last_id and cutoff only';
    END IF;
    IF NEW.last_id <= OLD.last_id THEN
        RAISE EXCEPTION 'audit_anchor: last_id only moves forward (% to %)', OLD.last_id, NEW.last_id;
    END IF;
    IF NEW.cutoff IS NULL OR NEW.cutoff > now() - interval '6 days' THEN
        RAISE EXCEPTION 'audit_anchor: the cutoff must be at least 6 days old';
    END IF;
    SELECT hash INTO row_hash FROM audit_log WHERE id = NEW.last_id;
    SELECT max(id) INTO last_row FROM audit_log;
    IF row_hash IS NULL OR NEW.last_id >= last_row THEN
        RAISE EXCEPTION 'audit_anchor: row % is not in the chain before its last row', NEW.last_id;
    END IF;
    IF EXISTS (SELECT 1 FROM audit_log WHERE id > OLD.last_id AND id <= NEW.last_id
               AND time >= NEW.cutoff) THEN
        RAISE EXCEPTION 'audit_anchor: rows up to % are not all older than the cutoff', NEW.last_id;
    END IF;
    NEW.last_hash := row_hash;
    NEW.pruned_rows := OLD.pruned_rows
        + (SELECT count(*) FROM audit_log WHERE id > OLD.last_id AND id <= NEW.last_id);
    NEW.pruned_at := now();
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_anchor_move BEFORE INSERT OR UPDATE OR DELETE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION vmsd_audit_anchor_move();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION vmsd_audit_anchor_move();

CREATE FUNCTION vmsd_audit_prune_complete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_log WHERE id <= NEW.last_id) THEN
        RAISE EXCEPTION 'audit_anchor: rows up to % must all be deleted with it', NEW.last_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit_log WHERE action = 'audit.prune' AND id > NEW.last_id
                   AND details->>'up_to_id' = NEW.last_id::text) THEN
        RAISE EXCEPTION 'audit_anchor: a prune up to % needs its audit.prune row', NEW.last_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER audit_anchor_prune_complete AFTER UPDATE ON audit_anchor
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION vmsd_audit_prune_complete();
