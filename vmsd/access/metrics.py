"""People: logins, lockouts, live sessions, MediaMTX's cached password verdicts. Registered
on the daemon's registry by the domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

LOGIN_RESULTS = ("ok", "bad_credentials", "locked_out", "disabled")


class AccessMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.login_attempts = Counter(
            "vmsd_login_attempts_total",
            "POST /api/v1/auth/login answers, by result (ok, bad_credentials, locked_out, "
            "disabled)",
            ["result"],
            registry=registry,
        )
        self.login_lockouts = Counter(
            "vmsd_login_lockouts_total",
            "Login lockouts started, by what was locked out (user, ip)",
            ["by"],
            registry=registry,
        )
        self.verdicts = Counter(
            "vmsd_mediamtx_password_verdicts_total",
            "MediaMTX user:password checks, by source (cache: a kept argon2 verdict, argon2: "
            "verified now)",
            ["source"],
            registry=registry,
        )
        self.sessions_active = Gauge(
            "vmsd_sessions_active",
            "Console sessions live now (not revoked, expired or idle), of every daemon sharing "
            "the database; counted periodically (vmsd.access.session_count)",
            registry=registry,
        )
        for result in LOGIN_RESULTS:
            self.login_attempts.labels(result=result)
        for by in ("user", "ip"):
            self.login_lockouts.labels(by=by)
        for source in ("cache", "argon2"):
            self.verdicts.labels(source=source)
