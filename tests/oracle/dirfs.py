"""A read-only faktory FileSystem over a host directory holding an image root (e.g. from `docker export`).

Symlinks are resolved inside the root, never on the host. Used by the oracle and by unit tests on small
hand-made trees.
"""

from __future__ import annotations

import os
import posixpath
import stat as st
from typing import BinaryIO, Iterator

from faktory.errors import SymlinkLoop
from faktory.image import BLOCK, CHAR, DIR, FIFO, FILE, SYMLINK, Entry


def _kind(mode: int) -> str:
    if st.S_ISLNK(mode):
        return SYMLINK
    if st.S_ISDIR(mode):
        return DIR
    if st.S_ISCHR(mode):
        return CHAR
    if st.S_ISBLK(mode):
        return BLOCK
    if st.S_ISFIFO(mode):
        return FIFO
    return FILE


class DirFileSystem:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.fspath(root)

    def _host(self, path: str) -> str:
        return self.root + path if path != "/" else self.root

    def resolve(self, path: str, _depth: int = 0, follow_last: bool = True) -> str:
        if _depth > 40:
            raise SymlinkLoop(f"symlink loop at {path}")
        cur = "/"
        parts = [p for p in posixpath.normpath("/" + path.lstrip("/")).split("/") if p]
        for i, name in enumerate(parts):
            if name == "..":
                cur = posixpath.dirname(cur)
                continue
            here = posixpath.join(cur, name)
            last = i == len(parts) - 1
            try:
                info = os.lstat(self._host(here))
            except OSError:
                return posixpath.join(here, *parts[i + 1:])
            if st.S_ISLNK(info.st_mode) and (follow_last or not last):
                target = os.readlink(self._host(here))
                cur = self.resolve(posixpath.join(cur, target), _depth + 1)
            else:
                cur = here
        return cur

    def entry(self, path: str) -> Entry | None:
        real = self.resolve(path, follow_last=False)
        try:
            info = os.lstat(self._host(real))
        except OSError:
            return None
        kind = _kind(info.st_mode)
        return Entry(
            path=real, kind=kind, mode=st.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid,
            size=info.st_size if kind == FILE else 0, mtime=int(info.st_mtime),
            linkname=os.readlink(self._host(real)) if kind == SYMLINK else "",
        )

    def stat(self, path: str) -> Entry | None:
        try:
            return self.entry(self.resolve(path))
        except SymlinkLoop:
            return None

    def read_bytes(self, path: str) -> bytes:
        with open(self._host(self.resolve(path)), "rb") as fh:
            return fh.read()

    def open(self, path: str) -> BinaryIO:
        return open(self._host(self.resolve(path)), "rb")

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self._host(self.resolve(path))))

    def walk(self, top: str = "/") -> Iterator[Entry]:
        first = self.entry(top)
        if first is None:
            return
        yield first
        if first.kind != DIR:
            return
        for name in self.listdir(first.path):
            yield from self.walk(posixpath.join(first.path, name))

    def shadowed(self) -> Iterator[Entry]:
        return iter(())
