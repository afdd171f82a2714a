"""MediaMTX's WebRTC listener for the console's live view: the keys vmsd writes. Pure.

Rendered only while `console.live_view` is on; otherwise the WebRTC server stays as the base
file says (off unless the base turns it on, listeners.py). Facts (bluenviron/mediamtx,
`internal/conf/conf.go` of the trees keys.py cites, and reference/mediamtx.md "WebRTC
reading"):

* `webrtcAddress` is the HTTP (WHEP signalling) listener; `webrtcLocalUDPAddress` and
  `webrtcLocalTCPAddress` the ICE sockets the media flows through ("" turns one off);
  `webrtcAdditionalHosts` are extra candidate addresses; `webrtcICEServers2` a list of
  `{url, username, password}` STUN/TURN servers. All five are in every release from v1.9.0 to
  v1.20.1 (keys.py), so v1.18.2 and v1.20.0 get the same keys.
* Their deprecated names (`webrtcDisable`, `webrtcICEUDPMuxAddress`, `webrtcICETCPMuxAddress`,
  `webrtcICEHostNAT1To1IPs`, `webrtcICEServers`) override the new ones when present
  (`Conf.Validate` copies them over): a base file's are dropped, or they would win.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from vmsd.config.console import ConsoleConfig

_SUPERSEDED: Final = (
    "webrtcDisable",
    "webrtcICEUDPMuxAddress",
    "webrtcICETCPMuxAddress",
    "webrtcICEHostNAT1To1IPs",
    "webrtcICEServers",
)


WEBRTC_KEYS: Final = (
    "webrtc",
    "webrtcAddress",
    "webrtcLocalUDPAddress",
    "webrtcLocalTCPAddress",
    "webrtcAdditionalHosts",
    "webrtcICEServers2",
)


@dataclass(frozen=True, slots=True)
class IceServer:
    url: str
    username: str = ""
    password: str = ""


@dataclass(frozen=True, slots=True)
class WebrtcListener:
    address: str  # host:port of the WHEP HTTP listener
    local_udp_address: str | None
    local_tcp_address: str | None
    additional_hosts: tuple[str, ...] = ()
    ice_servers: tuple[IceServer, ...] = ()


def webrtc_listener(console: ConsoleConfig) -> WebrtcListener | None:
    """The listener the configuration asks for; None while the live view is off."""
    if not console.live_view:
        return None
    w = console.webrtc
    return WebrtcListener(
        address=w.address,
        local_udp_address=w.local_udp_address,
        local_tcp_address=w.local_tcp_address,
        additional_hosts=w.additional_hosts,
        ice_servers=tuple(
            IceServer(s.url, s.username, s.password.get_secret_value()) for s in w.ice_servers
        ),
    )


def render_webrtc(doc: Mapping[str, Any], listener: WebrtcListener) -> dict[str, Any]:
    """`doc` with the WebRTC server on and bound as `listener` says. Every supported release
    takes these keys (WEBRTC_KEYS, checked against keys.py by the tests)."""
    out = {k: v for k, v in doc.items() if k not in _SUPERSEDED}
    values: dict[str, Any] = {
        "webrtc": True,
        "webrtcAddress": listener.address,
        "webrtcLocalUDPAddress": listener.local_udp_address or "",
        "webrtcLocalTCPAddress": listener.local_tcp_address or "",
        "webrtcAdditionalHosts": list(listener.additional_hosts),
        "webrtcICEServers2": [_ice_server(s) for s in listener.ice_servers],
    }
    out.update(values)
    return out


def _ice_server(server: IceServer) -> dict[str, str]:
    entry = {"url": server.url}
    if server.username:
        entry["username"] = server.username
    if server.password:
        entry["password"] = server.password
    return entry
