"""A failed bind or first database connection as the operator reads it: the key to change, the
cause, and whether a retry may help (75) or the configuration must change (78)."""

from __future__ import annotations

import errno
import socket

import pytest

from vmsd.config.schema import Config
from vmsd.core.errors import EXIT_CONFIG, EXIT_CRASH, EXIT_TEMPFAIL, StoreError
from vmsd.runtime.preflight import Listener, bind_failure, database_failure

HOOKS = Listener("127.0.0.1", 8481, "mediamtx.hooks_host", "mediamtx.hooks_port")


@pytest.mark.parametrize(
    ("err", "listener", "key", "status", "cause"),
    [
        (OSError(errno.EADDRINUSE, "in use"), Listener("127.0.0.1", 8480), "server.port",
         EXIT_TEMPFAIL, "127.0.0.1:8480 is already in use by another process (pid 7, nginx)"),
        (OSError(errno.EADDRINUSE, "in use"), HOOKS, "mediamtx.hooks_port", EXIT_TEMPFAIL,
         "127.0.0.1:8481 is already in use by another process (pid 7, nginx)"),
        (OSError(errno.EADDRNOTAVAIL, "x"), Listener("192.0.2.1", 8480), "server.host",
         EXIT_TEMPFAIL, "192.0.2.1 is not an address of this host"),
        (OSError(errno.EACCES, "x"), Listener("::", 80), "server.port", EXIT_CONFIG,
         "not permitted to listen on [::]:80 (a port below 1024 needs CAP_NET_BIND_SERVICE)"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
         Listener("nvr.invalid", 8480), "server.host", EXIT_CONFIG,
         "cannot resolve 'nvr.invalid': Name or service not known"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
         Listener("nvr.lan", 8480), "server.host", EXIT_TEMPFAIL,
         "cannot resolve 'nvr.lan': Temporary failure in name resolution"),
        (OSError(errno.ENOBUFS, "x"), Listener("127.0.0.1", 8480), "server.port", EXIT_CRASH,
         "cannot listen on 127.0.0.1:8480: No buffer space available"),
    ],
)  # fmt: skip
def test_bind_failure(
    err: OSError, listener: Listener, key: str, status: int, cause: str
) -> None:
    failure = bind_failure(err, listener, holder="pid 7, nginx")
    assert (failure.config_key, failure.exit_status, failure.cause) == (key, status, cause)
    assert failure.message == f"{key}: {cause}"


def test_in_use_without_a_visible_holder() -> None:
    failure = bind_failure(OSError(errno.EADDRINUSE, "in use"), Listener("127.0.0.1", 8480))
    assert failure.cause == "127.0.0.1:8480 is already in use by another process"


def test_database_failure_names_the_url_or_the_state_dir() -> None:
    err = StoreError("cannot connect to the database: [Errno 111] Connect call failed")
    external = Config.model_validate({"database": {"url": "postgresql://db.lan/vmsd"}})
    failure = database_failure(external, err)
    assert (failure.config_key, failure.exit_status) == ("database.url", EXIT_TEMPFAIL)
    assert failure.cause == err.message
    embedded = Config.model_validate({"state_dir": "/srv/vmsd"})
    failure = database_failure(embedded, StoreError("initdb failed for the embedded database"))
    assert (failure.config_key, failure.exit_status) == ("state_dir", EXIT_CRASH)
    assert failure.cause == (
        "the embedded PostgreSQL did not start: initdb failed for the embedded database "
        "(see /srv/vmsd/db.log)"
    )
