"""Every event type vmsd records. Webhook filters are checked against this list (a typo must
be a config error, not a webhook that never fires); a test keeps it equal to the code."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "daemon_started": "the daemon is ready",
    "daemon_stopped": "the daemon stopped in order",
    "config_reloaded": "SIGHUP applied a new configuration (`tls_error`: the new certificate "
    "was refused and the old one is still served)",
    "camera_created": "a camera was added through the API",
    "camera_updated": "a camera was changed through the API",
    "camera_deleted": "a camera was removed through the API",
    "cameras_synced": "the configuration file's cameras were written to the registry",
    "camera_online": "the camera's source became available",
    "camera_offline": "the camera's source was lost",
    "camera_disabled": "the camera was disabled",
    "camera_enabled": "the camera was enabled again (state unknown until its source answers)",
    "recorder_started": "a recorder started recording",
    "recording_resumed": "a recorder records again after a failure",
    "recorder_failed": "a camera's recorder started failing, or fails in another way now "
    "(`class`, `message`, stderr tail); not repeated for every retry",
    "recorder_restart_requested": "a recorder restart was asked for through the API (`by`: the "
    "token's name)",
    "recorder_stalled": "a recorder made no progress for stall_seconds and was restarted",
    "recorder_disk_full": "a recorder found its disk full; it waits for space, retention runs",
    "segment_recovered": "a file not in the index was found at startup and indexed",
    "segment_quarantined": "a file was moved to quarantine (`reason`: unplayable, overlaps)",
    "segment_missing": "an indexed file was gone at startup; its row was removed",
    "retention_pass": "retention deleted segments (counts per camera and rule)",
    "export_done": "a clip export finished",
    "export_failed": "a clip export failed",
    "rate_limited": "a principal went past auth.rate_limit and got 429 (`principal`; at most "
    "once a minute per principal)",
    "login_locked_out": "failed logins locked out a user name or a client address (`user`, "
    "`ip`, `by`: user or ip); once per lockout, not per refused attempt",
}
