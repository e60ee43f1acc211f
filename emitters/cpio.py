"""A newc ("070701") cpio writer: the initramfs format of Linux and Unikraft's initrd.

Only what both loaders accept: regular files, directories, symlinks (and, for Linux, device nodes).
Hardlinks are never emitted as such (Unikraft extracts the first name empty); callers write full files.
"""

from __future__ import annotations

import stat
from typing import BinaryIO, Iterable

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
MAX_SIZE = 0xFFFFFFFF  # newc sizes are 32-bit hex fields


class CpioError(ValueError):
    pass


def _pad(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


class NewcWriter:
    """Streams entries to `out`. Names are written relative to '/' ("usr/bin/python3"), as both loaders expect."""

    def __init__(self, out: BinaryIO, *, mtime: int = 0) -> None:
        self._out = out
        self._ino = 0
        self.mtime = mtime  # applied to the entries written next
        self._closed = False
        self.written = 0

    def _header(self, name: str, mode: int, size: int, *, nlink: int = 1, rdev: tuple[int, int] = (0, 0),
                uid: int = 0, gid: int = 0) -> None:
        if size > MAX_SIZE:
            raise CpioError(f"{name}: {size} bytes does not fit a newc entry (32-bit size)")
        self._ino += 1
        raw_name = name.encode("utf-8", "surrogateescape") + b"\0"
        fields = (self._ino, mode, uid, gid, nlink, self.mtime, size, 0, 0, rdev[0], rdev[1], len(raw_name), 0)
        head = MAGIC + b"".join(b"%08X" % f for f in fields)
        self._write(head + raw_name + _pad(len(head) + len(raw_name)))

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.written += len(data)

    @staticmethod
    def _name(path: str) -> str:
        name = path.strip("/")
        return name or "."

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        self._header(self._name(path), stat.S_IFDIR | (mode & 0o7777), 0, nlink=2)

    def add_symlink(self, path: str, target: str) -> None:
        data = target.encode("utf-8", "surrogateescape")
        self._header(self._name(path), stat.S_IFLNK | 0o777, len(data))
        self._write(data + _pad(len(data)))

    def add_file(self, path: str, data: bytes | Iterable[bytes], size: int | None = None, mode: int = 0o644) -> None:
        """`data` is bytes or an iterable of chunks totalling `size` bytes."""
        if isinstance(data, (bytes, bytearray)):
            size = len(data)
            chunks: Iterable[bytes] = (bytes(data),)
        elif size is None:
            raise CpioError(f"{path}: size required for streamed content")
        else:
            chunks = data
        self._header(self._name(path), stat.S_IFREG | (mode & 0o7777), size)
        got = 0
        for chunk in chunks:
            got += len(chunk)
            self._write(chunk)
        if got != size:
            raise CpioError(f"{path}: announced {size} bytes, got {got}")
        self._write(_pad(size))

    def add_device(self, path: str, char: bool, major: int, minor: int, mode: int = 0o600) -> None:
        kind = stat.S_IFCHR if char else stat.S_IFBLK
        self._header(self._name(path), kind | (mode & 0o7777), 0, rdev=(major, minor))

    def close(self) -> None:
        """Write the trailer; the archive is padded to 512 bytes like GNU cpio does."""
        if self._closed:
            return
        self._header(TRAILER, 0, 0, nlink=1)
        self._write(b"\0" * ((512 - self.written % 512) % 512))
        self._closed = True

    def __enter__(self) -> "NewcWriter":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
