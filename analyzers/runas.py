"""Who the app runs as: the image's `User` resolved against the image's own /etc/passwd and /etc/group, the way
`docker run` resolves it (runc's GetExecUser): `name|uid[:group|gid]`, supplementary groups from the group file
when no group is given, HOME from the passwd entry. Only reads files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from faktory.errors import FaktoryError

PASSWD = "/etc/passwd"
GROUP = "/etc/group"


class UnknownUser(FaktoryError):
    """The image's User names a user or group its own files do not have: `docker run` fails on it too."""


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int
    groups: tuple[int, ...] = ()  # supplementary groups, the primary one among them (as docker run sets them)
    home: str = "/"
    spec: str = ""  # the image's User as written

    def record(self) -> str:
        """`uid:gid:g1,g2`: the microVM init's launch line."""
        return f"{self.uid}:{self.gid}:" + ",".join(str(g) for g in self.groups)


def _rows(text: str | None, width: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        if line and not line.startswith("#"):
            fields = line.split(":")
            if len(fields) >= width:
                rows.append(fields)
    return rows


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 11 else None


def resolve_user(spec: str, read_text: Callable[[str], str | None]) -> RunAs | None:
    """The uid, gid, groups and home `spec` stands for in this image; None for root (nothing to change)."""
    spec = spec.strip()
    if not spec:
        return None
    user, _, group = spec.partition(":")
    uid_number = _number(user)
    entry = next((row for row in _rows(read_text(PASSWD), 7)
                  if row[0] == user or (uid_number is not None and _number(row[2]) == uid_number)), None)
    if entry is None and uid_number is None:
        raise UnknownUser(f"the image runs as USER {user!r}, which its {PASSWD} does not name "
                          "(docker run fails on it too)")
    uid = uid_number if entry is None else (_number(entry[2]) or 0)
    gid = 0 if entry is None else (_number(entry[3]) or 0)
    home = "/" if entry is None else (entry[5] or "/")
    groups: tuple[int, ...] = ()
    group_rows = _rows(read_text(GROUP), 4)
    if group:
        gid_number = _number(group)
        match = next((row for row in group_rows
                      if row[0] == group or (gid_number is not None and _number(row[2]) == gid_number)), None)
        if match is None and gid_number is None:
            raise UnknownUser(f"the image runs as USER {spec!r}, and its {GROUP} has no group {group!r} "
                              "(docker run fails on it too)")
        gid = gid_number if match is None else (_number(match[2]) or 0)
    elif entry is not None:
        groups = tuple(n for row in group_rows if entry[0] in row[3].split(",")
                       if (n := _number(row[2])) is not None)
    if uid == 0 and gid == 0 and not groups:
        return None
    return RunAs(uid, gid, tuple(sorted({gid, *groups})), home, spec)  # the primary group is one of them too
