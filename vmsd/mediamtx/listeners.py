"""Every socket a MediaMTX release opens, and the rule that binds them deliberately. Pure.

MediaMTX turns most of its servers on by default and binds every default address on all
interfaces (reference/mediamtx.md, "Global defaults"); a newer release can add a server that
is on by default (MoQ, v1.19.0). So the rendered file says, for every server the running
release has, either `<server>: false` or an address for each socket that server will open:
a server nobody asked for is a listener nobody asked for.

Facts, from bluenviron/mediamtx (the trees `keys.py` cites):

* Defaults: `Conf.setDefaults` in `internal/conf/conf.go`, the same ports from the v1.9-era
  tree (id 2212991342) to the v1.20.1-based one (SoundarTech/mediamtx 5d495b98); MoQ from the
  v1.19.3-era upstream tree (0036e98f, `:8892` for HTTP/2 and HTTP/3) and the v1.20.1 one
  (`moqQUICAddress` `:8893`). Servers on by default: rtsp, rtmp, hls, webrtc, srt, moq; off:
  api, metrics, pprof, playback.
* Which socket opens when, `internal/core/core.go` (0036e98f): the RTSP server listens on
  `rtspAddress` when `rtspEncryption` is "no" or "optional", the RTSPS one on `rtspsAddress`
  when it is "strict" or "optional", each with its UDP pair (`rtpAddress`/`rtcpAddress`,
  `srtpAddress`/`srtcpAddress`) when `rtspTransports` has udp (the v1.9-era `Validate`
  refuses udp with "strict"); RTMP likewise with `rtmpEncryption` (`rtmpAddress`,
  `rtmpsAddress`). MoQ opens all of its listeners (`internal/servers/moq/server.go`: HTTP/2
  over TCP, HTTP/3 over UDP, raw QUIC over UDP since v1.20.0); an empty MoQ address is not
  "off" but a random port on every interface.
* A deprecated key that is present overrides its replacement (`Conf.Validate` copies it over):
  `rtspDisable`/`rtmpDisable`/`hlsDisable`/`webrtcDisable` (inverted), `protocols`,
  `encryption`, `webrtcICEUDPMuxAddress`, `webrtcICETCPMuxAddress`, `moqHTTPS2Address`,
  `moqHTTPS3Address`. A YAML null leaves MediaMTX's default (JSON null into a Go string).
* `webrtcLocalUDPAddress` / `webrtcLocalTCPAddress`: empty turns that ICE socket off
  (`Validate` then wants the other one or an ICE server); the TCP one is off by default.
* Not covered: RTSP multicast (`multicastIPRange`, ports): it sends to a group address taken
  from the range, there is no bind address to set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from vmsd.core.errors import ConfigError
from vmsd.mediamtx.keys import GLOBAL_KEYS, LATEST_SUPPORTED, OLDEST_SUPPORTED, Version

LOOPBACK: Final = "127.0.0.1"
_SECURE_MODES: Final = frozenset({"strict", "optional"})
_PLAIN_MODES: Final = frozenset({"no", "optional"})
# rtspTransports default: [udp, multicast, tcp] in every supported release.
_DEFAULT_TRANSPORTS: Final = ["udp", "multicast", "tcp"]


class Needs(StrEnum):
    """When a server opens one of its sockets."""

    ALWAYS = "always"
    PLAIN = "plain"  # encryption "no" or "optional"
    SECURE = "secure"  # encryption "strict" or "optional"
    UDP_PLAIN = "udp_plain"  # ... and udp among the transports
    UDP_SECURE = "udp_secure"


@dataclass(frozen=True, slots=True)
class Listener:
    """One socket: its address key, older names MediaMTX still reads (which, present, win),
    MediaMTX's default port (None: off unless set)."""

    key: str
    default_port: int | None
    needs: Needs = Needs.ALWAYS
    aliases: tuple[str, ...] = ()
    empty_is_off: bool = False


@dataclass(frozen=True, slots=True)
class ListenerServer:
    """A server: its on/off key, MediaMTX's default for it, its sockets (the first one gives
    the host of the others), and the keys that decide which sockets it opens (a deprecated
    name first: it overrides the current one)."""

    name: str
    default_on: bool
    listeners: tuple[Listener, ...]
    disable_key: str | None = None
    encryption: tuple[str, ...] = ()
    transports: tuple[str, ...] = ()


