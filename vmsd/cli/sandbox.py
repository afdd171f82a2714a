"""The file-system sandbox of vmsd's systemd unit, as `vmsd doctor` needs it: who the service
runs as, and which paths its mount namespace leaves writable.

Read from the unit file and its drop-ins (`systemctl edit vmsd` writes one). Modelled:
ProtectSystem= (strict: everything read-only except what is listed), ProtectHome=,
PrivateTmp=, ReadWritePaths=, ReadOnlyPaths=, InaccessiblePaths= and the directories systemd
makes and hands to the service user (StateDirectory=, CacheDirectory=, LogsDirectory=,
RuntimeDirectory=). The most specific path wins, as in systemd. Not modelled: specifiers
(%S, %h, ...), BindPaths=, TemporaryFileSystem=, DynamicUser=.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

UNIT_NAME = "vmsd.service"
# Where systemd looks for a system unit, in its order of precedence.
UNIT_DIRS = (
    Path("/etc/systemd/system"),
    Path("/run/systemd/system"),
    Path("/usr/local/lib/systemd/system"),
    Path("/usr/lib/systemd/system"),
    Path("/lib/systemd/system"),
)
_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off", ""}
# Directories systemd creates below these roots and gives to User= at every start.
_MANAGED_ROOTS = {
    "StateDirectory": "/var/lib",
    "CacheDirectory": "/var/cache",
    "LogsDirectory": "/var/log",
    "RuntimeDirectory": "/run",
}


class Access(StrEnum):
    WRITABLE = "writable"
    READ_ONLY = "read-only"
    INACCESSIBLE = "inaccessible"


@dataclass(frozen=True, slots=True)
class Rule:
    path: PurePosixPath
    access: Access
    why: str  # the setting that decides it, for the report
    listed: bool = False  # from ReadWritePaths=, ReadOnlyPaths= or InaccessiblePaths=
    optional: bool = False  # "-" prefix: systemd ignores it when the path does not exist


@dataclass(frozen=True, slots=True)
class Sandbox:
    files: tuple[Path, ...]  # the unit, then its drop-ins, as read
    user: str | None  # None: root (no User=)
    group: str | None
    supplementary_groups: tuple[str, ...]
    protect_system: str
    rules: tuple[Rule, ...]
    managed: tuple[PurePosixPath, ...] = ()  # StateDirectory= and friends

    def verdict(self, path: Path | PurePosixPath) -> Rule:
        """The rule that decides what the service's mount namespace lets it do at `path`
        (absolute): the most specific one, the later of two for the same path."""
        target = PurePosixPath(path)
        best = Rule(PurePosixPath("/"), Access.WRITABLE, "no ProtectSystem=")
        for rule in self.rules:
            inside = target == rule.path or rule.path in target.parents
            if inside and len(rule.path.parts) >= len(best.path.parts):
                best = rule
        return best

    def managed_dir(self, path: Path | PurePosixPath) -> PurePosixPath | None:
        """The StateDirectory= (or cache, logs, runtime) `path` is in: systemd creates it and
        chowns it, recursively, to User= at every start."""
        target = PurePosixPath(path)
        for managed in self.managed:
            if target == managed or managed in target.parents:
                return managed
        return None

    @property
    def listed_paths(self) -> tuple[Rule, ...]:
        """ReadWritePaths=, ReadOnlyPaths=, InaccessiblePaths= entries (they must exist
        unless prefixed with "-": systemd refuses to start the unit otherwise)."""
        return tuple(r for r in self.rules if r.listed)


def parse_unit(sources: Sequence[tuple[Path, str]]) -> Sandbox:
    """The [Service] settings of a unit file followed by its drop-ins, as systemd merges
    them: a later scalar wins, list settings accumulate, an empty assignment resets a list."""
    scalars: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    list_keys = {
        "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "SupplementaryGroups",
        *_MANAGED_ROOTS,
    }
    for _path, text in sources:
        for key, value in _service_assignments(text):
            if key in list_keys:
                if value:
                    lists.setdefault(key, []).extend(value.split())
                else:
                    lists[key] = []
            else:
                scalars[key] = value
    rules: list[Rule] = []
    protect_system = scalars.get("ProtectSystem", "no").lower()
    if protect_system == "strict":
        rules.append(Rule(PurePosixPath("/"), Access.READ_ONLY, "ProtectSystem=strict"))
        for api in ("/dev", "/proc", "/sys"):  # API file systems stay as they are
            rules.append(Rule(PurePosixPath(api), Access.WRITABLE, "ProtectSystem=strict"))
    elif protect_system in ("full", *_TRUE):
        read_only = ["/usr", "/boot", "/efi"] + (["/etc"] if protect_system == "full" else [])
        setting = f"ProtectSystem={protect_system}"
        rules += [Rule(PurePosixPath(p), Access.READ_ONLY, setting) for p in read_only]
    protect_home = scalars.get("ProtectHome", "no").lower()
    if protect_home not in _FALSE:
        home = Access.READ_ONLY if protect_home == "read-only" else Access.INACCESSIBLE
        rules += [
            Rule(PurePosixPath(p), home, f"ProtectHome={protect_home}")
            for p in ("/home", "/root", "/run/user")
        ]
    if scalars.get("PrivateTmp", "no").lower() in _TRUE:  # private, but writable
        private = ("/tmp", "/var/tmp")  # noqa: S108 - the unit's own private /tmp, named
        rules += [Rule(PurePosixPath(p), Access.WRITABLE, "PrivateTmp=yes") for p in private]
    managed = [
        Rule(PurePosixPath(root) / name, Access.WRITABLE, f"{key}={name}")
        for key, root in _MANAGED_ROOTS.items()
        for name in lists.get(key, [])
    ]
    rules += managed
    for key, access in (
        ("ReadWritePaths", Access.WRITABLE),
        ("ReadOnlyPaths", Access.READ_ONLY),
        ("InaccessiblePaths", Access.INACCESSIBLE),
    ):
        for entry in lists.get(key, []):
            optional = entry.startswith("-")
            path = PurePosixPath(entry.lstrip("-+"))
            rules.append(Rule(path, access, f"{key}=", listed=True, optional=optional))
    return Sandbox(
        files=tuple(path for path, _ in sources),
        user=scalars.get("User") or None,
        group=scalars.get("Group") or None,
        supplementary_groups=tuple(lists.get("SupplementaryGroups", [])),
        protect_system=protect_system,
        rules=tuple(rules),
        managed=tuple(r.path for r in managed),
    )


def _service_assignments(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):  # a continuation line
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line:
            key, value = line.split("=", 1)
            out.append((key.strip(), value.strip()))
    return out


def find_unit(dirs: Sequence[Path] = UNIT_DIRS) -> Path | None:
    """The installed vmsd.service systemd would use, if any."""
    return next((d / UNIT_NAME for d in dirs if (d / UNIT_NAME).is_file()), None)


def load_sandbox(unit: Path, *, installed: bool) -> Sandbox:
    """The unit and its drop-ins: `<unit>.d/*.conf` next to it and, for an installed unit,
    /etc/systemd/system/vmsd.service.d/ (where `systemctl edit` writes), by file name."""
    dirs = [unit.parent / f"{unit.name}.d"]
    if installed:
        dirs.append(UNIT_DIRS[0] / f"{UNIT_NAME}.d")
    drop_ins: dict[str, Path] = {}
    for directory in reversed(dirs):  # the same name in an earlier directory wins
        if directory.is_dir():
            drop_ins |= {p.name: p for p in directory.glob("*.conf")}
    files = [unit, *(drop_ins[name] for name in sorted(drop_ins))]
    return parse_unit([(path, path.read_text(encoding="utf-8")) for path in files])
