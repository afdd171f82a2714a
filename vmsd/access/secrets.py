"""Per-install secrets kept in the state dir: the credential-encryption key and the hook secret.

Both are created on first start (0600, owner only) and read on every later one. Camera
credentials are encrypted with Fernet (authenticated, versioned) so a database dump or backup
does not disclose camera passwords; the key never enters the database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from vmsd.config.schema import Config
from vmsd.core.errors import ConfigError, StoreError

KEY_FILE_NAME = "credentials.key"
HOOK_SECRET_FILE_NAME = "hook.secret"  # noqa: S105 - a file name
_FILE_MODE = 0o600


class CredentialCipher:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as err:
            raise ConfigError(
                "the credential key is not a valid Fernet key",
                [
                    "secrets.key: must be 32 url-safe base64-encoded bytes (vmsd writes one itself "
                    "when neither secrets.key nor an existing key file is given)"
                ],
            ) from err

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as err:
            raise StoreError(
                "a stored credential cannot be decrypted with this install's key",
                [
                    "was the database restored without its credentials.key, or shared between "
                    "boxes with different keys? Give every box the same secrets.key"
                ],
            ) from err


def credential_key(config: Config) -> bytes:
    key = config.secrets.key.get_secret_value()
    if key:
        return key.encode()
    assert config.secrets.key_file is not None
    return load_or_create_key(config.secrets.key_file)


def load_or_create_key(path: Path) -> bytes:
    return _load_or_create(path, Fernet.generate_key)


def load_or_create_hook_secret(path: Path) -> str:
    return _load_or_create(path, lambda: secrets.token_urlsafe(32).encode()).decode()


def read_secret(path: Path) -> bytes | None:
    """The file's value; None when it is missing or empty. Never creates or changes it
    (`vmsd doctor`)."""
    try:
        value = path.read_bytes().strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"cannot read {path}", [str(err)]) from err
    return value or None


def _load_or_create(path: Path, generate: Callable[[], bytes]) -> bytes:
    value = read_secret(path)
    if value:
        if path.stat().st_mode & 0o077:
            os.chmod(path, _FILE_MODE)
        return value
    value = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    try:
        os.write(fd, value + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return value
