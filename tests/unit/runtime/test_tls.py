"""The API's TLS context: loaded from the configured files, every bad file a StartupError
naming its key, a reload that keeps the old certificate when the new one is bad; and the
doctor's `tls` check with its expiry warning."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.certs import make_certificate
from vmsd.cli.doctor import tls_check
from vmsd.config.server import TlsConfig
from vmsd.core.errors import StartupError
from vmsd.runtime.tls import CERT_KEY, KEY_KEY, ApiTls, server_context


def _tls(cert: Path, key: Path) -> TlsConfig:
    return TlsConfig(cert_file=cert, key_file=key)


def test_a_good_pair_loads_for_tls_1_2_and_later(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, days=90)
    context, certificate = server_context(_tls(cert, key))
    assert context.minimum_version.name == "TLSv1_2"
    assert certificate.subject == "CN=vmsd test server"
    assert timedelta(days=89) < certificate.not_after - datetime.now(UTC) < timedelta(days=91)


def _failure(tls: TlsConfig) -> StartupError:
    with pytest.raises(StartupError) as caught:
        server_context(tls)
    return caught.value


def test_every_bad_file_names_its_key(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path / "a")
    other_cert, other_key = make_certificate(tmp_path / "b")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a PEM file\n")
    cases = [
        (_tls(tmp_path / "missing.crt", key), CERT_KEY, "cannot read"),
        (_tls(cert, tmp_path / "missing.key"), KEY_KEY, "cannot read"),
        (_tls(garbage, key), CERT_KEY, "no PEM certificate"),
        (_tls(cert, garbage), KEY_KEY, "no usable PEM private key"),
        (_tls(cert, other_key), KEY_KEY, "is not the key of the certificate"),
        (_tls(key, cert), CERT_KEY, "no PEM certificate"),  # swapped
    ]
    for tls, config_key, cause in cases:
        err = _failure(tls)
        assert err.config_key == config_key, (tls, err)
        assert cause in err.cause, err.cause
        assert err.exit_status == 78
    assert other_cert.exists()


def test_an_encrypted_key_is_refused_without_a_prompt(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, passphrase=b"secret")
    err = _failure(_tls(cert, key))
    assert err.config_key == KEY_KEY and "encrypted" in err.cause


def test_a_reload_with_a_bad_pair_keeps_the_old_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path / "live", "live", days=10)
    tls = ApiTls(_tls(cert, key))
    before = tls.certificate
    new_cert, new_key = make_certificate(tmp_path / "new", "new", days=200)
    _, wrong_key = make_certificate(tmp_path / "other", "other")
    error = tls.reload(_tls(new_cert, wrong_key))
    assert error is not None and KEY_KEY in error
    assert tls.certificate == before
    assert tls.reload(_tls(new_cert, new_key)) is None
    assert tls.certificate.subject == "CN=vmsd test new"
    # The same paths with new contents: what a renewal (certbot, acme.sh) does.
    shutil.copy(cert, new_cert)
    shutil.copy(key, new_key)
    assert tls.reload(_tls(new_cert, new_key)) is None
    assert tls.certificate == before


def test_doctor_tls_ok_warn_fail(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    assert tls_check(TlsConfig(), now).status == "ok"
    cert, key = make_certificate(tmp_path / "long", days=365)
    check = tls_check(_tls(cert, key), now)
    assert check.status == "ok" and "valid until" in check.detail
    cert, key = make_certificate(tmp_path / "short", days=20)
    check = tls_check(_tls(cert, key), now)
    assert check.status == "warn" and "(19 days); renew it" in check.detail
    check = tls_check(_tls(cert, key), now + timedelta(days=21))
    assert check.status == "fail" and "expired on" in check.detail
    _, other_key = make_certificate(tmp_path / "other")
    check = tls_check(_tls(cert, other_key), now)
    assert check.status == "fail" and KEY_KEY in check.detail
    future, future_key = make_certificate(tmp_path / "future", not_before=now + timedelta(days=2))
    assert tls_check(_tls(future, future_key), now).status == "fail"
