"""HTTPS for the API listener: one server SSLContext (TLS 1.2 or later, the standard
library's server defaults), loaded at start and given the new chain on SIGHUP.

`load_cert_chain` on the live context applies to the handshakes after it; connections
already open keep the certificate they began with. A file that is missing, unreadable, not
PEM, encrypted or not matching its key fails the start (a StartupError naming the key, exit
78), or fails the reload with the old certificate kept. The hooks listener never uses TLS:
it is MediaMTX's, on loopback.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from vmsd.config.server import TlsConfig
from vmsd.core.errors import StartupError
from vmsd.core.log import get_logger

log = get_logger("vmsd.tls")

CERT_KEY = "server.tls.cert_file"
KEY_KEY = "server.tls.key_file"


@dataclass(frozen=True, slots=True)
class Certificate:
    """What the doctor and the logs say about the leaf certificate."""

    subject: str
    not_before: datetime
    not_after: datetime


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise ValueError("encrypted")


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise StartupError(key, f"cannot read {path}: {err.strerror or err}") from err


def read_certificate(cert_file: Path) -> Certificate:
    """The first certificate of a PEM chain; StartupError (server.tls.cert_file) if none."""
    data = _read(cert_file, CERT_KEY)
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise StartupError(CERT_KEY, f"{cert_file} holds no PEM certificate") from err
    leaf = chain[0]
    return Certificate(
        leaf.subject.rfc4514_string(),
        leaf.not_valid_before_utc.astimezone(UTC),
        leaf.not_valid_after_utc.astimezone(UTC),
    )


def load_chain(context: ssl.SSLContext, tls: TlsConfig) -> Certificate:
    """Load `tls`'s certificate and key into `context`; StartupError naming the file at
    fault. Blocking (small files): at start, or once per reload."""
    assert tls.cert_file is not None and tls.key_file is not None
    certificate = read_certificate(tls.cert_file)
    _read(tls.key_file, KEY_KEY)
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
    except (ssl.SSLError, ValueError) as err:
        if "KEY_VALUES_MISMATCH" in str(err):
            cause = f"{tls.key_file} is not the key of the certificate in {tls.cert_file}"
        else:
            cause = f"{tls.key_file} holds no usable PEM private key (an encrypted key is not "
            cause += "supported)"
        raise StartupError(KEY_KEY, cause) from err
    except OSError as err:  # removed between the read and the load
        raise StartupError(KEY_KEY, f"cannot read {tls.key_file}: {err.strerror or err}") from err
    return certificate


def server_context(tls: TlsConfig) -> tuple[ssl.SSLContext, Certificate]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context, load_chain(context, tls)


class ApiTls:
    """The running API listener's context; `reload` gives it a new chain or keeps the old."""

    def __init__(self, tls: TlsConfig) -> None:
        self.context, self.certificate = server_context(tls)
        log.info("tls_certificate_loaded", **_fields(self.certificate))

    def reload(self, tls: TlsConfig) -> str | None:
        """The error that kept the old certificate, or None once the new one is in use.
        A chain is loaded into a scratch context first: a failed load leaves nothing half
        applied on the live one."""
        if not tls.enabled:
            return None  # TLS turned off: a restart-only change, reported as such
        try:
            server_context(tls)
            self.certificate = load_chain(self.context, tls)
        except StartupError as err:
            log.error("tls_reload_failed", setting=err.config_key, error=err.cause)
            return err.message
        log.info("tls_certificate_loaded", **_fields(self.certificate))
        return None


def _fields(certificate: Certificate) -> dict[str, str]:
    return {"subject": certificate.subject, "not_after": certificate.not_after.isoformat()}
