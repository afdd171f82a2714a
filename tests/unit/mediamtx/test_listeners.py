"""Rendered MediaMTX listeners are exactly the ones asked for, for every supported release.

Every version boundary of keys.py is walked: each server the release has is either off or has
an explicit address for every socket it opens, and no key the release refuses is written.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.paths import REPO_ROOT
from vmsd.cameras.model import camera_from_config
from vmsd.config.cameras import CameraConfig
from vmsd.config.schema import Config
from vmsd.core.errors import ConfigError
from vmsd.mediamtx.controller import build_render_settings, hook_generation, load_base
from vmsd.mediamtx.keys import GLOBAL_KEYS, LATEST_SUPPORTED, OLDEST_SUPPORTED, PATH_KEYS
from vmsd.mediamtx.listeners import (
    SERVERS,
    OpenListener,
    bind_listeners,
    listener_keys,
    listener_version,
    open_listeners,
)
from vmsd.mediamtx.render import render_mediamtx_config
from vmsd.mediamtx.schema import Version, validate_mediamtx_document

BASE_FILE = REPO_ROOT / "mediamtx.yml"
RTSP_PORT, API_PORT, METRICS_PORT = 18554, 19997, 19998
# Every server with a listener, as MediaMTX's conf.go names its switch.
SERVER_NAMES = ("rtsp", "rtmp", "hls", "webrtc", "srt", "moq", "api", "metrics", "pprof",
                "playback")


def _boundaries() -> list[Version]:
    spans = [*GLOBAL_KEYS.values(), *PATH_KEYS.values()]
    found = {OLDEST_SUPPORTED, LATEST_SUPPORTED, (1, 18, 2)}  # v1.18.2: measured, refuses moq
    for span in spans:
        found.update(v for v in (span.first, span.last, span.deprecated) if v is not None)
    return sorted(v for v in found if OLDEST_SUPPORTED <= v <= LATEST_SUPPORTED)


VERSIONS = _boundaries()


def accepted(key: str, version: Version) -> bool:
    return key in GLOBAL_KEYS and GLOBAL_KEYS[key].accepted_in(version)


def for_release(doc: dict[str, Any], version: Version) -> dict[str, Any]:
    """`doc` with each key the release does not have under the name it had then (the
    shipped base uses rtspTransports, which v1.9.0 called protocols)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in GLOBAL_KEYS and not accepted(key, version):
            older = [k for k, s in GLOBAL_KEYS.items()
                     if s.replaced_by == key and s.accepted_in(version)]
            assert older, f"{key}: no name for it in {version}"
            key = older[0]
        out[key] = value
    return out


def config(live_view: bool = False) -> Config:
    return Config.model_validate(
        {
            "state_dir": "/var/lib/vmsd",
            "mediamtx": {
                "mode": "external",
                "base_config": str(BASE_FILE),
                "rtsp_port": RTSP_PORT,
                "api_port": API_PORT,
                "metrics_port": METRICS_PORT,
            },
            # The base's servers alone; test_the_live_view_adds_webrtc_as_configured has it on.
            "console": {"live_view": live_view},
        }
    )


CAMERA = camera_from_config(
    CameraConfig.model_validate({"name": "cam", "source": "rtsp://10.0.0.1/x"}), "config"
)


def render(
    base: dict[str, Any], version: Version | None, live_view: bool = False
) -> dict[str, Any]:
    cfg = config(live_view)
    settings = build_render_settings(
        cfg, "s" * 43, hook_generation(cfg, version), "/usr/bin/ffmpeg", mediamtx_version=version
    )
    return render_mediamtx_config(base, [CAMERA], settings)


def shipped_base(version: Version) -> dict[str, Any]:
    return for_release(load_base(BASE_FILE), version)


def servers_on_without_addresses(version: Version) -> dict[str, Any]:
    """The shipped base with every server turned on and no address besides vmsd's own, UDP
    among the RTSP transports and both encryption modes "optional" (every companion socket)."""
    base = load_base(BASE_FILE)
    for key in [k for k in base if k.endswith("Address")]:
        del base[key]
    base.update({s: True for s in SERVER_NAMES if accepted(s, version)})
    base.update({"rtspTransports": ["udp", "tcp"], "rtspEncryption": "optional",
                 "rtmpEncryption": "optional"})
    return for_release(base, version)


