"""The mediamtx.yml key schema: unknown keys, per-version keys, path names, enum values."""

from __future__ import annotations

from typing import Any

import pytest

from vmsd.mediamtx.keys import GLOBAL_KEYS, PATH_KEYS
from vmsd.mediamtx.schema import (
    LATEST_SUPPORTED,
    OLDEST_SUPPORTED,
    Version,
    allowed_global_keys,
    allowed_path_keys,
    auth_http_exclude_default,
    availability_hook_keys,
    parse_mediamtx_version,
    path_name_problem,
    validate_mediamtx_document,
)

ALL_VERSIONS: list[Version | None] = [None, (1, 9, 0), (1, 14, 0), (1, 19, 2), (1, 19, 3),
                                      (1, 20, 1)]


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"logLevl": "info"}, "logLevl: unknown key for MediaMTX {v}"),
        ({"rtspPort": 8554}, "rtspPort: unknown key for MediaMTX {v}"),
        ({"srtla": True}, "srtla: unknown key for MediaMTX {v}"),  # unreleased branch only
        ({"paths": {"cam1": {"sourceProtocl": "tcp"}}},
         "paths.cam1.sourceProtocl: unknown key for MediaMTX {v}"),
        ({"pathDefaults": {"recordSegmentSeconds": 60}},
         "pathDefaults.recordSegmentSeconds: unknown key for MediaMTX {v}"),
        ({"paths": {"cam1": {"name": "cam1"}}},  # filled in by MediaMTX, never read
         "paths.cam1.name: unknown key for MediaMTX {v}"),
        ({"paths": {"cam1": {"userAgent": "x"}}},  # an auth request body key, not config
         "paths.cam1.userAgent: unknown key for MediaMTX {v}"),
    ],
)
def test_unknown_keys_are_rejected(
    version: Version | None, doc: dict[str, Any], expected: str
) -> None:
    shown = "v{}.{}.{}".format(*(version or LATEST_SUPPORTED))
    assert validate_mediamtx_document(doc, version) == [expected.format(v=shown)]


@pytest.mark.parametrize(
    ("key", "version", "accepted"),
    [
        ("runOnAvailable", (1, 9, 0), False),
        ("runOnAvailable", (1, 19, 2), False),
        ("runOnAvailable", (1, 19, 3), True),
        ("runOnAvailable", None, True),
        ("runOnUnavailable", (1, 19, 2), False),
        ("runOnUnavailable", (1, 19, 3), True),
        ("runOnAvailableRestart", (1, 19, 3), True),
        ("runOnOnline", (1, 19, 2), False),
        ("runOnOnline", (1, 19, 3), True),
        ("runOnOffline", (1, 19, 3), True),
        # the old names keep working after the rename (with a deprecation warning)
        ("runOnReady", (1, 9, 0), True),
        ("runOnReady", (1, 19, 3), True),
        ("runOnReady", (1, 20, 1), True),
        ("runOnNotReady", (1, 9, 0), True),
        ("runOnNotReady", (1, 20, 1), True),
        ("runOnReadyRestart", (1, 20, 1), True),
        # sourceProtocol was renamed rtspTransport long before v1.9.0; both accepted
        ("rtspTransport", (1, 9, 0), True),
        ("sourceProtocol", (1, 9, 0), True),
        ("sourceProtocol", (1, 20, 1), True),
        ("forward", (1, 20, 0), False),
        ("forward", (1, 20, 1), True),
        ("alwaysAvailable", (1, 16, 1), False),
        ("alwaysAvailable", (1, 16, 2), True),
    ],
)
def test_path_keys_per_version(key: str, version: Version | None, accepted: bool) -> None:
    assert (key in allowed_path_keys(version)) is accepted
    value = "tcp" if key in ("rtspTransport", "sourceProtocol") else ""
    problems = validate_mediamtx_document({"paths": {"cam1": {key: value}}}, version)
    assert (problems == []) is accepted
    if not accepted:
        shown = "v{}.{}.{}".format(*(version or LATEST_SUPPORTED))
        assert problems == [f"paths.cam1.{key}: not accepted by MediaMTX {shown} "
                            f"(first accepted in v{'.'.join(map(str, PATH_KEYS[key].first))})"]


