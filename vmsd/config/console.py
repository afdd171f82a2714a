"""The `console:` section: the live view and the WebRTC listener MediaMTX serves it with."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, model_validator

from vmsd.config.base import ConfigModel

_LISTEN_ADDRESS = re.compile(r"^(?:[0-9A-Za-z.\-]*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$")


def _listen_address(value: str) -> str:
    """host:port or :port (every interface), as MediaMTX takes a listener address."""
    if not _LISTEN_ADDRESS.fullmatch(value) or not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
        raise ValueError(f'must be host:port or :port, port 1-65535 (got "{value}")')
    return value


ListenAddress = Annotated[str, AfterValidator(_listen_address)]
_ICE_URL = re.compile(r"^(?:stun|turn|turns):[^\s]{1,250}$")


class IceServerConfig(ConfigModel):
    """A STUN or TURN server MediaMTX uses and tells browsers about (its webrtcICEServers2)."""

    url: str = Field(pattern=_ICE_URL.pattern)  # stun:host:port, turn:host:port, turns:...
    username: str = Field(default="", max_length=256)
    password: SecretStr = SecretStr("")


class WebrtcConfig(ConfigModel):
    """MediaMTX's WebRTC listener, rendered only while the live view is on."""

    # WHEP signalling (HTTP). Only vmsd's proxy talks to it: loopback.
    address: ListenAddress = "127.0.0.1:8889"
    # ICE media, UDP: the browsers' media flows here directly, so it is reachable from them.
    local_udp_address: ListenAddress | None = ":8189"
    # ICE media over TCP, for networks that drop UDP; None: off.
    local_tcp_address: ListenAddress | None = None
    # Addresses (IP or host name) MediaMTX offers as its own besides its interfaces' (a NAT's
    # public address).
    additional_hosts: tuple[Annotated[str, Field(pattern=r"^[0-9A-Za-z.:\-]{1,253}$")], ...] = ()
    ice_servers: tuple[IceServerConfig, ...] = ()

    @model_validator(mode="after")
    def _some_ice_socket(self) -> WebrtcConfig:
        # MediaMTX refuses a WebRTC server with neither local ICE socket nor an ICE server.
        sockets = (self.local_udp_address, self.local_tcp_address)
        if sockets == (None, None) and not self.ice_servers:
            raise ValueError("give local_udp_address, local_tcp_address or ice_servers")
        return self


class ConsoleConfig(ConfigModel):
    # Live video in the console through MediaMTX's WebRTC (WHEP), proxied by vmsd. Takes
    # effect only with MediaMTX on (mediamtx.mode not off). Off by default: on, MediaMTX
    # opens its ICE port (webrtc.local_udp_address) to the network, which an operator chooses.
    live_view: bool = False
    webrtc: WebrtcConfig = WebrtcConfig()
    # How long a live session's MediaMTX credential is accepted: MediaMTX checks it once, as
    # the session starts; vmsd revokes it as soon as MediaMTX has answered.
    live_credential_seconds: float = Field(default=60.0, ge=5, le=600)
    # Live sessions vmsd keeps track of at once (the oldest is forgotten past it).
    max_live_sessions: int = Field(default=256, ge=1, le=10_000)
