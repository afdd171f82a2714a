"""The `auth:`, `audit:` and `secrets:` sections: password hashing, sessions, login and request
limits, shareable links, MediaMTX's auth answers, the audit trail's retention, and the key
camera credentials are kept with."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from vmsd.config.base import ConfigModel, DurationS


class SecretsConfig(ConfigModel):
    # Fernet key for camera credentials at rest. Empty: read key_file, creating it (0600) on
    # first start. Boxes sharing one database must share one key.
    key: SecretStr = SecretStr("")
    key_file: Path | None = None  # default: <state_dir>/credentials.key


class AuditConfig(ConfigModel):
    # Audit rows older than this are pruned (vmsd.access.audit_prune); null keeps every row.
    # At least 7: the database refuses a prune of the last 6 days (migration 0010).
    retention_days: int | None = Field(default=365, ge=7, le=36_500)


class PasswordHashConfig(ConfigModel):
    """argon2id's cost. The defaults take 55-85 ms per hash on a 2-core box (bench/login.py);
    a stored hash made with other parameters is re-hashed at the user's next login."""

    time_cost: int = Field(default=2, ge=1, le=20)
    memory_kib: int = Field(default=65_536, ge=8_192, le=1_048_576)
    parallelism: int = Field(default=2, ge=1, le=16)


class SessionsConfig(ConfigModel):
    # A session unused this long ends; and every session ends this long after its login.
    idle_timeout: DurationS = 30 * 60.0
    lifetime: DurationS = 12 * 3600.0

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> SessionsConfig:
        if not 60 <= self.idle_timeout <= self.lifetime <= 90 * 86_400:
            raise ValueError("need 60s <= idle_timeout <= lifetime <= 90d")
        return self


class LoginConfig(ConfigModel):
    """Brute-force limits of POST /api/v1/auth/login, per user name and per client address."""

    # Failures allowed before a lockout (each further failure doubles it).
    max_failures_per_user: int = Field(default=5, ge=1, le=1000)
    max_failures_per_ip: int = Field(default=20, ge=1, le=10_000)
    lockout: DurationS = 30.0
    max_lockout: DurationS = 15 * 60.0
    # A user name's or an address's failures are forgotten after this long without one.
    failure_window: DurationS = 15 * 60.0


class RateLimitConfig(ConfigModel):
    """A token bucket per principal (user or token) over the whole API; 429 past it."""

    # Generous for a person, a console or a dashboard (a console opening 64 cameras' tiles is
    # a burst, not a rate); a runaway script is held to a share of a small box's CPU.
    requests_per_second: float = Field(default=100.0, ge=0, le=100_000)  # 0: no limit
    burst: int = Field(default=1000, ge=1, le=1_000_000)


class LinksConfig(ConfigModel):
    # The longest `expires_in` a shareable link may ask for.
    max_expires_in: DurationS = 7 * 86_400.0


class AuthConfig(ConfigModel):
    password_hash: PasswordHashConfig = PasswordHashConfig()
    sessions: SessionsConfig = SessionsConfig()
    login: LoginConfig = LoginConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    links: LinksConfig = LinksConfig()
    # How long MediaMTX's auth answer for a user:password is kept once argon2 has checked it
    # (a change to the user or its scope drops every kept answer at once).
    verdict_cache: DurationS = 60.0
