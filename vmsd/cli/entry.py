"""The `vmsd` console script. `vmsd hook ...` runs once per MediaMTX availability change and
`vmsd synthetic-publish` once per test-pattern path start: both must start fast, so they are
dispatched before the rest of vmsd (pydantic, asyncpg, ...) is imported."""

from __future__ import annotations

import sys


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["hook"]:
        from vmsd.cli.hook import main as hook_main

        return hook_main(argv[1:])
    if argv[:1] == ["synthetic-publish"]:
        from vmsd.cli.publish import main as publish_main

        return publish_main(argv[1:])
    from vmsd.cli.main import main as cli_main

    return cli_main(argv)