def _http_server(name: str, port: int) -> ListenerServer:
    return ListenerServer(name, False, (Listener(f"{name}Address", port),))


SERVERS: Final[tuple[ListenerServer, ...]] = (
    ListenerServer(
        "rtsp",
        True,
        (
            Listener("rtspAddress", 8554, Needs.PLAIN),
            Listener("rtspsAddress", 8322, Needs.SECURE),
            Listener("rtpAddress", 8000, Needs.UDP_PLAIN),
            Listener("rtcpAddress", 8001, Needs.UDP_PLAIN),
            Listener("srtpAddress", 8004, Needs.UDP_SECURE),  # v1.13.0
            Listener("srtcpAddress", 8005, Needs.UDP_SECURE),
        ),
        disable_key="rtspDisable",
        encryption=("encryption", "rtspEncryption"),
        transports=("protocols", "rtspTransports"),
    ),
    ListenerServer(
        "rtmp",
        True,
        (Listener("rtmpAddress", 1935, Needs.PLAIN), Listener("rtmpsAddress", 1936, Needs.SECURE)),
        disable_key="rtmpDisable",
        encryption=("rtmpEncryption",),
    ),
    ListenerServer("hls", True, (Listener("hlsAddress", 8888),), disable_key="hlsDisable"),
    ListenerServer(
        "webrtc",
        True,
        (
            Listener("webrtcAddress", 8889),
            Listener("webrtcLocalUDPAddress", 8189, aliases=("webrtcICEUDPMuxAddress",),
                     empty_is_off=True),
            Listener("webrtcLocalTCPAddress", None, aliases=("webrtcICETCPMuxAddress",),
                     empty_is_off=True),
        ),
        disable_key="webrtcDisable",
    ),
    ListenerServer("srt", True, (Listener("srtAddress", 8890),)),
    ListenerServer(
        "moq",  # v1.19.0
        True,
        (
            Listener("moqHTTP2Address", 8892, aliases=("moqHTTPS2Address",)),  # TCP
            Listener("moqHTTP3Address", 8892, aliases=("moqHTTPS3Address",)),  # UDP
            Listener("moqQUICAddress", 8893),  # UDP, v1.20.0
        ),
    ),
    _http_server("api", 9997),
    _http_server("metrics", 9998),
    _http_server("pprof", 9999),
    _http_server("playback", 9996),
)


@dataclass(frozen=True, slots=True)
class OpenListener:
    """A socket MediaMTX will open. `explicit`: the document gives its address; otherwise it
    is MediaMTX's default, on every interface. `since`: the first release that has it."""

    server: str
    key: str
    address: str
    explicit: bool
    since: Version


def listener_version(version: Version | None) -> Version:
    """The release whose keys the listeners are rendered for. Unknown: the oldest supported
    (every release accepts its keys); newer than the newest known: the newest known."""
    if version is None:
        return OLDEST_SUPPORTED
    return max(OLDEST_SUPPORTED, min(version, LATEST_SUPPORTED))


def listener_keys(version: Version | None) -> frozenset[str]:
    """The on/off and address keys vmsd can write for this release (None: unknown). When it
    changes, so can the rendered file."""
    v = listener_version(version)
    keys: set[str] = set()
    for server in _servers(v):
        keys.add(server.name)
        keys.update(name for listener in server.listeners if (name := _write_key(listener, v)))
    return frozenset(keys)


def switched_on(doc: Mapping[str, Any], server: str) -> bool | None:
    """Whether the document turns `server` on (True), off (False) or says nothing (None)."""
    spec = _SERVER_BY_NAME[server]
    if spec.disable_key is not None and doc.get(spec.disable_key) is not None:
        return doc[spec.disable_key] is False
    if doc.get(spec.name) is None:
        return None
    return doc[spec.name] is True


def bind_listeners(doc: Mapping[str, Any], version: Version) -> dict[str, Any]:
    """`doc` with every server `version` has either off or bound, as asked.

    A server the document does not turn on is turned off (`<server>: false`). For a server it
    turns on, each socket that server will open and the document gives no address gets
    `<host>:<MediaMTX's port>`: the host of the server's first address in the document (the
    interfaces the server was asked on, `""` for an explicit `:8554`), else 127.0.0.1. An
    address the document gives stays as it is, once checked to be host:port. Only keys
    `version` accepts are written. Pure: `doc` is not modified.
    """
    out = dict(doc)
    for server in _servers(version):
        if switched_on(doc, server.name) is not True:
            out[server.name] = False
            continue
        out[server.name] = True
        host = _server_host(server, doc, version)
        for listener, key, given in _sockets(server, doc, version):
            if given is None:
                if listener.default_port is not None:
                    out[key] = f"{host}:{listener.default_port}"
            elif not _turned_off(listener, given):
                listen_host(given[1], given[0])  # refuses an address without a port
    return out


