"""Camera scopes: which cameras a principal (a user, an API token, a signed link) may see and
act on. Pure.

A scope is a list of entries, each `*` (every camera, present and future), a camera name, or
`group:<group>` (every camera carrying that group). The same scope decides the API, the event
stream, signed links and MediaMTX's auth requests (design.md, "One access rule").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from vmsd.core.names import CAMERA_NAME_PATTERN, is_camera_name

ALL = "*"
GROUP_PREFIX = "group:"
# A group is named like a camera (lower case, digits, `_`, `-`): it shows in URLs and YAML.
GROUP_NAME_PATTERN = CAMERA_NAME_PATTERN
_GROUP = re.compile(GROUP_NAME_PATTERN)
# One scope entry as the API documents it.
SCOPE_ENTRY_PATTERN = r"^(\*|(group:)?[a-z0-9][a-z0-9_-]{0,62})$"
MAX_SCOPE_ENTRIES = 1000


def is_group_name(name: str) -> bool:
    return _GROUP.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class CameraScope:
    everything: bool = False
    names: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> CameraScope:
        """Raises ValueError naming the first bad entry."""
        names: set[str] = set()
        groups: set[str] = set()
        everything = False
        for count, entry in enumerate(entries, start=1):
            if count > MAX_SCOPE_ENTRIES:
                raise ValueError(f"at most {MAX_SCOPE_ENTRIES} entries")
            if entry == ALL:
                everything = True
            elif entry.startswith(GROUP_PREFIX) and is_group_name(entry[len(GROUP_PREFIX) :]):
                groups.add(entry[len(GROUP_PREFIX) :])
            elif is_camera_name(entry):
                names.add(entry)
            else:
                raise ValueError(
                    f"{entry[:80]!r} is not '*', a camera name or 'group:<name>' "
                    "(lower case letters, digits, '_' and '-')"
                )
        if everything:
            return EVERY_CAMERA
        return cls(False, frozenset(names), frozenset(groups))

    def allows(self, camera: str, camera_groups: Iterable[str] = ()) -> bool:
        if self.everything or camera in self.names:
            return True
        return bool(self.groups) and not self.groups.isdisjoint(camera_groups)

    def covers(self, other: CameraScope) -> bool:
        """Every camera `other` may ever allow, this scope allows too: what a principal may
        grant (a scoped admin cannot hand out `*` or a group it does not hold). A name is
        covered only when listed here: a group's members change, so holding a group that
        holds a camera today does not cover that camera's name."""
        if self.everything:
            return True
        if other.everything:
            return False
        return other.names <= self.names and other.groups <= self.groups

    def entries(self) -> list[str]:
        """The stored and documented form: sorted, `*` alone when it holds everything."""
        if self.everything:
            return [ALL]
        return sorted(self.names) + sorted(GROUP_PREFIX + g for g in self.groups)

    @property
    def is_empty(self) -> bool:
        return not (self.everything or self.names or self.groups)


EVERY_CAMERA = CameraScope(everything=True)
NO_CAMERA = CameraScope()