def expected_addresses(version: Version) -> dict[str, str]:
    """Written out by hand from MediaMTX's defaults (conf.go setDefaults), on loopback."""
    lo = "127.0.0.1"
    expected = {
        "rtspAddress": f"{lo}:{RTSP_PORT}", "rtspsAddress": f"{lo}:8322",
        "rtpAddress": f"{lo}:8000", "rtcpAddress": f"{lo}:8001",
        "rtmpAddress": f"{lo}:1935", "rtmpsAddress": f"{lo}:1936",
        "hlsAddress": f"{lo}:8888",
        "webrtcAddress": f"{lo}:8889", "webrtcLocalUDPAddress": f"{lo}:8189",
        "srtAddress": f"{lo}:8890",
        "apiAddress": f"{lo}:{API_PORT}", "metricsAddress": f"{lo}:{METRICS_PORT}",
        "pprofAddress": f"{lo}:9999", "playbackAddress": f"{lo}:9996",
    }
    if version >= (1, 13, 0):
        expected.update({"srtpAddress": f"{lo}:8004", "srtcpAddress": f"{lo}:8005"})
    if (1, 19, 0) <= version < (1, 19, 3):  # before PR #5841 renamed them
        expected.update({"moqHTTPS2Address": f"{lo}:8892", "moqHTTPS3Address": f"{lo}:8892"})
    elif version >= (1, 19, 3):
        expected.update({"moqHTTP2Address": f"{lo}:8892", "moqHTTP3Address": f"{lo}:8892"})
    if version >= (1, 20, 0):
        expected["moqQUICAddress"] = f"{lo}:8893"
    return expected


def check_every_server_off_or_bound(doc: dict[str, Any], version: Version) -> None:
    known = [s for s in SERVER_NAMES if accepted(s, version)]
    for server in known:
        assert isinstance(doc.get(server), bool), (server, version)
    unbound = [o for o in open_listeners(doc, version) if not o.explicit]
    assert unbound == [], version
    assert validate_mediamtx_document(doc, version) == [], version


def test_the_walk_covers_the_moq_boundaries() -> None:
    assert {(1, 9, 0), (1, 18, 2), (1, 19, 0), (1, 19, 3), (1, 20, 0), (1, 20, 1)} <= set(VERSIONS)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "v{}.{}.{}".format(*v))
def test_shipped_base_every_server_off_or_bound(version: Version) -> None:
    base = shipped_base(version)
    doc = render(base, version)
    check_every_server_off_or_bound(doc, version)
    assert [o.server for o in open_listeners(doc, version)] == ["rtsp", "api", "metrics"]
    for server in ("rtmp", "hls", "webrtc", "srt", "pprof", "playback"):
        assert doc[server] is False
    if version < (1, 19, 0):
        assert not [k for k in doc if k.lower().startswith("moq")], version
    else:
        assert doc["moq"] is False  # on by default since v1.19.0
        assert not [k for k in doc if k.startswith("moq") and k != "moq"]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "v{}.{}.{}".format(*v))
def test_servers_turned_on_without_addresses_get_loopback(version: Version) -> None:
    doc = render(servers_on_without_addresses(version), version)
    check_every_server_off_or_bound(doc, version)
    addresses = {k: v for k, v in doc.items() if k.endswith("Address") and k != "authHTTPAddress"}
    assert addresses == expected_addresses(version)
    assert "webrtcLocalTCPAddress" not in doc  # off by default: stays off


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: "v{}.{}.{}".format(*v))
def test_the_live_view_adds_webrtc_as_configured(version: Version) -> None:
    """console.live_view (on by default): the WHEP listener on loopback, ICE UDP on every
    interface (browsers send media there), the TCP one off."""
    doc = render(shipped_base(version), version, live_view=True)
    check_every_server_off_or_bound(doc, version)
    assert [(o.server, o.key, o.address) for o in open_listeners(doc, version)] == [
        ("rtsp", "rtspAddress", f"127.0.0.1:{RTSP_PORT}"),
        ("webrtc", "webrtcAddress", "127.0.0.1:8889"),
        ("webrtc", "webrtcLocalUDPAddress", ":8189"),
        ("api", "apiAddress", f"127.0.0.1:{API_PORT}"),
        ("metrics", "metricsAddress", f"127.0.0.1:{METRICS_PORT}"),
    ]


