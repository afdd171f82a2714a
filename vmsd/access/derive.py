"""Secrets derived from the per-install hook secret: stable across restarts, stored nowhere.

Standard library only: the synthetic publisher (`vmsd synthetic-publish`, started by MediaMTX)
derives its password here without importing the rest of vmsd.
"""

from __future__ import annotations

import hashlib
import hmac


def derive_secret(install_secret: str, purpose: str) -> str:
    """A stable per-install secret for one purpose."""
    digest = hmac.new(install_secret.encode(), purpose.encode(), hashlib.sha256).digest()
    return digest.hex()[:40]


def synthetic_publish_password(install_secret: str, path: str) -> str:
    """The password vmsd's own test-pattern publisher uses for one MediaMTX path."""
    return derive_secret(install_secret, f"synthetic-publish:{path}")
