"""`vmsd hook available|unavailable`: run by MediaMTX (runOnAvailable/runOnUnavailable, or
runOnReady/runOnNotReady before v1.19.3) when a camera path's source comes or goes.

MediaMTX execs it without a shell, with MTX_PATH, MTX_SOURCE_TYPE and MTX_SOURCE_ID in its
environment. It must start fast, so it imports only the standard library: it reads the hook
secret from a file (never from argv, which every local user can read) and POSTs to the daemon.
Exit 0 on success; 1 with a one-line reason otherwise (MediaMTX ignores the status, but an
operator running it by hand does not).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from urllib.parse import quote

TIMEOUT_S = 5.0
HOOKS = ("available", "unavailable")


def build_request(
    hook: str, url: str, key: str, environ: Mapping[str, str]
) -> urllib.request.Request:
    path = environ.get("MTX_PATH", "")
    if not path:
        raise ValueError("MTX_PATH is not set: this command is run by MediaMTX")
    body = json.dumps(
        {
            "path": path,
            "source_type": environ.get("MTX_SOURCE_TYPE", ""),
            "source_id": environ.get("MTX_SOURCE_ID", ""),
        }
    ).encode()
    return urllib.request.Request(  # noqa: S310 - the daemon's own http:// hook URL
        f"{url.rstrip('/')}/{hook}?key={quote(key, safe='')}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )


def describe(body: bytes) -> str:
    """The daemon's {"error": {...}} as one line: its message and each field's problem."""
    try:
        error = json.loads(body)["error"]
        fields = [f"{d['field']}: {d['message']}" for d in error.get("details", ())]
        return "; ".join([str(error["message"]), *fields])
    except (ValueError, KeyError, TypeError, AttributeError):
        return repr(body[:200])


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vmsd hook", description="report a MediaMTX path's availability to vmsd"
    )
    parser.add_argument("hook", choices=HOOKS)
    parser.add_argument("--url", required=True, help="vmsd's hook base URL")
    parser.add_argument("--key-file", required=True, help="file holding the hook secret")
    args = parser.parse_args(argv)
    try:
        with open(args.key_file, encoding="utf-8") as handle:
            key = handle.read().strip()
        request = build_request(args.hook, args.url, key, os.environ)
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as err:
        print(f"vmsd hook: the daemon answered {err.code}: {describe(err.read())}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        print(f"vmsd hook: {err}", file=sys.stderr)
        return 1
    return 0
