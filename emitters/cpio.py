"""A newc ("070701") cpio writer: the initramfs format of Linux and Unikraft's initrd.

Regular files, directories, symlinks (and, for Linux, device nodes). Hardlinks (`link_group`) only for Linux:
its initramfs unpacker links every name of an (ino, nlink > 1) group to the first one and writes the data
wherever it comes, so GNU cpio's habit, data on the last name only, unpacks right there and with `cpio -i`.
Unikraft's ukcpio (0.16 to 0.17) ignores ino and nlink and extracts each name as its own file: the names
before the last would be empty, so its callers write full files.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO, Iterable

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
MAX_ID = 0xFFFFFFFF  # newc's 8 hex digits; a layer tar's PAX uid can be longer
MAX_SIZE = 0xFFFFFFFF  # newc sizes are 32-bit hex fields


class CpioError(ValueError):
    pass


def _pad(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


@dataclass(frozen=True)
class LinkGroup:
    ino: int
    count: int


class NewcWriter:
    """Streams entries to `out`. Names are written relative to '/' ("usr/bin/python3"), as both loaders expect."""

    def __init__(self, out: BinaryIO, *, mtime: int = 0) -> None:
        self._out = out
        self._ino = 0
        self.mtime = mtime  # applied to the entries written next
        self.owner = (0, 0)  # uid, gid: applied to the entries written next
        self._closed = False
        self.written = 0

    def _header(self, name: str, mode: int, size: int, *, nlink: int = 1, rdev: tuple[int, int] = (0, 0),
                ino: int | None = None) -> None:
        if size > MAX_SIZE:
            raise CpioError(f"{name}: {size} bytes does not fit a newc entry (32-bit size)")
        if ino is None:
            self._ino += 1
            ino = self._ino
        raw_name = name.encode("utf-8", "surrogateescape") + b"\0"
        uid, gid = (0, 0) if name == TRAILER else (min(self.owner[0], MAX_ID), min(self.owner[1], MAX_ID))
        fields = (ino, mode, uid, gid, nlink, self.mtime, size, 0, 0, rdev[0], rdev[1], len(raw_name), 0)
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

    def add_file(self, path: str, data: bytes | Iterable[bytes], size: int | None = None, mode: int = 0o644,
                 link: "LinkGroup | None" = None) -> None:
        """`data` is bytes or an iterable of chunks totalling `size` bytes."""
        if isinstance(data, (bytes, bytearray)):
            size = len(data)
            chunks: Iterable[bytes] = (bytes(data),)
        elif size is None:
            raise CpioError(f"{path}: size required for streamed content")
        else:
            chunks = data
        if link is None:
            self._header(self._name(path), stat.S_IFREG | (mode & 0o7777), size)
        else:
            self._header(self._name(path), stat.S_IFREG | (mode & 0o7777), size, nlink=link.count, ino=link.ino)
        got = 0
        for chunk in chunks:
            got += len(chunk)
            self._write(chunk)
        if got != size:
            raise CpioError(f"{path}: announced {size} bytes, got {got}")
        self._write(_pad(size))

    def add_file_span(self, path: str, fd: int, offset: int, size: int, mode: int = 0o644,
                      link: "LinkGroup | None" = None) -> None:
        """`add_file` of the `size` bytes at `offset` of the open file `fd` (a layer tar): into a seekable output
        file the kernel copies them (sendfile), none passing through Python."""
        nlink, ino = (link.count, link.ino) if link is not None else (1, None)
        self._header(self._name(path), stat.S_IFREG | (mode & 0o7777), size, nlink=nlink, ino=ino)
        out_fd = self._output_fd()
        done = 0
        while done < size:
            if out_fd is not None:
                try:
                    got = os.sendfile(out_fd, fd, offset + done, size - done)
                except OSError:  # a filesystem without it: the rest through Python
                    out_fd = None
                    self._out.seek(0, io.SEEK_END)
                    continue
            else:
                data = os.pread(fd, min(size - done, 1 << 20), offset + done)
                self._out.write(data)
                got = len(data)
            if got == 0:
                raise CpioError(f"{path}: announced {size} bytes, got {done}")
            done += got
        if out_fd is not None:
            self._out.seek(0, io.SEEK_END)  # the buffered writer's position, past what the kernel wrote
        self.written += size
        self._write(_pad(size))

    def _output_fd(self) -> int | None:
        """The output's descriptor, its buffer flushed, when sendfile may append to it: a plain file opened
        "wb" (never a wrapper such as GzipFile, whose fileno() is the compressed file's)."""
        out = self._out
        if not (isinstance(out, io.BufferedWriter) and isinstance(out.raw, io.FileIO)):
            return None
        try:
            if not out.seekable():
                return None
            fd = out.fileno()
        except (OSError, io.UnsupportedOperation):
            return None
        self._out.flush()
        return fd

    def new_link_group(self, count: int) -> "LinkGroup":
        """One inode for `count` names, to pass to `add_file(link=...)` for each of them."""
        self._ino += 1
        return LinkGroup(self._ino, count)

    def add_link_name(self, path: str, link: "LinkGroup", mode: int = 0o644) -> None:
        """A name of `link` without data: the group's last name (an `add_file`) carries it."""
        self._header(self._name(path), stat.S_IFREG | (mode & 0o7777), 0, nlink=link.count, ino=link.ino)

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
