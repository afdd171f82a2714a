-- People: user accounts, their sessions, camera scopes (users and tokens), camera groups,
-- and the tamper-evident audit trail.

-- A camera's groups: what a scope entry `group:<name>` grants.
ALTER TABLE cameras ADD COLUMN groups text[] NOT NULL DEFAULT '{}';

-- A token's camera scope: `*`, camera names, `group:<name>`. Tokens made before scopes
-- opened every camera, and keep doing so.
ALTER TABLE api_tokens ADD COLUMN cameras text[] NOT NULL DEFAULT '{*}';

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'),
    role            text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    cameras         text[] NOT NULL DEFAULT '{}',
    -- argon2id, in the PHC string form (parameters and salt inside).
    password_hash   text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

CREATE TABLE sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the cookie's 256-bit random value; the value itself is never stored.
    token_hash      bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    client_ip       text NOT NULL DEFAULT '',
    user_agent      text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Daemons keep users (their scopes and their verdicts for MediaMTX) in memory; a change by
-- the API, `vmsd user ...` or another box reaches them through this notification.
CREATE FUNCTION vmsd_notify_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vmsd_users', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION vmsd_notify_users();

-- One row per audited act. Append-only (the trigger refuses UPDATE and DELETE) and chained:
-- `hash` = SHA-256 over the previous row's hash and this row's content, so an edit, a
-- deletion or an insertion out of order shows in `vmsd audit verify`.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time            timestamptz NOT NULL,
    principal       text NOT NULL,
    client_ip       text NOT NULL DEFAULT '',
    action          text NOT NULL,
    target          text NOT NULL DEFAULT '',
    result          text NOT NULL,
    request_id      text NOT NULL DEFAULT '',
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time);
CREATE INDEX audit_log_principal ON audit_log (principal, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE FUNCTION vmsd_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION vmsd_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION vmsd_audit_append_only();