@pytest.mark.parametrize(
    ("key", "version", "accepted"),
    [
        ("authHTTPExclude", (1, 9, 0), True),
        ("authHTTPExclude", (1, 20, 1), True),
        ("protocols", (1, 9, 0), True),
        ("protocols", (1, 20, 1), True),  # deprecated, still accepted
        ("rtspTransports", (1, 10, 0), False),
        ("rtspTransports", (1, 11, 0), True),
        ("authMethods", (1, 9, 0), True),
        ("rtspAuthMethods", (1, 9, 0), False),  # boundary unverified: conservative
        ("rtspAuthMethods", (1, 9, 1), True),
        ("apiAllowOrigin", (1, 20, 1), True),
        ("apiAllowOrigins", (1, 15, 5), False),
        ("apiAllowOrigins", (1, 16, 0), True),
        ("moq", (1, 18, 2), False),  # measured: v1.18.2 refuses it
        ("moq", (1, 19, 0), True),
        ("moqHTTPS2Address", (1, 19, 0), True),
        ("moqHTTP2Address", (1, 19, 2), False),  # the rename's release is not pinned
        ("moqHTTP2Address", (1, 19, 3), True),
        ("moqQUICAddress", (1, 19, 3), False),
        ("moqQUICAddress", (1, 20, 0), True),
        ("pathDefaults", (1, 9, 0), True),
    ],
)
def test_global_keys_per_version(key: str, version: Version, accepted: bool) -> None:
    assert (key in allowed_global_keys(version)) is accepted


@pytest.mark.parametrize(
    ("key", "replaced_by"),
    [
        ("runOnReady", "runOnAvailable"),
        ("runOnNotReady", "runOnUnavailable"),
        ("sourceProtocol", "rtspTransport"),
    ],
)
def test_renamed_path_keys_are_marked_deprecated(key: str, replaced_by: str) -> None:
    assert PATH_KEYS[key].deprecated is not None
    assert PATH_KEYS[key].replaced_by == replaced_by
    assert PATH_KEYS[replaced_by].deprecated is None


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ((1, 9, 0), ("runOnReady", "runOnNotReady")),
        ((1, 19, 2), ("runOnReady", "runOnNotReady")),
        ((1, 19, 3), ("runOnAvailable", "runOnUnavailable")),
        (None, ("runOnAvailable", "runOnUnavailable")),
    ],
)
def test_availability_hook_keys(version: Version | None, expected: tuple[str, str]) -> None:
    assert availability_hook_keys(version) == expected
    assert set(expected) <= allowed_path_keys(version)


@pytest.mark.parametrize(
    ("version", "expected"),
    [((1, 9, 0), ("api", "metrics", "pprof")), ((1, 20, 0), ("api", "metrics", "pprof")),
     ((1, 20, 1), ()), (None, ())],
)
def test_auth_http_exclude_default_changed_in_1_20_1(
    version: Version | None, expected: tuple[str, ...]
) -> None:
    assert auth_http_exclude_default(version) == expected