def test_v1_18_2_gets_no_moq_key_and_v1_20_0_gets_moq_false() -> None:
    old = render(shipped_base((1, 18, 2)), (1, 18, 2))
    assert not [k for k in old if "moq" in k.lower()]
    new = render(shipped_base((1, 20, 0)), (1, 20, 0))
    assert new["moq"] is False
    # Why it matters: told nothing, v1.20.0 opens MoQ on every interface.
    without = {k: v for k, v in new.items() if k != "moq"}
    assert [o for o in open_listeners(without, (1, 20, 0)) if not o.explicit] == [
        OpenListener("moq", "moqHTTP2Address", ":8892", False, (1, 19, 0)),
        OpenListener("moq", "moqHTTP3Address", ":8892", False, (1, 19, 0)),
        OpenListener("moq", "moqQUICAddress", ":8893", False, (1, 20, 0)),
    ]


def test_unknown_version_renders_the_oldest_supported_keys() -> None:
    base = load_base(BASE_FILE)
    doc = render(base, None)
    assert doc == render(base, OLDEST_SUPPORTED)
    assert listener_version(None) == OLDEST_SUPPORTED
    assert listener_keys(None) == listener_keys(OLDEST_SUPPORTED)
    assert not [k for k in doc if "moq" in k.lower() or k.startswith("srtp")]
    # Accepted by every release the shipped base works with (rtspTransports: v1.11.0).
    for version in [v for v in VERSIONS if v >= (1, 11, 0)]:
        assert validate_mediamtx_document(doc, version) == [], version
    # The risk the doctor reports: a MoQ release opens it on every interface.
    assert {o.server for o in open_listeners(doc, LATEST_SUPPORTED) if not o.explicit} == {"moq"}


def test_unknown_version_keeps_an_operators_moq_no() -> None:
    base = {**load_base(BASE_FILE), "moq": False}
    doc = render(base, None)
    assert doc["moq"] is False
    assert [o for o in open_listeners(doc, LATEST_SUPPORTED) if not o.explicit] == []


def test_a_newer_release_is_rendered_with_the_newest_known_keys() -> None:
    assert listener_version((2, 0, 0)) == LATEST_SUPPORTED
    assert listener_version((1, 8, 0)) == OLDEST_SUPPORTED
    assert render(load_base(BASE_FILE), (2, 0, 0))["moq"] is False


def test_listener_keys_change_where_the_rendered_file_can() -> None:
    assert "moq" not in listener_keys((1, 18, 2))
    assert {"moq", "moqHTTPS2Address", "moqHTTPS3Address"} <= listener_keys((1, 19, 0))
    assert "moqHTTP2Address" in listener_keys((1, 19, 3))
    assert "moqHTTPS2Address" not in listener_keys((1, 19, 3))  # the old name is not written
    assert "moqQUICAddress" in listener_keys((1, 20, 0)) - listener_keys((1, 19, 3))
    assert listener_keys((1, 20, 0)) == listener_keys((1, 20, 1))


# ---------------------------------------------------------------------------------------------
# The rule on hand-made documents


V = LATEST_SUPPORTED


def test_explicit_addresses_stay_including_every_interface() -> None:
    doc = bind_listeners({"hls": True, "hlsAddress": ":8888", "webrtc": True,
                          "webrtcAddress": "10.0.0.2:8889"}, V)
    assert doc["hlsAddress"] == ":8888"  # the operator's ask
    assert doc["webrtcAddress"] == "10.0.0.2:8889"
    # A companion socket listens where its server was asked to.
    assert doc["webrtcLocalUDPAddress"] == "10.0.0.2:8189"


