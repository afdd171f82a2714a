"""Validate a mediamtx.yml document against what a given MediaMTX release accepts.

MediaMTX rejects unknown keys, and an invalid file on hot reload makes it exit: vmsd runs
every rendered document through `validate_mediamtx_document` before writing it. Pure: no
I/O. The key tables and where they come from are in `vmsd.mediamtx.keys`.

The path-name rule is `IsValidPathName` of the v1.20.1-based `internal/conf/path.go`
(SoundarTech/mediamtx 5d495b98); the v1.9- and v1.11-era upstream trees accept a superset
(`~` and `:` too), so checking every release against the v1.20.1 rule never lets through a
name an older release rejects. The enum values are the ones the option comments of the
upstream `mediamtx.yml` (commit 003b535f, and v1.19/v1.20 default files quoted in issues)
list as available; the `AuthAction` constants were read in the v1.9-era `conf.go` tree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Final

from vmsd.mediamtx.keys import (
    AUTH_INTERNAL_USER_KEYS,
    AUTH_PERMISSION_KEYS,
    GLOBAL_KEYS,
    LATEST_SUPPORTED,
    OLDEST_SUPPORTED,
    PATH_KEYS,
    KeySpan,
    Version,
    format_version,
)

__all__ = [
    "AUTH_ACTIONS",
    "AUTH_INTERNAL_USER_KEYS",
    "AUTH_METHODS",
    "AUTH_PERMISSION_KEYS",
    "ENCRYPTION_MODES",
    "LATEST_SUPPORTED",
    "LOG_DESTINATIONS",
    "LOG_LEVELS",
    "OLDEST_SUPPORTED",
    "RTSP_AUTH_METHODS",
    "RTSP_TRANSPORTS",
    "RTSP_TRANSPORT_PROTOCOLS",
    "Version",
    "allowed_global_keys",
    "allowed_path_keys",
    "auth_http_exclude_default",
    "availability_hook_keys",
    "parse_mediamtx_version",
    "path_name_problem",
    "validate_mediamtx_document",
]

AUTH_METHODS: Final = frozenset({"internal", "http", "jwt"})
AUTH_ACTIONS: Final = frozenset({"publish", "read", "playback", "api", "metrics", "pprof"})
RTSP_TRANSPORTS: Final = frozenset({"automatic", "udp", "multicast", "tcp"})  # path rtspTransport
RTSP_TRANSPORT_PROTOCOLS: Final = frozenset({"udp", "multicast", "tcp"})  # global rtspTransports
RTSP_AUTH_METHODS: Final = frozenset({"basic", "digest"})
LOG_LEVELS: Final = frozenset({"error", "warn", "info", "debug"})
LOG_DESTINATIONS: Final = frozenset({"stdout", "file", "syslog"})
# Must be the *strings*: a YAML `no` written unquoted is a boolean and MediaMTX rejects it.
ENCRYPTION_MODES: Final = frozenset({"no", "strict", "optional"})

# Scalar keys whose value must be one of a set, and list keys whose every item must be.
_GLOBAL_SCALAR_ENUMS: Final[Mapping[str, frozenset[str]]] = {
    "logLevel": LOG_LEVELS,
    "authMethod": AUTH_METHODS,
    "rtspEncryption": ENCRYPTION_MODES,
    "encryption": ENCRYPTION_MODES,
    "rtmpEncryption": ENCRYPTION_MODES,
}
_GLOBAL_LIST_ENUMS: Final[Mapping[str, frozenset[str]]] = {
    "logDestinations": LOG_DESTINATIONS,
    "rtspAuthMethods": RTSP_AUTH_METHODS,
    "authMethods": RTSP_AUTH_METHODS,
    "rtspTransports": RTSP_TRANSPORT_PROTOCOLS,
    "protocols": RTSP_TRANSPORT_PROTOCOLS,
}
_PATH_SCALAR_ENUMS: Final[Mapping[str, frozenset[str]]] = {
    "rtspTransport": RTSP_TRANSPORTS,
    "sourceProtocol": RTSP_TRANSPORTS,
}
_PERMISSION_LIST_KEYS: Final = ("authHTTPExclude", "authJWTExclude")

_PATH_NAME_RE: Final = re.compile(r"^[0-9a-zA-Z_\-/.]+$")
_VERSION_RE: Final = re.compile(r"(?<![0-9.])v?(\d+)\.(\d+)\.(\d+)(?!\.?[0-9])")

# v1.19.3 renamed runOnReady/runOnNotReady (the old names keep working, with a warning).
_AVAILABILITY_HOOKS_RENAMED_IN: Final[Version] = (1, 19, 3)
# v1.20.1 changed the authHTTPExclude default from [api, metrics, pprof] to []: vmsd always
# writes the key explicitly so the behaviour does not depend on the version.
_AUTH_HTTP_EXCLUDE_DEFAULT_CHANGED_IN: Final[Version] = (1, 20, 1)


def parse_mediamtx_version(text: str) -> Version | None:
    """The release in `mediamtx --version` output or `GET /v3/info`'s `version` ("v1.20.1").

    None when the text holds no `major.minor.patch` (a development build prints e.g.
    "v0.0.0", which parses, and is then below every supported release).
    """
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    major, minor, patch = (int(group) for group in match.groups())
    return (major, minor, patch)


def _resolve(version: Version | None) -> Version:
    """None means the latest supported; a newer release is checked as the latest one.

    Newer releases have so far only added keys (deprecated ones stay accepted), so the
    latest table is the safe approximation; an older release than supported is an error.
    """
    if version is None:
        return LATEST_SUPPORTED
    if version < OLDEST_SUPPORTED:
        raise ValueError(
            f"MediaMTX {format_version(version)} is older than the oldest supported "
            f"release {format_version(OLDEST_SUPPORTED)}"
        )
    return min(version, LATEST_SUPPORTED)


@cache
def _allowed(table_name: str, version: Version) -> frozenset[str]:
    table = GLOBAL_KEYS if table_name == "global" else PATH_KEYS
    return frozenset(key for key, span in table.items() if span.accepted_in(version))


def allowed_global_keys(version: Version | None = None) -> frozenset[str]:
    """Top-level keys the given MediaMTX release accepts (None: the latest supported)."""
    return _allowed("global", _resolve(version))


def allowed_path_keys(version: Version | None = None) -> frozenset[str]:
    """Keys accepted under `pathDefaults:` and `paths: <name>:` by the given release."""
    return _allowed("path", _resolve(version))


def availability_hook_keys(version: Version | None = None) -> tuple[str, str]:
    """The (stream available, stream unavailable) hook keys to write for this release."""
    if _resolve(version) >= _AVAILABILITY_HOOKS_RENAMED_IN:
        return ("runOnAvailable", "runOnUnavailable")
    return ("runOnReady", "runOnNotReady")


def auth_http_exclude_default(version: Version | None = None) -> tuple[str, ...]:
    """Actions this release exempts from HTTP auth when `authHTTPExclude` is omitted."""
    if _resolve(version) >= _AUTH_HTTP_EXCLUDE_DEFAULT_CHANGED_IN:
        return ()
    return ("api", "metrics", "pprof")


def path_name_problem(name: str) -> str | None:
    """Why MediaMTX would reject `name` as a key of `paths:`, or None if it is valid.

    Names starting with `~` are regular expressions and are not checked further.
    """
    if name.startswith("~"):
        # Go RE2 syntax: Python's `re` is not the same dialect, so it is not compiled here.
        return None
    if not name:
        return "cannot be empty"
    if name.startswith("/"):
        return "cannot begin with a slash"
    if name.endswith("/"):
        return "cannot end with a slash"
    if _PATH_NAME_RE.fullmatch(name) is None:
        return "can contain only alphanumeric characters, underscore, dot, minus and slash"
    if any(segment in (".", "..") for segment in name.split("/")):
        return "cannot contain '.' or '..' segments"
    return None


def validate_mediamtx_document(
    doc: Mapping[str, Any], version: Version | None
) -> list[str]:
    """One line per problem MediaMTX `version` (None: the latest supported) would reject.

    Checks top-level, `pathDefaults` and every `paths.<name>` key, path names, the enum
    values vmsd writes and the keys of `authInternalUsers` / `authHTTPExclude` /
    `authJWTExclude` entries. An empty list means the document is acceptable as far as
    keys and these values go; value types and ranges are not checked.
    """
    v = _resolve(version)
    problems: list[str] = []
    _check_keys(doc, GLOBAL_KEYS, "", v, problems)
    for key, allowed in _GLOBAL_SCALAR_ENUMS.items():
        if key in doc:
            _check_scalar_enum(doc[key], allowed, key, problems)
    for key, allowed in _GLOBAL_LIST_ENUMS.items():
        if key in doc:
            _check_list_enum(doc[key], allowed, key, problems)
    if "authInternalUsers" in doc:
        _check_internal_users(doc["authInternalUsers"], v, problems)
    for key in _PERMISSION_LIST_KEYS:
        if key in doc:
            _check_permissions(doc[key], key, v, problems)
    if "pathDefaults" in doc:
        _check_path_conf(doc["pathDefaults"], "pathDefaults", v, problems)
    if "paths" in doc:
        _check_paths(doc["paths"], v, problems)
    return problems


def _check_keys(
    section: Mapping[Any, Any],
    table: Mapping[str, KeySpan],
    prefix: str,
    version: Version,
    problems: list[str],
) -> None:
    for key in section:
        where = f"{prefix}{key}"
        if not isinstance(key, str):
            problems.append(f"{prefix}{key!r}: key must be a string")
            continue
        span = table.get(key)
        if span is None:
            problems.append(f"{where}: unknown key for MediaMTX {format_version(version)}")
        elif not span.accepted_in(version):
            problems.append(f"{where}: not accepted by MediaMTX {format_version(version)} "
                            f"({_span_text(span, version)})")


def _span_text(span: KeySpan, version: Version) -> str:
    if version < span.first:
        return f"first accepted in {format_version(span.first)}"
    assert span.last is not None  # accepted_in() is False only outside [first, last]
    return f"last accepted in {format_version(span.last)}"


def _check_scalar_enum(
    value: object, allowed: frozenset[str], where: str, problems: list[str]
) -> None:
    if not isinstance(value, str) or value not in allowed:
        problems.append(f"{where}: invalid value {value!r} "
                        f"(expected one of: {', '.join(sorted(allowed))})")


def _as_list(value: object, where: str, problems: list[str]) -> Sequence[Any] | None:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value
    problems.append(f"{where}: must be a list (got {type(value).__name__})")
    return None


def _check_list_enum(
    value: object, allowed: frozenset[str], where: str, problems: list[str]
) -> None:
    items = _as_list(value, where, problems)
    for index, item in enumerate(items or ()):
        _check_scalar_enum(item, allowed, f"{where}[{index}]", problems)


def _check_entry_keys(
    entry: object, allowed: frozenset[str], where: str, version: Version, problems: list[str]
) -> Mapping[Any, Any] | None:
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: must be a mapping (got {type(entry).__name__})")
        return None
    for key in entry:
        if key not in allowed:
            problems.append(f"{where}.{key}: unknown key for MediaMTX {format_version(version)}")
    return entry


def _check_permissions(value: object, where: str, version: Version, problems: list[str]) -> None:
    for index, entry in enumerate(_as_list(value, where, problems) or ()):
        item_where = f"{where}[{index}]"
        permission = _check_entry_keys(entry, AUTH_PERMISSION_KEYS, item_where, version, problems)
        if permission is not None and "action" in permission:
            _check_scalar_enum(permission["action"], AUTH_ACTIONS, f"{item_where}.action",
                               problems)


def _check_internal_users(value: object, version: Version, problems: list[str]) -> None:
    for index, entry in enumerate(_as_list(value, "authInternalUsers", problems) or ()):
        where = f"authInternalUsers[{index}]"
        user = _check_entry_keys(entry, AUTH_INTERNAL_USER_KEYS, where, version, problems)
        if user is not None and "permissions" in user:
            _check_permissions(user["permissions"], f"{where}.permissions", version, problems)


def _check_path_conf(value: object, where: str, version: Version, problems: list[str]) -> None:
    if value is None:  # `mypath:` with no body takes every default
        return
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be a mapping (got {type(value).__name__})")
        return
    _check_keys(value, PATH_KEYS, f"{where}.", version, problems)
    for key, allowed in _PATH_SCALAR_ENUMS.items():
        if key in value:
            _check_scalar_enum(value[key], allowed, f"{where}.{key}", problems)


def _check_paths(value: object, version: Version, problems: list[str]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        problems.append(f"paths: must be a mapping (got {type(value).__name__})")
        return
    for name, conf in value.items():
        if not isinstance(name, str):
            problems.append(f"paths.{name!r}: path name must be a string")
            continue
        problem = path_name_problem(name)
        if problem is not None:
            problems.append(f"paths.{name}: invalid path name: {problem}")
            continue
        _check_path_conf(conf, f"paths.{name}", version, problems)
