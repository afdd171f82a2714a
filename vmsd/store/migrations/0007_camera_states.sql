-- Each camera's last live state, so that a restart does not announce again what was known
-- before it (a camera dead before the restart is not reported dead again at every start).
-- A table of its own, not columns of cameras: a state change must not fire the registry's
-- change notification (every daemon would reload its registry and re-render MediaMTX).
CREATE TABLE camera_states (
    name            text PRIMARY KEY REFERENCES cameras (name) ON DELETE CASCADE,
    state           text NOT NULL CHECK (state IN ('unknown', 'online', 'offline', 'disabled')),
    reason          text NOT NULL DEFAULT '',
    since           timestamptz NOT NULL
);