@pytest.mark.parametrize(
    ("rtsp_address", "rtp_address"),
    [("[::1]:8554", "[::1]:8000"), (":8554", ":8000"), ("192.168.1.10:554", "192.168.1.10:8000")],
)
def test_rtsp_udp_sockets_follow_the_rtsp_host(rtsp_address: str, rtp_address: str) -> None:
    doc = bind_listeners({"rtsp": True, "rtspAddress": rtsp_address}, V)
    assert doc["rtpAddress"] == rtp_address  # rtspTransports default: udp, multicast, tcp
    assert doc["rtcpAddress"].rsplit(":", 1) == [rtp_address.rsplit(":", 1)[0], "8001"]
    assert "rtspsAddress" not in doc and "srtpAddress" not in doc  # encryption default: no


@pytest.mark.parametrize(
    ("settings", "opened"),
    [
        ({"rtspTransports": ["tcp"]}, ["rtspAddress"]),
        ({"rtspEncryption": "strict", "rtspTransports": ["tcp"]}, ["rtspsAddress"]),
        ({"rtspEncryption": "strict"}, ["rtspsAddress", "srtpAddress", "srtcpAddress"]),
        ({"rtspEncryption": "optional", "rtspTransports": ["udp"]},
         ["rtspAddress", "rtspsAddress", "rtpAddress", "rtcpAddress", "srtpAddress",
          "srtcpAddress"]),
        # Deprecated names, when present, win over the new ones (conf.go Validate).
        ({"encryption": "strict", "rtspEncryption": "no", "protocols": ["tcp"],
          "rtspTransports": ["udp"]}, ["rtspsAddress"]),
    ],
)
def test_rtsp_sockets_follow_encryption_and_transports(
    settings: dict[str, Any], opened: list[str]
) -> None:
    doc = {"rtsp": True, "rtspAddress": "127.0.0.1:8554", **settings}
    assert [o.key for o in open_listeners(doc, V) if o.server == "rtsp"] == opened
    bound = bind_listeners(doc, V)
    assert [o for o in open_listeners(bound, V) if not o.explicit] == []
    assert {k for k in bound if k.endswith("Address")} == {"rtspAddress", *opened}


def test_rtmp_sockets_follow_rtmp_encryption() -> None:
    def rtmp(mode: str) -> list[str]:
        doc = bind_listeners({"rtmp": True, "rtmpEncryption": mode}, V)
        return [k for k in ("rtmpAddress", "rtmpsAddress") if k in doc]

    assert rtmp("no") == ["rtmpAddress"]
    assert rtmp("strict") == ["rtmpsAddress"]
    assert rtmp("optional") == ["rtmpAddress", "rtmpsAddress"]


@pytest.mark.parametrize(
    ("switches", "on"),
    [
        ({}, False),  # MediaMTX would turn HLS on; nobody asked
        ({"hls": None}, False),  # YAML `hls:` is null: MediaMTX's default, so the same
        ({"hls": True}, True),
        ({"hls": False}, False),
        ({"hlsDisable": False}, True),
        ({"hlsDisable": False, "hls": False}, True),  # the deprecated switch wins
        ({"hlsDisable": True, "hls": True}, False),
    ],
)
def test_a_server_is_on_only_when_asked(switches: dict[str, Any], on: bool) -> None:
    doc = bind_listeners(switches, V)
    assert doc["hls"] is on
    assert ("hlsAddress" in doc) is on
    assert [o.server for o in open_listeners(doc, V) if o.server == "hls"] == (
        ["hls"] if on else []
    )


def test_deprecated_address_names_win_and_are_not_doubled() -> None:
    doc = bind_listeners({"webrtc": True, "webrtcICEUDPMuxAddress": "10.0.0.3:8189",
                          "moq": True, "moqHTTPS2Address": "10.0.0.3:8892"}, V)
    assert "webrtcLocalUDPAddress" not in doc
    assert "moqHTTP2Address" not in doc
    assert doc["moqHTTP3Address"] == "10.0.0.3:8892"  # the host of the server's first one
    opened = {o.key: o.address for o in open_listeners(doc, V)}
    assert opened["webrtcICEUDPMuxAddress"] == "10.0.0.3:8189"
    assert opened["moqHTTPS2Address"] == "10.0.0.3:8892"