def test_no_key_disappears_between_supported_versions() -> None:
    """MediaMTX keeps deprecated keys; the tables must not drop one by accident."""
    assert allowed_global_keys(OLDEST_SUPPORTED) <= allowed_global_keys(LATEST_SUPPORTED)
    assert allowed_path_keys(OLDEST_SUPPORTED) <= allowed_path_keys(LATEST_SUPPORTED)
    assert allowed_global_keys(None) == frozenset(GLOBAL_KEYS)
    assert allowed_path_keys(None) == frozenset(PATH_KEYS)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("cam1", None),
        ("site/cam-1_main", None),
        ("cam.main", None),
        ("all_others", None),
        ("~^cam[0-9]+$", None),  # regular expression path
        ("~^(.+)/(sub|main)$", None),
        ("", "cannot be empty"),
        ("/cam1", "cannot begin with a slash"),
        ("cam1/", "cannot end with a slash"),
        ("cam 1", "can contain only alphanumeric characters, underscore, dot, minus and slash"),
        ("cam:1", "can contain only alphanumeric characters, underscore, dot, minus and slash"),
        ("cäm", "can contain only alphanumeric characters, underscore, dot, minus and slash"),
        ("a/../b", "cannot contain '.' or '..' segments"),
        ("./cam", "cannot contain '.' or '..' segments"),
        ("cam/.", "cannot contain '.' or '..' segments"),
        ("..", "cannot contain '.' or '..' segments"),
    ],
)
def test_path_names(name: str, problem: str | None) -> None:
    assert path_name_problem(name) == problem
    problems = validate_mediamtx_document({"paths": {name: None}}, None)
    assert problems == ([] if problem is None else [f"paths.{name}: invalid path name: {problem}"])


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"logLevel": "verbose"},
         "logLevel: invalid value 'verbose' (expected one of: debug, error, info, warn)"),
        ({"authMethod": "ldap"},
         "authMethod: invalid value 'ldap' (expected one of: http, internal, jwt)"),
        ({"logDestinations": ["stdout", "journald"]},
         "logDestinations[1]: invalid value 'journald' (expected one of: file, stdout, syslog)"),
        ({"logDestinations": "stdout"}, "logDestinations: must be a list (got str)"),
        ({"rtspAuthMethods": ["basic", "ntlm"]},
         "rtspAuthMethods[1]: invalid value 'ntlm' (expected one of: basic, digest)"),
        ({"rtspTransports": ["tcp", "automatic"]},
         "rtspTransports[1]: invalid value 'automatic' (expected one of: multicast, tcp, udp)"),
        ({"rtspEncryption": False},  # an unquoted YAML `no`
         "rtspEncryption: invalid value False (expected one of: no, optional, strict)"),
        ({"paths": {"cam1": {"rtspTransport": "quic"}}},
         "paths.cam1.rtspTransport: invalid value 'quic' "
         "(expected one of: automatic, multicast, tcp, udp)"),
        ({"pathDefaults": {"sourceProtocol": "TCP"}},
         "pathDefaults.sourceProtocol: invalid value 'TCP' "
         "(expected one of: automatic, multicast, tcp, udp)"),
        ({"authHTTPExclude": [{"action": "admin"}]},
         "authHTTPExclude[0].action: invalid value 'admin' "
         "(expected one of: api, metrics, playback, pprof, publish, read)"),
        ({"authJWTExclude": [{"action": "pprof", "protocol": "hls"}]},
         "authJWTExclude[0].protocol: unknown key for MediaMTX v1.20.1"),
        ({"authHTTPExclude": [{"action": "api", "ips": ["127.0.0.1"]}]},
         "authHTTPExclude[0].ips: unknown key for MediaMTX v1.20.1"),
        ({"authHTTPExclude": ["api"]}, "authHTTPExclude[0]: must be a mapping (got str)"),
        ({"authInternalUsers": [{"user": "vmsd", "password": "x"}]},
         "authInternalUsers[0].password: unknown key for MediaMTX v1.20.1"),
        ({"authInternalUsers": [{"user": "vmsd", "permissions": [{"action": "write"}]}]},
         "authInternalUsers[0].permissions[0].action: invalid value 'write' "
         "(expected one of: api, metrics, playback, pprof, publish, read)"),
        ({"authInternalUsers": [{"user": "vmsd", "permissions": [{"action": "read",
                                                                  "paths": "cam1"}]}]},
         "authInternalUsers[0].permissions[0].paths: unknown key for MediaMTX v1.20.1"),
        ({"paths": {"cam1": "rtsp://cam"}}, "paths.cam1: must be a mapping (got str)"),
        ({"paths": ["cam1"]}, "paths: must be a mapping (got list)"),
        ({1: True}, "1: key must be a string"),
    ],
)
def test_bad_values_are_rejected(doc: dict[Any, Any], expected: str) -> None:
    assert validate_mediamtx_document(doc, None) == [expected]


