"""The real daemon over HTTPS with a certificate the test makes: the handshake verified
against it, HSTS on the answers, the ready line saying https://; SIGHUP with a renewed
certificate at the same paths and new handshakes see it; a bad pair on reload keeps the old
one; a bad pair at start is one line naming the key, exit 78."""

from __future__ import annotations

import http.client
import shutil
import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.certs import make_certificate
from tests.daemon_process import DaemonProcess, write_config
from tests.e2e.test_startup_failures import EX_CONFIG, assert_one_line, start_failing
from tests.net import free_port

pytestmark = pytest.mark.slow


def _tls_config(tmp_path: Path, cert: Path, key: Path) -> Path:
    return write_config(
        tmp_path,
        server={
            "host": "127.0.0.1",
            "port": free_port(),
            "tls": {"cert_file": str(cert), "key_file": str(key)},
        },
    )


def _https(
    daemon: DaemonProcess, cafile: Path, path: str = "/healthz"
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection (a new handshake); the peer's certificate (DER)."""
    context = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection("127.0.0.1", daemon.port, context=context, timeout=10)
    try:
        conn.request("GET", path)
        assert conn.sock is not None
        peer = conn.sock.getpeercert(binary_form=True)
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.headers), peer or b""
    finally:
        conn.close()


def _der(cert: Path) -> bytes:
    return x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path / "tls", "live")


@pytest.fixture
def daemon(tmp_path: Path, certs: tuple[Path, Path]) -> Iterator[DaemonProcess]:
    process = DaemonProcess(_tls_config(tmp_path, *certs))
    yield process
    process.close()


def test_https_hsts_and_a_certificate_renewed_on_sighup(
    tmp_path: Path, certs: tuple[Path, Path], daemon: DaemonProcess
) -> None:
    cert, key = certs
    first = tmp_path / "first.crt"
    shutil.copy(cert, first)
    daemon.start()
    ready = daemon.wait_for_notification("READY=1")
    assert f"STATUS=serving on https://127.0.0.1:{daemon.port}" in ready

    status, headers, peer = _https(daemon, first)
    assert status == 200 and peer == _der(first)
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    status, headers, _ = _https(daemon, first, "/api/v1/cameras")
    assert status == 401 and "Strict-Transport-Security" in headers  # errors too
    other, _ = make_certificate(tmp_path / "other", "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        _https(daemon, other)

    # Renewal: new files at the same paths, then SIGHUP. New handshakes get the new one.
    renewed_cert, renewed_key = make_certificate(tmp_path / "renewed", "renewed")
    shutil.copy(renewed_cert, cert)
    shutil.copy(renewed_key, key)
    daemon.notifications.clear()
    daemon.send(signal.SIGHUP)
    daemon.wait_for_notification("RELOADING=1")
    assert "STATUS=configuration reloaded" in daemon.wait_for_notification("READY=1")
    status, _, peer = _https(daemon, renewed_cert)
    assert status == 200 and peer == _der(renewed_cert)

    # A key that does not match: the reload says so, the renewed certificate stays.
    _, wrong_key = make_certificate(tmp_path / "wrong", "wrong")
    shutil.copy(wrong_key, key)
    daemon.notifications.clear()
    daemon.send(signal.SIGHUP)
    daemon.wait_for_notification("RELOADING=1")
    assert "the TLS certificate was not" in daemon.wait_for_notification("READY=1")
    failed = [e for e in daemon.log_events() if e.get("event") == "tls_reload_failed"]
    assert failed and failed[-1]["setting"] == "server.tls.key_file"
    status, _, peer = _https(daemon, renewed_cert)
    assert status == 200 and peer == _der(renewed_cert)

    # TLS off is a restart-only change: said so; the listener serves HTTPS until the restart.
    config = yaml.safe_load(daemon.config_path.read_text())
    del config["server"]["tls"]
    daemon.config_path.write_text(yaml.safe_dump(config))
    daemon.notifications.clear()
    daemon.send(signal.SIGHUP)
    daemon.wait_for_notification("RELOADING=1")
    daemon.wait_for_notification("READY=1")
    restart = [e for e in daemon.log_events() if e.get("event") == "config_reload_restart_needed"]
    assert restart and "server.tls" in restart[-1]["keys"]
    assert _https(daemon, renewed_cert)[0] == 200
    assert daemon.stop() == 0
    (line,) = [e for e in daemon.log_events() if e.get("event") == "daemon_ready"]
    assert line["url"] == f"https://127.0.0.1:{daemon.port}"


def test_a_key_that_does_not_match_fails_the_start(tmp_path: Path) -> None:
    cert, _ = make_certificate(tmp_path / "a", "a")
    _, key = make_certificate(tmp_path / "b", "b")
    failure = start_failing(_tls_config(tmp_path, cert, key))
    assert_one_line(failure, "server.tls.key_file", EX_CONFIG, "is not the key of the certificate")


def test_a_missing_certificate_fails_the_start(tmp_path: Path) -> None:
    _, key = make_certificate(tmp_path / "a", "a")
    failure = start_failing(_tls_config(tmp_path, tmp_path / "nope.crt", key))
    assert_one_line(failure, "server.tls.cert_file", EX_CONFIG, "cannot read", "nope.crt")
