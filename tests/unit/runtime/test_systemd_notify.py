from __future__ import annotations

import os
import socket
from pathlib import Path

from vmsd.runtime.systemd import SystemdNotifier


def test_messages_reach_a_real_datagram_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
        assert notifier.watchdog_interval_s == 2.0
        notifier.ready("serving")
        notifier.watchdog()
        notifier.stopping()
        messages = [sock.recv(4096).decode() for _ in range(3)]
    assert messages[0].splitlines()[:2] == ["READY=1", "STATUS=serving"]
    assert f"MAINPID={os.getpid()}" in messages[0]
    assert messages[1] == "WATCHDOG=1"
    assert messages[2].startswith("STOPPING=1")


def test_abstract_socket_and_no_socket() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0vmsd-test-notify")
        SystemdNotifier({"NOTIFY_SOCKET": "@vmsd-test-notify"}).status("hi")
        assert sock.recv(100) == b"STATUS=hi"
    silent = SystemdNotifier({})
    assert not silent.enabled
    silent.ready("x")  # no socket: a no-op, never an error
    assert silent.watchdog_interval_s is None


def test_watchdog_for_another_pid_is_ignored() -> None:
    notifier = SystemdNotifier(
        {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    )
    assert notifier.watchdog_interval_s is None