def open_listeners(doc: Mapping[str, Any], version: Version) -> list[OpenListener]:
    """The sockets MediaMTX `version` opens for `doc`: what the document says, MediaMTX's
    defaults for what it leaves out."""
    found: list[OpenListener] = []
    for server in _servers(version):
        on = switched_on(doc, server.name)
        if not (server.default_on if on is None else on):
            continue
        for listener, key, given in _sockets(server, doc, version):
            since = _since(server, listener)
            if given is None:
                if listener.default_port is not None:
                    address = f":{listener.default_port}"
                    found.append(OpenListener(server.name, key, address, False, since))
            elif not _turned_off(listener, given):
                found.append(OpenListener(server.name, given[0], str(given[1]), True, since))
    return found


def listen_host(address: object, key: str) -> str:
    """The host part of a listener address (`127.0.0.1:8554` -> `127.0.0.1`, `:8554` -> "",
    absent -> 127.0.0.1). An address without a port is refused, not widened to every
    interface."""
    if address is None:
        return LOOPBACK
    if not isinstance(address, str) or ":" not in address:
        raise ConfigError(
            "the MediaMTX base config has an invalid listener address",
            [f'{key}: must be host:port or :port (got "{address}")'],
        )
    return address.rsplit(":", 1)[0]


_SERVER_BY_NAME: Final = {server.name: server for server in SERVERS}


def _accepted(key: str, version: Version) -> bool:
    span = GLOBAL_KEYS.get(key)
    return span is not None and span.accepted_in(version)


def _servers(version: Version) -> Sequence[ListenerServer]:
    return [server for server in SERVERS if _accepted(server.name, version)]


def _sockets(
    server: ListenerServer, doc: Mapping[str, Any], version: Version
) -> Iterator[tuple[Listener, str, tuple[str, Any] | None]]:
    """Each socket `server` opens for `doc` in `version`: its listener, the key to write for
    it, and the (key, value) the document gives for it, if any."""
    for listener in server.listeners:
        key = _write_key(listener, version)
        if key is not None and _needed(server, listener, doc):
            yield listener, key, _lookup(doc, _read_keys(listener, version))


def _turned_off(listener: Listener, given: tuple[str, Any]) -> bool:
    return listener.empty_is_off and given[1] == ""


def _write_key(listener: Listener, version: Version) -> str | None:
    """The name to write: the current one where the release has it, else the older one."""
    return next((k for k in (listener.key, *listener.aliases) if _accepted(k, version)), None)


def _read_keys(listener: Listener, version: Version) -> tuple[str, ...]:
    """Names MediaMTX reads, the one that wins first."""
    return tuple(k for k in (*listener.aliases, listener.key) if _accepted(k, version))


def _since(server: ListenerServer, listener: Listener) -> Version:
    first = min(GLOBAL_KEYS[k].first for k in (listener.key, *listener.aliases))
    return max(GLOBAL_KEYS[server.name].first, first)


def _lookup(doc: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, Any] | None:
    return next(((k, doc[k]) for k in keys if doc.get(k) is not None), None)


def _server_host(server: ListenerServer, doc: Mapping[str, Any], version: Version) -> str:
    given = _lookup(doc, _read_keys(server.listeners[0], version))
    return LOOPBACK if given is None else listen_host(given[1], given[0])


def _needed(server: ListenerServer, listener: Listener, doc: Mapping[str, Any]) -> bool:
    if listener.needs is Needs.ALWAYS:
        return True
    mode = _lookup(doc, server.encryption)
    encryption = mode[1] if mode is not None and mode[1] in _SECURE_MODES else "no"
    secure = listener.needs in (Needs.SECURE, Needs.UDP_SECURE)
    if encryption not in (_SECURE_MODES if secure else _PLAIN_MODES):
        return False
    if listener.needs in (Needs.PLAIN, Needs.SECURE):
        return True
    given = _lookup(doc, server.transports)
    transports = _DEFAULT_TRANSPORTS if given is None else given[1]
    return isinstance(transports, list) and "udp" in transports
