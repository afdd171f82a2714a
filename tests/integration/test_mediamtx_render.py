"""Rendering mediamtx.yml: golden files, properties MediaMTX depends on, and a real FFmpeg run of
the synthetic publisher command.

Golden files live in tests/golden/mediamtx/. After an intended change to the rendered output,
regenerate them with

    VMSD_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/integration/test_mediamtx_render.py

and review the diff: every line of it is a change MediaMTX will see.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import imageio_ffmpeg
import pytest
import yaml
from pydantic import ValidationError

from tests.net import free_port
from tests.paths import REPO_ROOT, TESTS_DIR
from vmsd.access.derive import synthetic_publish_password
from vmsd.cameras.model import Camera, camera_from_config
from vmsd.config.cameras import CameraConfig, RtspTransport
from vmsd.config.mediamtx import HookNames, MediaMtxMode
from vmsd.config.schema import Config
from vmsd.core.errors import ConfigError
from vmsd.mediamtx.controller import (
    build_render_settings,
    effective_mode,
    hook_generation,
    hooks_base_url,
    load_base,
    render_document,
    vmsd_command,
)
from vmsd.mediamtx.keys import GLOBAL_KEYS
from vmsd.mediamtx.render import (
    HookGeneration,
    RenderSettings,
    dump_mediamtx_yaml,
    hook_generation_for,
    render_mediamtx_config,
    render_path,
    synthetic_publisher_command,
)
from vmsd.mediamtx.schema import Version, validate_mediamtx_document
from vmsd.mediamtx.webrtc import WEBRTC_KEYS, webrtc_listener

BASE_FILE = REPO_ROOT / "mediamtx.yml"
GOLDEN_DIR = TESTS_DIR / "golden" / "mediamtx"
UPDATE_GOLDEN = os.environ.get("VMSD_UPDATE_GOLDEN") == "1"

HOOK_SECRET = "hs_T3stS3cret-not-a-real-one_0123456789abcd"
STATE_DIR = Path("/var/lib/vmsd")
HOOK_SECRET_FILE = "/var/lib/vmsd/hook.secret"
HOOK_COMMAND = ("/usr/bin/vmsd", "hook")
PUBLISHER_COMMAND = ("/usr/bin/vmsd", "synthetic-publish")
FFMPEG = "/usr/bin/ffmpeg"
RTSP_PORT = 18554
API_PORT = 19997
METRICS_PORT = 19998
HOOKS_PORT = 18481
HOOKS_URL = f"http://127.0.0.1:{HOOKS_PORT}/hooks/mediamtx"

# Shell syntax MediaMTX would not interpret (it splits with quoting rules and execs directly):
# none of it may appear unquoted, and `$` not at all (MediaMTX substitutes $MTX_* / $RTSP_PORT
# by plain string replacement before splitting, quotes or not).
SHELL_META = frozenset("|&;<>()$`\\\"'*?[]{}#~!\t\n")


def make_camera(managed_by: str = "config", **fields: Any) -> Camera:
    """A camera the way the registry holds it: validated by CameraConfig first."""
    return camera_from_config(CameraConfig.model_validate(fields), managed_by)


# name -> (camera fields). Credentials with characters that need percent-encoding in a URL
# and quoting in a shell / YAML.
CAMERA_FIELDS: dict[str, dict[str, Any]] = {
    "front-door": {
        "source": "rtsp://10.0.0.11:554/Streaming/Channels/101",
        "username": "admin",
        "password": "p@ss:w/rd",
    },
    "garage": {
        "source": "rtsp://10.0.0.12/live",
        "rtsp_transport": "udp",
        "record": False,
    },
    "lobby": {
        "source": "rtsps://cam3.example.lan:322/stream",
        "username": "lobby user",
        "password": "it's \"quoted\" #1%",
    },
    "parking": {
        "source": "https://10.0.0.14/hls/index.m3u8",
        "username": "hls",
        "password": "h$ls&pw?",
        "record": False,
    },
    "yard": {"source": "srt://10.0.0.15:9000?streamid=read:yard"},
    "multicast": {"source": "udp+mpegts://239.0.0.1:1234"},
    "doorbell": {
        "source": "publisher",
        "username": "doorbell-pub",
        "password": "pub-S3cret!",
    },
    "old-cam": {
        "source": "rtsp://10.0.0.99/old",
        "username": "olduser",
        "password": "old-P4ss",
        "enabled": False,
    },
    "synthetic": {"source": "test://?size=320x240&fps=10"},
}
PULL_CAMERAS = {"front-door", "garage", "lobby", "parking", "yard", "multicast"}
RTSP_CAMERAS = {"front-door", "garage", "lobby"}


def fleet() -> list[Camera]:
    # Deliberately not sorted: rendering must not depend on registry order.
    return [make_camera(name=name, **fields) for name, fields in reversed(CAMERA_FIELDS.items())]


def fixed_settings(
    generation: HookGeneration = HookGeneration.AVAILABLE, **changes: Any
) -> RenderSettings:
    settings = RenderSettings(
        rtsp_port=RTSP_PORT,
        api_port=API_PORT,
        metrics_port=METRICS_PORT,
        hooks_base_url=HOOKS_URL,
        hook_secret=HOOK_SECRET,
        hook_secret_file=HOOK_SECRET_FILE,
        hook_command=HOOK_COMMAND,
        hook_generation=generation,
        ffmpeg_binary=FFMPEG,
        publisher_command=PUBLISHER_COMMAND,
    )
    return dataclasses.replace(settings, **changes)


def vmsd_config(hook_names: HookNames = HookNames.AUTO) -> Config:
    return Config.model_validate(
        {
            "state_dir": str(STATE_DIR),
            "mediamtx": {
                "mode": "external",
                "base_config": str(BASE_FILE),
                "config_path": "/var/lib/vmsd/mediamtx.yml",
                "rtsp_port": RTSP_PORT,
                "api_port": API_PORT,
                "metrics_port": METRICS_PORT,
                "hooks_host": "0.0.0.0",  # noqa: S104 - a wildcard bind maps to loopback
                "hooks_port": HOOKS_PORT,
                "hook_names": hook_names.value,
            },
            # The goldens above are the live view off; test_golden_live_view has it on.
            "console": {"live_view": False},
        }
    )


def base() -> dict[str, Any]:
    return load_base(BASE_FILE)


def render(
    cameras: Sequence[Camera] | None = None,
    settings: RenderSettings | None = None,
    base_doc: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return render_mediamtx_config(
        base() if base_doc is None else base_doc,
        fleet() if cameras is None else cameras,
        settings or fixed_settings(),
    )


# ---------------------------------------------------------------------------------------------
# Golden files


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"{golden} missing: run with VMSD_UPDATE_GOLDEN=1 to create it"
    assert text == golden.read_text(encoding="utf-8"), (
        f"rendered output differs from {golden}; if intended, regenerate with "
        "VMSD_UPDATE_GOLDEN=1 and review the diff"
    )


# golden name, generation, versions whose key tables the document must pass
EXPLICIT_GOLDENS: list[tuple[str, HookGeneration, list[Version | None]]] = [
    # The shipped base uses rtspTransports/rtspEncryption: v1.11.0 is the oldest it works with.
    ("ready.yml", HookGeneration.READY, [(1, 11, 0), (1, 14, 0), (1, 17, 0), (1, 19, 2)]),
    ("available.yml", HookGeneration.AVAILABLE, [(1, 19, 3), (1, 20, 1)]),
]


@pytest.mark.parametrize(("golden", "generation", "versions"), EXPLICIT_GOLDENS)
def test_golden_explicit_generation(
    golden: str, generation: HookGeneration, versions: list[Version | None]
) -> None:
    doc = render(settings=fixed_settings(generation))
    text = dump_mediamtx_yaml(doc, "mediamtx.yml")
    check_golden(golden, text)
    parsed = yaml.safe_load(text)
    assert parsed == doc  # the text says exactly what the document says
    for version in versions:
        assert validate_mediamtx_document(parsed, version) == [], version


# auto hook names: the generation follows the MediaMTX version vmsd learned (None: unknown)
AUTO_GOLDENS: list[tuple[str, Version | None, HookGeneration, str, Version | None]] = [
    # golden, learned version, generation, same text as, version to validate against
    ("auto-v1.19.2.yml", (1, 19, 2), HookGeneration.READY, "ready.yml", (1, 19, 2)),
    ("auto-v1.19.3.yml", (1, 19, 3), HookGeneration.AVAILABLE, "available.yml", (1, 19, 3)),
    # Unknown version: the old names (still accepted, deprecated, by v1.19.3+); the controller
    # validates an unknown version against the latest supported table.
    ("auto-unknown.yml", None, HookGeneration.READY, "ready.yml", None),
]


@pytest.mark.parametrize(
    ("golden", "version", "generation", "same_as", "validate_as"), AUTO_GOLDENS
)
def test_golden_auto_hook_names(
    golden: str,
    version: Version | None,
    generation: HookGeneration,
    same_as: str,
    validate_as: Version | None,
) -> None:
    config = vmsd_config(HookNames.AUTO)
    assert hook_generation(config, version) is generation
    built = build_render_settings(config, HOOK_SECRET, hook_generation(config, version), FFMPEG)
    # Everything but the vmsd argv prefix (which depends on the interpreter running the tests)
    # comes from the config.
    expected = fixed_settings(generation)
    for field in dataclasses.fields(RenderSettings):
        if field.name not in ("hook_command", "publisher_command"):
            assert getattr(built, field.name) == getattr(expected, field.name), field.name
    assert built.hook_command[-1] == "hook"
    assert built.publisher_command[-1] == "synthetic-publish"
    settings = dataclasses.replace(
        built, hook_command=HOOK_COMMAND, publisher_command=PUBLISHER_COMMAND
    )

    doc, text = render_document(config, fleet(), settings)
    assert text == dump_mediamtx_yaml(doc, str(BASE_FILE))
    portable = dump_mediamtx_yaml(doc, "mediamtx.yml")
    check_golden(golden, portable)
    assert portable == (GOLDEN_DIR / same_as).read_text(encoding="utf-8")
    assert validate_mediamtx_document(yaml.safe_load(portable), validate_as) == []


# The live view on: MediaMTX's WebRTC listener rendered, bound as configured (the default
# console.webrtc), for a release before MoQ and the hook renames and one after both.
LIVE_GOLDENS: list[tuple[str, Version]] = [
    ("live-view-v1.18.2.yml", (1, 18, 2)),
    ("live-view-v1.20.0.yml", (1, 20, 0)),
]
LIVE_KEYS = {
    "webrtc": True,
    "webrtcAddress": "127.0.0.1:8889",
    "webrtcLocalUDPAddress": ":8189",
    "webrtcLocalTCPAddress": "",
    "webrtcAdditionalHosts": [],
    "webrtcICEServers2": [],
}


@pytest.mark.parametrize(("golden", "version"), LIVE_GOLDENS)
def test_golden_live_view(golden: str, version: Version) -> None:
    live = Config().console.model_copy(update={"live_view": True})
    on = vmsd_config().model_copy(update={"console": live})
    off = vmsd_config()
    docs = []
    for config in (on, off):
        built = build_render_settings(
            config, HOOK_SECRET, hook_generation(config, version), FFMPEG, mediamtx_version=version
        )
        settings = dataclasses.replace(
            built, hook_command=HOOK_COMMAND, publisher_command=PUBLISHER_COMMAND
        )
        docs.append(render_document(config, fleet(), settings)[0])
    live, dark = docs
    text = dump_mediamtx_yaml(live, "mediamtx.yml")
    check_golden(golden, text)
    assert validate_mediamtx_document(yaml.safe_load(text), version) == []
    assert {k: live[k] for k in LIVE_KEYS} == LIVE_KEYS
    # Only the WebRTC keys differ from the live view off, where the server stays off.
    assert dark["webrtc"] is False and not any(k in dark for k in LIVE_KEYS if k != "webrtc")
    assert {k: v for k, v in live.items() if k not in LIVE_KEYS} == {
        k: v for k, v in dark.items() if k != "webrtc"
    }


def test_the_live_view_drops_deprecated_webrtc_keys_that_would_win() -> None:
    """MediaMTX lets a present deprecated key override its replacement (listeners.py)."""
    old = {
        "webrtcDisable": True,
        "webrtcICEUDPMuxAddress": ":9000",
        "webrtcICETCPMuxAddress": ":9001",
        "webrtcICEHostNAT1To1IPs": ["198.51.100.7"],
        "webrtcICEServers": ["stun:stun.example.lan:3478"],
    }
    listener = webrtc_listener(
        Config.model_validate(
            {
                "console": {
                    "live_view": True,
                    "webrtc": {
                        "address": ":8889",
                        "local_udp_address": "192.0.2.5:8189",
                        "local_tcp_address": "192.0.2.5:8190",
                        "additional_hosts": ["nvr.example.lan"],
                        "ice_servers": [
                            {"url": "stun:stun.example.lan:3478"},
                            {"url": "turn:turn.example.lan:3478", "username": "u", "password": "p"},
                        ],
                    }
                }
            }
        ).console
    )
    doc = render(settings=fixed_settings(webrtc=listener), base_doc={**base(), **old})
    assert not set(old) & set(doc)
    assert {k: doc[k] for k in LIVE_KEYS} == {
        "webrtc": True,
        "webrtcAddress": ":8889",
        "webrtcLocalUDPAddress": "192.0.2.5:8189",
        "webrtcLocalTCPAddress": "192.0.2.5:8190",
        "webrtcAdditionalHosts": ["nvr.example.lan"],
        "webrtcICEServers2": [
            {"url": "stun:stun.example.lan:3478"},
            {"url": "turn:turn.example.lan:3478", "username": "u", "password": "p"},
        ],
    }
    for version in ((1, 9, 0), (1, 18, 2), (1, 20, 0), (1, 20, 1)):
        assert all(GLOBAL_KEYS[k].accepted_in(version) for k in WEBRTC_KEYS), version


def test_live_view_off_leaves_webrtc_as_the_base_says() -> None:
    assert render(settings=fixed_settings())["webrtc"] is False
    off = Config.model_validate({"console": {"live_view": False}}).console
    assert webrtc_listener(off) is None


def test_available_hooks_are_rejected_by_mediamtx_before_v1_19_3() -> None:
    """Why the generation matters: v1.19.2 refuses the new names (and would shut down)."""
    problems = validate_mediamtx_document(render(), (1, 19, 2))
    assert problems
    assert all("runOnAvailable" in p or "runOnUnavailable" in p for p in problems)


@pytest.mark.parametrize(
    ("hook_names", "version", "expected"),
    [
        (HookNames.AUTO, None, HookGeneration.READY),
        (HookNames.AUTO, (1, 9, 0), HookGeneration.READY),
        (HookNames.AUTO, (1, 19, 2), HookGeneration.READY),
        (HookNames.AUTO, (1, 19, 3), HookGeneration.AVAILABLE),
        (HookNames.AUTO, (1, 20, 1), HookGeneration.AVAILABLE),
        (HookNames.AUTO, (2, 0, 0), HookGeneration.AVAILABLE),
        (HookNames.READY, (1, 20, 1), HookGeneration.READY),
        (HookNames.AVAILABLE, None, HookGeneration.AVAILABLE),
        (HookNames.AVAILABLE, (1, 19, 2), HookGeneration.AVAILABLE),
    ],
)
def test_hook_generation(
    hook_names: HookNames, version: Version | None, expected: HookGeneration
) -> None:
    assert hook_generation(vmsd_config(hook_names), version) is expected
    if hook_names is HookNames.AUTO:
        assert hook_generation_for(version) is expected


def test_hook_generation_keys() -> None:
    assert HookGeneration.READY.keys == ("runOnReady", "runOnNotReady")
    assert HookGeneration.AVAILABLE.keys == ("runOnAvailable", "runOnUnavailable")


# ---------------------------------------------------------------------------------------------
# Properties


def walk_strings(node: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, (*where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_strings(value, (*where, index))


def hook_argv(event: str, secret_file: str = HOOK_SECRET_FILE) -> list[str]:
    return [*HOOK_COMMAND, event, "--url", HOOKS_URL, "--key-file", secret_file]


@pytest.mark.parametrize("generation", list(HookGeneration))
def test_every_enabled_camera_is_a_path_and_only_those(generation: HookGeneration) -> None:
    doc = render(settings=fixed_settings(generation))
    enabled = sorted(name for name, f in CAMERA_FIELDS.items() if f.get("enabled", True))
    assert list(doc["paths"]) == enabled  # the base has no paths; sorted by name
    assert "old-cam" not in doc["paths"]
    assert "10.0.0.99" not in dump_mediamtx_yaml(doc, "mediamtx.yml")


def test_credentials_only_in_the_source_of_pull_cameras_percent_encoded() -> None:
    doc = render()
    text = dump_mediamtx_yaml(doc, "mediamtx.yml")
    strings = list(walk_strings(doc))
    for name, fields in CAMERA_FIELDS.items():
        if "password" not in fields:
            continue
        user, password = fields["username"], fields["password"]
        encoded = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        holders = [where for where, value in strings if encoded in value]
        if name in PULL_CAMERAS:
            assert holders == [("paths", name, "source")], name
            source = doc["paths"][name]["source"]
            parts = urlsplit(source)
            assert (parts.username, parts.password) == (
                quote(user, safe=""),
                quote(password, safe=""),
            )
            assert source == fields["source"].replace("://", f"://{encoded}", 1)
        else:  # publisher (checked by vmsd's auth hook) and disabled cameras: nowhere
            assert holders == [], name
            assert user not in text and password not in text, name
        if password != quote(password, safe=""):
            assert password not in text, f"{name}: raw password in the file"


def test_hook_commands_are_plain_argv_with_a_key_file_not_the_secret() -> None:
    for generation in HookGeneration:
        doc = render(settings=fixed_settings(generation))
        on_available, on_unavailable = generation.keys
        for name, path in doc["paths"].items():
            hooks = {k: v for k, v in path.items() if k.startswith("runOn") and k != "runOnInit"}
            hooks.pop("runOnInitRestart", None)
            assert set(hooks) == {on_available, on_unavailable}, name
            for key, event in ((on_available, "available"), (on_unavailable, "unavailable")):
                command = path[key]
                assert not SHELL_META & set(command), (name, command)
                assert shlex.split(command) == command.split(" ") == hook_argv(event)
                assert HOOK_SECRET not in command
                for fields in CAMERA_FIELDS.values():
                    if "password" in fields:
                        assert quote(fields["password"], safe="") not in command
                        assert fields["password"] not in command


def test_hook_command_quoting_survives_awkward_paths() -> None:
    """The argv MediaMTX gets (shell quoting rules, no shell) is the argv vmsd meant."""
    secret_file = "/srv/my vmsd/it's here/hook.secret"
    command_prefix = ("/opt/vmsd env/bin/vmsd", "hook")
    settings = fixed_settings(hook_secret_file=secret_file, hook_command=command_prefix)
    path = render_path(make_camera(name="cam", source="rtsp://10.0.0.1/x"), settings)
    assert shlex.split(path["runOnAvailable"]) == [
        *command_prefix, "available", "--url", HOOKS_URL, "--key-file", secret_file
    ]
    # ... and survives YAML.
    dumped = dump_mediamtx_yaml({"paths": {"cam": path}}, "b.yml")
    assert yaml.safe_load(dumped)["paths"]["cam"] == path


def test_globals_vmsd_depends_on() -> None:
    doc = render()
    assert doc["authMethod"] == "http"
    assert doc["authHTTPAddress"] == f"{HOOKS_URL}/auth?key={HOOK_SECRET}"
    assert doc["authHTTPExclude"] == []
    assert doc["api"] is True
    assert doc["apiAddress"] == f"127.0.0.1:{API_PORT}"
    assert doc["rtspAddress"] == f"127.0.0.1:{RTSP_PORT}"  # the base's host, vmsd's port
    assert doc["metrics"] is True
    assert doc["metricsAddress"] == f"127.0.0.1:{METRICS_PORT}"
    assert doc["rtspAuthMethods"] == ["basic"]  # Digest would hide the password from vmsd
    # everything else in the base is kept as it is
    for key, value in base().items():
        if key not in ("authMethod", "authHTTPAddress", "api", "apiAddress", "rtspAddress",
                       "metricsAddress", "paths"):
            assert doc[key] == value, key


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"rtspAddress": ":8554"}, {"rtspAddress": f":{RTSP_PORT}"}),
        ({"rtspAddress": "192.168.1.10:8554"}, {"rtspAddress": f"192.168.1.10:{RTSP_PORT}"}),
        ({"rtspAddress": "[::1]:8554"}, {"rtspAddress": f"[::1]:{RTSP_PORT}"}),
        # Absent: loopback, not MediaMTX's own every-interface default.
        ({"rtspAddress": None}, {"rtspAddress": f"127.0.0.1:{RTSP_PORT}"}),
        (
            {"api": False, "apiAddress": ":9997"},
            {"api": True, "apiAddress": f"127.0.0.1:{API_PORT}"},
        ),
        ({"authHTTPExclude": None}, {"authHTTPExclude": []}),
        (
            {"authHTTPExclude": [{"action": "metrics"}]},
            {"authHTTPExclude": [{"action": "metrics"}]},
        ),
        ({"metrics": False, "metricsAddress": ":9998"}, {"metricsAddress": ":9998"}),
        ({"metrics": True, "metricsAddress": ":9998"}, {"metricsAddress": f":{METRICS_PORT}"}),
        ({"authMethod": "internal"}, {"authMethod": "http"}),
    ],
)
def test_base_globals(overrides: dict[str, Any], expected: dict[str, Any]) -> None:
    base_doc = base()
    for key, value in overrides.items():
        if value is None:
            base_doc.pop(key, None)
        else:
            base_doc[key] = value
    doc = render(base_doc=base_doc)
    for key, value in expected.items():
        assert doc[key] == value, key


def test_base_is_not_modified_and_base_paths_are_kept() -> None:
    base_doc = base()
    base_doc["paths"] = {
        "all_others": None,
        "static": {"source": "publisher", "maxReaders": 3},
    }
    before = copy.deepcopy(base_doc)
    doc = render(base_doc=base_doc)
    assert base_doc == before
    assert doc["paths"]["all_others"] is None
    assert doc["paths"]["static"] == {"source": "publisher", "maxReaders": 3}
    assert list(doc["paths"])[:2] == ["all_others", "static"]
    assert set(doc["paths"]) == {"all_others", "static"} | {
        n for n, f in CAMERA_FIELDS.items() if f.get("enabled", True)
    }
    assert validate_mediamtx_document(doc, None) == []


def test_globals_do_not_depend_on_cameras() -> None:
    """MediaMTX restarts every path when a global setting changes."""
    cameras = fleet()
    first = render(cameras=cameras)
    second = render(cameras=[c for c in cameras if c.name in ("garage", "doorbell")])
    third = render(cameras=[])
    for other in (second, third):
        assert other.keys() == first.keys()
        for key in first:
            if key != "paths":
                assert other[key] == first[key], key
    assert list(second["paths"]) == ["doorbell", "garage"]
    assert third["paths"] == {}
    # A camera's path does not depend on the others either.
    assert second["paths"]["garage"] == first["paths"]["garage"]


def test_source_settings_per_kind() -> None:
    doc = render()
    paths = doc["paths"]
    for name in PULL_CAMERAS:
        record = CAMERA_FIELDS[name].get("record", True)
        assert paths[name]["sourceOnDemand"] is (not record), name
        assert "runOnInit" not in paths[name]
    for name in RTSP_CAMERAS:
        transport = CAMERA_FIELDS[name].get("rtsp_transport", "tcp")
        assert paths[name]["rtspTransport"] == transport, name
    for name in PULL_CAMERAS - RTSP_CAMERAS:
        assert "rtspTransport" not in paths[name], name
    assert paths["garage"]["rtspTransport"] == "udp"
    assert paths["garage"]["sourceOnDemand"] is True  # not recording: pulled only on demand
    # Publishers: MediaMTX rejects sourceOnDemand on a publisher path.
    for name in ("doorbell", "synthetic"):
        assert paths[name]["source"] == "publisher"
        assert "sourceOnDemand" not in paths[name]
        assert "rtspTransport" not in paths[name]
    assert "runOnInit" not in paths["doorbell"]
    assert paths["multicast"]["source"] == "udp+mpegts://239.0.0.1:1234"
    assert paths["yard"]["source"] == "srt://10.0.0.15:9000?streamid=read:yard"


@pytest.mark.parametrize("transport", list(RtspTransport))
def test_rtsp_transport_values_are_ones_mediamtx_knows(transport: RtspTransport) -> None:
    camera = make_camera(name="cam", source="rtsps://h/x", rtsp_transport=transport.value)
    doc = render(cameras=[camera])
    assert doc["paths"]["cam"]["rtspTransport"] == transport.value
    assert validate_mediamtx_document(doc, None) == []


def test_synthetic_camera_publishes_itself() -> None:
    doc = render()
    path = doc["paths"]["synthetic"]
    password = synthetic_publish_password(HOOK_SECRET, "synthetic")
    assert path["source"] == "publisher"
    assert path["runOnInitRestart"] is True
    command = path["runOnInit"]
    assert not SHELL_META & set(command), command
    argv = shlex.split(command)
    assert argv == [
        *PUBLISHER_COMMAND,
        *("--path", "synthetic", "--size", "320x240", "--fps", "10"),
        *("--rtsp-address", f"127.0.0.1:{RTSP_PORT}"),
        *("--key-file", HOOK_SECRET_FILE, "--ffmpeg", FFMPEG),
    ]
    # The command becomes an argv every local user can read: no secret, no credential.
    assert HOOK_SECRET not in command and password not in command and "@" not in command
    assert command == synthetic_publisher_command(make_camera(**{
        "name": "synthetic", **CAMERA_FIELDS["synthetic"]}), fixed_settings())


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8481/hooks/mediamtx"),
        ("", "http://127.0.0.1:8481/hooks/mediamtx"),
        ("0.0.0.0", "http://127.0.0.1:8481/hooks/mediamtx"),  # noqa: S104
        ("::", "http://[::1]:8481/hooks/mediamtx"),
        ("::1", "http://[::1]:8481/hooks/mediamtx"),
        ("10.1.2.3", "http://10.1.2.3:8481/hooks/mediamtx"),
    ],
)
def test_hooks_base_url(host: str, expected: str) -> None:
    assert hooks_base_url(host, 8481) == expected


def test_effective_mode(tmp_path: Path) -> None:
    def config(mode: str, binary: str) -> Config:
        return Config.model_validate({"mediamtx": {"mode": mode, "binary": binary}})

    missing = str(tmp_path / "no-such-mediamtx")
    present = tmp_path / "mediamtx"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    assert effective_mode(config("auto", missing)) is MediaMtxMode.OFF
    assert effective_mode(config("auto", str(present))) is MediaMtxMode.MANAGED
    for mode in ("managed", "external", "off"):
        assert effective_mode(config(mode, missing)) is MediaMtxMode(mode)


def test_load_base(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yml"
    empty.write_text("# nothing\n")
    assert load_base(empty) == {}
    for text in ("- a list\n", "key: [unclosed\n"):
        bad = tmp_path / "bad.yml"
        bad.write_text(text)
        with pytest.raises(ConfigError):
            load_base(bad)
    with pytest.raises(ConfigError):
        load_base(tmp_path / "missing.yml")
    # YAML 1.1 booleans of the shipped base are booleans, and "no" stays a string.
    loaded = load_base(BASE_FILE)
    assert loaded["api"] is True and loaded["rtmp"] is False
    assert loaded["rtspEncryption"] == "no"


def test_dump_quotes_yaml_1_1_booleans() -> None:
    text = dump_mediamtx_yaml({"rtspEncryption": "no", "logLevel": "info"}, "base.yml")
    assert text.startswith("# Written by vmsd from base.yml")
    assert "rtspEncryption: 'no'" in text
    assert yaml.safe_load(text) == {"rtspEncryption": "no", "logLevel": "info"}


# ---------------------------------------------------------------------------------------------
# The key-validity check against rendered documents


def test_validator_rejects_an_unknown_global_key() -> None:
    doc = copy.deepcopy(render())
    doc["rtspPort"] = 8554
    assert validate_mediamtx_document(doc, None) == [
        "rtspPort: unknown key for MediaMTX v1.20.1"
    ]


def test_validator_rejects_an_unknown_path_key() -> None:
    doc = copy.deepcopy(render())
    doc["paths"]["front-door"]["sourceProtocl"] = "tcp"
    assert validate_mediamtx_document(doc, (1, 19, 3)) == [
        "paths.front-door.sourceProtocl: unknown key for MediaMTX v1.19.3"
    ]


@pytest.mark.parametrize("name", ["bad name", "../etc", "cam/../x", "/lead", "trail/", "ca:m"])
def test_validator_rejects_a_bad_path_name(name: str) -> None:
    # Camera names are validated by CameraConfig; a Camera built around it is still caught
    # before anything is written.
    with pytest.raises(ValidationError):
        CameraConfig.model_validate({"name": name, "source": "rtsp://h/x"})
    camera = dataclasses.replace(make_camera(name="cam", source="rtsp://10.0.0.1/x"), name=name)
    doc = render(cameras=[camera])
    problems = validate_mediamtx_document(doc, None)
    assert len(problems) == 1
    assert problems[0].startswith(f"paths.{name}: invalid path name")


# ---------------------------------------------------------------------------------------------
# Cases where MediaMTX would refuse what a naive renderer writes.


@pytest.mark.parametrize("name", ["all", "all_others"])
def test_reserved_path_names_are_refused_as_camera_names(name: str) -> None:
    """MediaMTX reads 'all'/'all_others' as its catch-all pattern and refuses them with a
    static source (internal/conf/path.go)."""
    with pytest.raises(ValidationError, match="reserved"):
        make_camera(name=name, source="rtsp://10.0.0.1/x")


@pytest.mark.parametrize(
    ("username", "password"), [("admin", None), (None, "secret"), ("admin", "")]
)
def test_half_credentials_never_reach_mediamtx(username: str | None, password: str | None) -> None:
    """MediaMTX refuses a source URL with only one half: 'username and password must be both
    provided' (internal/conf/path.go)."""
    with pytest.raises(ValidationError, match="go together"):
        make_camera(name="cam", source="rtsp://10.0.0.1/x", username=username, password=password)


