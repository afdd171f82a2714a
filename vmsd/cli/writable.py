"""Can the service write a directory (or create it)? Answered from the unit's sandbox and the
file modes, without writing anything: `vmsd doctor` changes nothing on disk.

The service's user is the unit's User= (with its groups, Group= and SupplementaryGroups=);
without a unit, the user running doctor. For another user the answer comes from the mode bits
(POSIX ACLs are not read); for the user running doctor, from access(2).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from vmsd.cli.sandbox import Access, Sandbox


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    uid: int
    gids: frozenset[int]


def current_identity() -> Identity:
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return Identity(name, uid, frozenset(os.getgroups()) | {os.getegid()})


def service_identity(sandbox: Sandbox) -> Identity:
    """User= (root when absent) with the groups systemd gives it. Raises LookupError naming a
    user or group that does not exist (systemd would refuse to start the unit)."""
    user = sandbox.user or "root"
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LookupError(f"User={user} does not exist") from None
    gids = set(os.getgrouplist(user, entry.pw_gid))
    for group in (*([sandbox.group] if sandbox.group else []), *sandbox.supplementary_groups):
        try:
            gids.add(grp.getgrnam(group).gr_gid)
        except KeyError:
            missing = f"group {group} (Group=, SupplementaryGroups=) does not exist"
            raise LookupError(missing) from None
    return Identity(user, entry.pw_uid, frozenset(gids))


def check_writable(
    path: Path, who: Identity | None, sandbox: Sandbox | None
) -> tuple[bool, str]:
    """(ok, detail) for the directory `path` the service writes into (created if missing).
    `who` None: the unit's user does not exist; only the sandbox is checked."""
    if sandbox is not None:
        verdict = sandbox.verdict(path)
        if verdict.access is not Access.WRITABLE:
            return False, (
                f"{path}: {verdict.access} for the service ({verdict.why} in "
                f"{sandbox.files[0]}): list it in ReadWritePaths= (systemctl edit vmsd)"
            )
        if who is None:
            return False, f"{path}: writable in the unit's sandbox; not checked for its user"
        managed = sandbox.managed_dir(path)
        if managed is not None:  # systemd makes it and chowns it to User= at every start
            return True, f"{path}: in {managed}, which systemd gives to {who.name} at start"
    if who is None:
        return False, f"{path}: not checked (the unit cannot be read)"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return False, f"{path}: {existing} is not a directory"
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        return False, f"{path}: {existing} is on a read-only file system"
    for ancestor in (*reversed(existing.parents), existing):
        if not _may(ancestor, who, os.X_OK):
            return False, f"{path}: {who.name} cannot enter {ancestor} ({_owner_mode(ancestor)})"
    if not _may(existing, who, os.W_OK | os.X_OK):
        where = "not writable" if existing == path else f"cannot be created in {existing}"
        return False, f"{path}: {where} by {who.name} ({_owner_mode(existing)})"
    if existing != path:
        return True, f"{path}: will be created by {who.name} (in {existing})"
    usage = os.statvfs(path)
    free_gib = usage.f_bavail * usage.f_frsize / 2**30
    return True, f"{path}: writable by {who.name}, {free_gib:.1f} GiB free"


def _may(path: Path, who: Identity, mode: int) -> bool:
    if who.uid == os.geteuid():
        return os.access(path, mode)
    if who.uid == 0:
        return True
    st = path.stat()
    if st.st_uid == who.uid:
        bits = st.st_mode >> 6
    elif st.st_gid in who.gids:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    wanted = (0o2 if mode & os.W_OK else 0) | (0o1 if mode & os.X_OK else 0)
    return bits & wanted == wanted


def _owner_mode(path: Path) -> str:
    st = path.stat()
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"owner {owner}:{group}, mode {stat.S_IMODE(st.st_mode):04o}"
