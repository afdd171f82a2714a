"""Every error the API can answer is in the README's Errors table with its status: each
VmsdError class in vmsd/ (found by importing every module), but those that never reach an
HTTP client."""

from __future__ import annotations

import importlib
import pkgutil

import vmsd
from tests.errors_doc import readme_errors
from vmsd.core.errors import VmsdError

# Raised before the API exists or outside it: `vmsd run`'s start (one line and an exit
# status), the config file (check-config, a reload), the CLI.
NOT_HTTP = {"startup_failed", "state_dir_locked", "config_invalid"}


def _subclasses(cls: type[VmsdError]) -> set[type[VmsdError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_code_is_documented_with_its_status() -> None:
    for module in pkgutil.walk_packages(vmsd.__path__, "vmsd."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    documented = readme_errors()
    answered = {(c.http_status, c.code) for c in _subclasses(VmsdError) if c.code not in NOT_HTTP}
    assert answered, "no error classes found"
    assert sorted(answered - set(documented)) == []
    # aiohttp's own (no route, no such method), and a bug's.
    assert {(404, "not_found"), (405, "method_not_allowed"), (500, "internal_error")} <= set(
        documented
    )