def test_source_scheme_is_rendered_lower_case() -> None:
    camera = make_camera(name="cam", source="RTSP://10.0.0.1/x")
    source = render_path(camera, fixed_settings())["source"]
    assert source.startswith("rtsp://")


@pytest.mark.parametrize("address", ["192.168.1.10:8554", "[::1]:8554"])
def test_synthetic_publisher_reaches_the_rtsp_listener(address: str) -> None:
    base_doc = base()
    base_doc["rtspAddress"] = address
    camera = make_camera(name="synthetic", source="test://")
    doc = render(cameras=[camera], base_doc=base_doc)
    listen_host = doc["rtspAddress"].rsplit(":", 1)[0]
    argv = shlex.split(doc["paths"]["synthetic"]["runOnInit"])
    assert argv[argv.index("--rtsp-address") + 1] == f"{listen_host}:{RTSP_PORT}"


def test_address_without_port_is_not_widened_to_all_interfaces() -> None:
    base_doc = base()
    base_doc["rtspAddress"] = "127.0.0.1"
    with pytest.raises(ConfigError, match="invalid listener address"):
        render(base_doc=base_doc)


# ---------------------------------------------------------------------------------------------
# The synthetic publisher command, run for real against an FFmpeg RTSP listener


def tcp_listening(port: int) -> bool:
    """From /proc: a probe connection would be the one connection FFmpeg's listener accepts."""
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        return False
    for line in table.splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            return True
    return False


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