def _realistic_document(hooks: tuple[str, str], rtsp_keys: dict[str, Any]) -> dict[str, Any]:
    available, unavailable = hooks
    return {
        "logLevel": "info",
        "logDestinations": ["stdout"],
        "readTimeout": "10s",
        "writeTimeout": "10s",
        "writeQueueSize": 512,
        "authMethod": "http",
        "authHTTPAddress": "http://127.0.0.1:9000/mediamtx/auth",
        "authHTTPExclude": [],
        "authInternalUsers": [
            {"user": "any", "pass": "", "ips": ["127.0.0.1", "::1"],
             "permissions": [{"action": "api"}, {"action": "metrics", "path": ""}]},
        ],
        "api": True, "apiAddress": "127.0.0.1:9997",
        "metrics": True, "metricsAddress": "127.0.0.1:9998",
        "pprof": False, "playback": False,
        "rtsp": True, "rtspAddress": ":8554",
        **rtsp_keys,
        "rtmp": False, "hls": True, "hlsAddress": ":8888",
        "webrtc": True, "webrtcAddress": ":8889", "srt": False,
        "pathDefaults": {"record": False, "sourceOnDemand": False, "maxReaders": 0},
        "paths": {
            "cam1": {
                "source": "rtsp://user:secret@192.0.2.10:554/stream1",
                "rtspTransport": "tcp",
                "sourceOnDemand": False,
                available: "/usr/lib/vmsd/hook available",
                unavailable: "/usr/lib/vmsd/hook unavailable",
            },
            "site-a/cam.2": {"source": "publisher", "maxReaders": 10},
            "~^sub/(.+)$": {"source": "publisher"},
            "all_others": None,
        },
    }


@pytest.mark.parametrize(
    ("version", "rtsp_keys"),
    [
        ((1, 20, 1), {"rtspTransports": ["tcp"], "rtspAuthMethods": ["basic"], "moq": False}),
        (None, {"rtspTransports": ["tcp"], "rtspAuthMethods": ["basic"], "moq": False}),
        ((1, 19, 3), {"rtspTransports": ["udp", "tcp"], "rtspAuthMethods": ["basic"]}),
        ((1, 14, 0), {"rtspTransports": ["tcp"], "rtspAuthMethods": ["basic"]}),
        ((1, 9, 0), {"protocols": ["tcp"], "authMethods": ["basic"]}),
    ],
)
def test_realistic_document_is_accepted(version: Version | None, rtsp_keys: dict[str, Any]) -> None:
    doc = _realistic_document(availability_hook_keys(version), rtsp_keys)
    assert validate_mediamtx_document(doc, version) == []


def test_latest_document_on_old_release_lists_every_problem() -> None:
    doc = _realistic_document(availability_hook_keys(None),
                              {"rtspTransports": ["tcp"], "rtspAuthMethods": ["basic"]})
    assert validate_mediamtx_document(doc, (1, 9, 0)) == [
        "rtspTransports: not accepted by MediaMTX v1.9.0 (first accepted in v1.11.0)",
        "rtspAuthMethods: not accepted by MediaMTX v1.9.0 (first accepted in v1.9.1)",
        "paths.cam1.runOnAvailable: not accepted by MediaMTX v1.9.0 (first accepted in v1.19.3)",
        "paths.cam1.runOnUnavailable: not accepted by MediaMTX v1.9.0 "
        "(first accepted in v1.19.3)",
    ]


def test_newer_release_is_checked_as_the_latest_supported() -> None:
    assert allowed_path_keys((1, 21, 0)) == allowed_path_keys(LATEST_SUPPORTED)
    assert validate_mediamtx_document({"nope": 1}, (2, 0, 0)) == [
        "nope: unknown key for MediaMTX v1.20.1"
    ]


def test_release_older_than_supported_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"v1\.8\.5 is older than .* v1\.9\.0"):
        validate_mediamtx_document({}, (1, 8, 5))
    with pytest.raises(ValueError, match="older than"):
        allowed_global_keys((0, 0, 0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v1.20.1", (1, 20, 1)),
        ("v1.20.1\n", (1, 20, 1)),
        ("1.9.0", (1, 9, 0)),
        ("MediaMTX v1.19.3", (1, 19, 3)),
        ("v1.21.0-rc1", (1, 21, 0)),
        ("v0.0.0", (0, 0, 0)),  # development build
        ("v10.2.33", (10, 2, 33)),
        ("", None),
        ("v1.20", None),
        ("unknown", None),
        ("1.2.3.4", None),
        ("MediaMTX v1.20.1.", (1, 20, 1)),
    ],
)
def test_parse_mediamtx_version(text: str, expected: Version | None) -> None:
    assert parse_mediamtx_version(text) == expected
