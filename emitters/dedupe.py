"""Identical files of a rootfs found once, so a writer can store their bytes once (--compact).

Two files are one inode when their bytes, mode and mtime agree (a hardlink shares all three; CPython checks a
cached .pyc against its source's mtime, so mtime must not change). Files are bucketed by (size, mode, mtime)
and only buckets of two or more are hashed: most files have no twin and are never read here.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

from faktory.emitters.rootfs import Rootfs
from faktory.image import FILE


@dataclass(frozen=True)
class Duplicates:
    """`groups`: every set of identical files, each in the order the writers emit them (sorted paths)."""

    groups: tuple[tuple[str, ...], ...] = ()
    saved: int = 0  # payload bytes stored once instead of len(group) times
    _of: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def group(self, path: str) -> tuple[str, ...]:
        return self._of.get(path, ())

    @property
    def files(self) -> int:
        return sum(len(g) - 1 for g in self.groups)


def find_duplicates(rootfs: Rootfs) -> Duplicates:
    buckets: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    for entry in rootfs.entries.values():
        if entry.kind == FILE and entry.size > 0:
            buckets[(entry.size, entry.mode & 0o7777, entry.mtime)].append(entry.path)
    groups = []
    for (size, _, _), paths in buckets.items():
        if len(paths) < 2:
            continue
        by_digest: dict[bytes, list[str]] = defaultdict(list)
        for path in paths:
            digest = hashlib.sha256()
            for chunk in rootfs.chunks(rootfs.entries[path]):
                digest.update(chunk)
            by_digest[digest.digest()].append(path)
        groups += [tuple(sorted(same, key=_write_order)) for same in by_digest.values() if len(same) > 1]
    groups.sort()
    saved = sum(rootfs.entries[g[0]].size * (len(g) - 1) for g in groups)
    return Duplicates(tuple(groups), saved, {path: g for g in groups for path in g})


def _write_order(path: str) -> str:
    return path.strip("/").replace("/", "\0")  # the order of Rootfs.sorted()
