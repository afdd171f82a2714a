"""systemd's notify protocol (sd_notify): a datagram per message to $NOTIFY_SOCKET.

A few lines instead of a dependency. Without NOTIFY_SOCKET every call is a no-op, so the
daemon runs the same way by hand, in tests and under systemd.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written with a leading '@'.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_usec = _positive_int(env.get("WATCHDOG_USEC"))
        watchdog_pid = _positive_int(env.get("WATCHDOG_PID"))
        if watchdog_pid is not None and watchdog_pid != os.getpid():
            self._watchdog_usec = None  # the watchdog is meant for another process

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    @property
    def watchdog_interval_s(self) -> float | None:
        """Ping interval: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends."""
        if not self.enabled or self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 1_000_000 / 2

    def notify(self, *lines: str) -> None:
        if not self._address:
            return
        payload = "\n".join(lines).encode()
        # Non-blocking: this runs on the event loop, and a receiver whose queue is full (a
        # busy systemd, a test's socket nobody reads) must cost a message, never the loop.
        flags = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        with socket.socket(socket.AF_UNIX, flags) as sock:
            try:
                sock.sendto(payload, self._address)
            except OSError:
                # systemd gone, socket removed or its queue full (BlockingIOError): nothing
                # useful to do; never crash or wait on it.
                return

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def reloading(self) -> None:
        # systemd >= 253 wants MONOTONIC_USEC beside RELOADING=1 (sd_notify(3)).
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self, status: str = "stopping") -> None:
        self.notify("STOPPING=1", f"STATUS={status}")


def _positive_int(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value > 0 else None