def test_an_empty_ice_address_is_off_not_every_interface() -> None:
    doc = bind_listeners({"webrtc": True, "webrtcLocalUDPAddress": "",
                          "webrtcICEServers2": [{"url": "stun:stun.example:3478"}]}, V)
    assert doc["webrtcLocalUDPAddress"] == ""
    assert [o.key for o in open_listeners(doc, V) if o.server == "webrtc"] == ["webrtcAddress"]
    tcp = bind_listeners({"webrtc": True, "webrtcLocalTCPAddress": ":8189"}, V)
    assert {o.key: o.address for o in open_listeners(tcp, V)}["webrtcLocalTCPAddress"] == ":8189"


@pytest.mark.parametrize("address", ["8888", "", 8888])
def test_an_address_without_a_port_is_refused(address: object) -> None:
    with pytest.raises(ConfigError, match="invalid listener address") as caught:
        bind_listeners({"hls": True, "hlsAddress": address}, V)
    assert caught.value.details[0].startswith("hlsAddress: must be host:port")


def test_an_address_of_a_server_left_off_is_not_checked() -> None:
    assert bind_listeners({"hls": False, "hlsAddress": "bogus"}, V)["hlsAddress"] == "bogus"


def test_the_document_is_not_modified() -> None:
    doc = {"hls": True, "paths": {"a": {"source": "publisher"}}}
    before = copy.deepcopy(doc)
    bound = bind_listeners(doc, V)
    assert doc == before and bound is not doc and bound["paths"] == doc["paths"]


def test_open_listeners_with_mediamtx_defaults() -> None:
    """What MediaMTX opens for an empty file: every default-on server, every interface."""
    assert [(o.server, o.key, o.address) for o in open_listeners({}, V)] == [
        ("rtsp", "rtspAddress", ":8554"), ("rtsp", "rtpAddress", ":8000"),
        ("rtsp", "rtcpAddress", ":8001"), ("rtmp", "rtmpAddress", ":1935"),
        ("hls", "hlsAddress", ":8888"), ("webrtc", "webrtcAddress", ":8889"),
        ("webrtc", "webrtcLocalUDPAddress", ":8189"), ("srt", "srtAddress", ":8890"),
        ("moq", "moqHTTP2Address", ":8892"), ("moq", "moqHTTP3Address", ":8892"),
        ("moq", "moqQUICAddress", ":8893"),
    ]
    assert not any(o.explicit for o in open_listeners({}, V))
    assert "moq" not in {o.server for o in open_listeners({}, (1, 18, 2))}


# ---------------------------------------------------------------------------------------------
# The table against keys.py


def test_every_listener_key_of_keys_py_is_in_the_table() -> None:
    in_table = {s.name for s in SERVERS} | {s.disable_key for s in SERVERS if s.disable_key}
    for server in SERVERS:
        for listener in server.listeners:
            in_table.update((listener.key, *listener.aliases))
    address_keys = {k for k in GLOBAL_KEYS if k.endswith("Address") and k != "authHTTPAddress"}
    assert address_keys - in_table == set()
    assert {s.name for s in SERVERS} == set(SERVER_NAMES)
    assert in_table - set(GLOBAL_KEYS) == set()


def test_every_deprecated_name_of_a_table_key_is_read() -> None:
    """A renamed switch or address the base may still use is one the rule reads."""
    by_key = {listener.key: listener for s in SERVERS for listener in s.listeners}
    for key, span in GLOBAL_KEYS.items():
        if span.replaced_by in by_key:
            assert key in by_key[span.replaced_by].aliases, key
        if span.replaced_by in {s.name for s in SERVERS}:
            assert key == f"{span.replaced_by}Disable"
            assert next(s for s in SERVERS if s.name == span.replaced_by).disable_key == key


def test_binding_a_rendered_file_again_changes_nothing() -> None:
    """Binding is idempotent: a rendered file rendered again is the same file."""
    doc = render(load_base(BASE_FILE), V)
    again = bind_listeners(doc, V)
    assert again == doc