VIDEO_STREAM_RE = re.compile(r"Stream #0:\d+.*: Video: (\w+).*?, (\d+)x(\d+)")


def test_synthetic_publisher_command_streams_with_real_ffmpeg(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").is_file():
        pytest.skip("needs /proc/net/tcp to see when the listener is ready")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    port = free_port()
    camera = make_camera(name="synthetic", source="test://?size=320x240&fps=15")
    own = fixed_settings(
        rtsp_port=port,
        ffmpeg_binary=ffmpeg,
        publisher_command=(*vmsd_command(), "synthetic-publish"),
        hook_secret_file=str(tmp_path / "hook.secret"),
    )
    (tmp_path / "hook.secret").write_text(HOOK_SECRET)
    command = render(cameras=[camera], settings=own)["paths"]["synthetic"]["runOnInit"]
    argv = shlex.split(command)
    received = tmp_path / "received.mkv"
    listener_log = tmp_path / "listener.log"
    publisher_log = tmp_path / "publisher.log"
    listener: subprocess.Popen[bytes] | None = None
    publisher: subprocess.Popen[bytes] | None = None
    try:
        with listener_log.open("wb") as llog, publisher_log.open("wb") as plog:
            # The receiving side of the RTSP publish (ANNOUNCE/RECORD); it ignores credentials.
            # listen_timeout, not -timeout: in listen mode FFmpeg misreads -timeout.
            listener = subprocess.Popen(
                [ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin",
                 "-rtsp_flags", "listen", "-listen_timeout", "15",
                 "-i", f"rtsp://127.0.0.1:{port}/synthetic",
                 "-t", "1", "-c", "copy", "-f", "matroska", "-y", str(received)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=llog,
                start_new_session=True,
            )
            deadline = time.monotonic() + 10
            while not tcp_listening(port):
                assert listener.poll() is None, listener_log.read_text()
                assert time.monotonic() < deadline, "the FFmpeg RTSP listener never listened"
                time.sleep(0.02)
            publisher = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=plog,
                start_new_session=True,
            )
            try:
                code = listener.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pytest.fail("the listener did not finish: " + publisher_log.read_text())
            assert code == 0, listener_log.read_text() + publisher_log.read_text()
    finally:
        stop(publisher)
        stop(listener)
    assert received.stat().st_size > 0
    probe = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(received)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    streams = VIDEO_STREAM_RE.findall(probe.stderr)
    assert streams == [("h264", "320", "240")], probe.stderr
    assert "15 fps" in probe.stderr
