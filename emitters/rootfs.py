"""The one minimal-rootfs builder every target shares.

Closure paths + the image's merged filesystem -> an ordered set of RootEntry values (parents before children),
then written as a cpio stream, a tar stream or a directory tree. Symlinks on the way (usrmerge `/lib64`,
`/usr/local/bin/python3`) are kept as symlinks and their targets pulled in; every path is resolved inside the
image root, never on the host. Modes are kept; hardlinks arrive as full files (the merged view has no hardlinks);
with `duplicates` set (--compact) the writers store identical files once, as hardlinks.
"""

from __future__ import annotations

import io
import itertools
import os
import posixpath
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from faktory.analyzers.model import Closure
from faktory.emitters.cpio import LinkGroup, NewcWriter
from faktory.fs import below
from faktory.image import CHAR, BLOCK, DIR, FILE, SYMLINK, Image

CHUNK = 1 << 20
MAX_LINK_DEPTH = 40


@dataclass(frozen=True, slots=True)  # one per output path: slots keep 200,000 of them small
class RootEntry:
    path: str  # absolute path in the output rootfs
    kind: str  # FILE | DIR | SYMLINK | CHAR | BLOCK
    mode: int = 0o755
    size: int = 0
    linkname: str = ""
    source: str | None = None  # image path the bytes come from
    data: bytes | None = None  # generated content
    host_path: str | None = None  # content rewritten on the host (--compact)
    rdev: tuple[int, int] = (0, 0)
    mtime: int = 0  # kept: CPython checks a cached .pyc against its source's mtime
    uid: int = 0  # the image's owner: an app run as the image's USER writes where the image lets it
    gid: int = 0


@dataclass(frozen=True)
class Layout:
    """Per-target rootfs rules."""

    exclude: Callable[[str], bool] = lambda path: False
    keep_devices: bool = False
    dirs: tuple[tuple[str, int], ...] = (("/tmp", 0o1777),)  # empty dirs the target wants to exist
    extra_paths: tuple[str, ...] = ()  # image paths the target's runtime reads itself (e.g. /etc/passwd for USER)
    bytecode_cache: bool = True  # ship the image's own __pycache__/*.pyc next to closure modules
    hardlinks: bool = True  # the target's unpacker links identical files (--compact stores them once)
    compact_notes: tuple[str, ...] = ()  # what --compact cannot do for this target, and why
    compressed: bool = False  # the output ships gzip'd (with --compact): files are weighed deflated


class Rootfs:
    def __init__(self, image: Image | None) -> None:
        self._image = image
        self.entries: dict[str, RootEntry] = {}
        self.skipped: list[str] = []  # "path: why"
        self.duplicates = None  # emitters.dedupe.Duplicates: identical files the writers store once

    def _link_group(self, entry: RootEntry) -> tuple[str, ...]:
        """The identical files `entry` is one of, in write order, while all of them are still files here."""
        group = self.duplicates.group(entry.path) if self.duplicates is not None else ()
        if len(group) > 1 and all(getattr(self.entries.get(p), "kind", None) == FILE for p in group):
            return group
        return ()

    @property
    def image(self) -> Image | None:
        return self._image

    # --- building -----------------------------------------------------------------------------------------
    def add(self, entry: RootEntry) -> None:
        parent = posixpath.dirname(entry.path)
        if entry.path != "/" and parent not in self.entries:
            self.add(RootEntry(parent, DIR, 0o755))
        self.entries[entry.path] = entry

    def remove(self, path: str) -> None:
        self.entries.pop(path, None)

    def sorted(self) -> list[RootEntry]:
        """Every entry in path-component order, which puts every parent before its children."""
        # A walk from the root with each directory's children sorted by name is that order, with sort keys for
        # one directory at a time rather than one string per entry (200,000 of them on a big data tree).
        kids: dict[str, list[RootEntry]] = {}
        for entry in self.entries.values():
            if entry.path != "/":
                kids.setdefault(posixpath.dirname(entry.path), []).append(entry)
        top = self.entries.get("/")
        out: list[RootEntry] = [top] if top is not None else []
        stack = [iter(self._by_name(kids.pop("/", [])))]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            out.append(entry)
            below = kids.pop(entry.path, None)
            if below:
                stack.append(iter(self._by_name(below)))
        if len(out) != len(self.entries):  # an entry whose parent was removed: the same order, by full keys
            return sorted(self.entries.values(), key=lambda e: e.path.strip("/").replace("/", "\0"))
        return out

    @staticmethod
    def _by_name(entries: list[RootEntry]) -> list[RootEntry]:
        entries.sort(key=lambda e: e.path[e.path.rfind("/") + 1:])
        return entries

    @property
    def payload_size(self) -> int:
        """File bytes as the writers store them: a hardlinked name's bytes count once."""
        total = sum(e.size for e in self.entries.values() if e.kind == FILE)
        return total - (self.duplicates.saved if self.duplicates is not None else 0)

    def relocated(self, mapping: Callable[[str], str | None]) -> "Rootfs":
        """A copy with every path renamed by `mapping` (None drops it); parents are recreated as dirs."""
        out = Rootfs(self._image)
        for entry in self.sorted():
            new = mapping(entry.path)
            if new is None:
                continue
            if new in out.entries and out.entries[new].kind == DIR and entry.kind == DIR:
                continue
            out.add(replace(entry, path=new))
        out.skipped = list(self.skipped)
        return out

    def resolve(self, path: str, depth: int = 0) -> str | None:
        """The symlink-free path `path` reaches inside this rootfs (None: dangling, a loop, or not here)."""
        real = "/"
        for name in path.strip("/").split("/"):
            if name in ("", "."):
                continue
            if name == "..":
                real = posixpath.dirname(real)
                continue
            candidate = posixpath.join(real, name)
            entry = self.entries.get(candidate)
            if entry is None or depth > MAX_LINK_DEPTH:
                return None
            if entry.kind == SYMLINK:
                base = "/" if entry.linkname.startswith("/") else real
                found = self.resolve(posixpath.join(base, entry.linkname), depth + 1)
                if found is None:
                    return None
                real = found
            else:
                real = candidate
        return real

    def flatten_symlinks(self) -> None:
        """Every symlink points straight at its final, symlink-free target (absolute): a runtime whose vfs
        follows one hop only (Unikraft 0.16's) then reaches every path, and nothing else changes."""
        for entry in list(self.entries.values()):
            if entry.kind == SYMLINK:
                target = self.resolve(entry.path)
                if target is not None and target != entry.path:
                    self.entries[entry.path] = replace(entry, linkname=target, size=len(target))

    # --- reading ------------------------------------------------------------------------------------------
    def chunks(self, entry: RootEntry) -> Iterator[bytes]:
        if entry.data is not None:
            yield entry.data
            return
        if entry.host_path is not None:
            with open(entry.host_path, "rb") as fh:
                yield from iter(lambda: fh.read(CHUNK), b"")
            return
        assert self._image is not None and entry.source is not None
        with self._image.fs.open(entry.source) as fh:
            yield from iter(lambda: fh.read(CHUNK), b"")

    def read_bytes(self, entry: RootEntry) -> bytes:
        return b"".join(self.chunks(entry))

    # --- writing ------------------------------------------------------------------------------------------
    def write_cpio(self, out: BinaryIO, *, skip_root: bool = True, close: bool = True,
                   prelude: Iterable[RootEntry] = ()) -> NewcWriter:
        """`prelude` entries go first, before the tree (unikraft's zero-filled padding entry)."""
        writer = NewcWriter(out)
        links: dict[str, LinkGroup] = {}
        with _LayerFiles(self._image) as layers:
            for entry in [*prelude, *self.sorted()]:
                self._write_newc(writer, entry, links, layers, skip_root)
        if close:
            writer.close()
        return writer

    def _write_newc(self, writer: NewcWriter, entry: RootEntry, links: dict[str, LinkGroup],
                    layers: "_LayerFiles", skip_root: bool) -> None:
        if entry.path == "/" and skip_root:
            return
        writer.mtime = entry.mtime
        writer.owner = (entry.uid, entry.gid)
        if entry.kind == DIR:
            writer.add_dir(entry.path, entry.mode)
        elif entry.kind == SYMLINK:
            writer.add_symlink(entry.path, entry.linkname)
        elif entry.kind == FILE and (group := self._link_group(entry)):
            if group[0] not in links:
                links[group[0]] = writer.new_link_group(len(group))
            link = links[group[0]]
            if entry.path == group[-1]:  # the data goes with the last name, as GNU cpio writes it
                self._write_data(writer, entry, layers, link)
            else:
                writer.add_link_name(entry.path, link, entry.mode)
        elif entry.kind == FILE:
            self._write_data(writer, entry, layers, None)
        elif entry.kind in (CHAR, BLOCK):
            writer.add_device(entry.path, entry.kind == CHAR, *entry.rdev, mode=entry.mode)

    def _write_data(self, writer: NewcWriter, entry: RootEntry, layers: "_LayerFiles", link) -> None:
        span = layers.span(entry) if entry.data is None and entry.host_path is None else None
        if span is not None:
            writer.add_file_span(entry.path, *span, entry.size, entry.mode, link=link)
        else:
            writer.add_file(entry.path, self.chunks(entry), entry.size, entry.mode, link=link)

    def write_tar(self, out: BinaryIO) -> None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for entry in self.sorted():
                if entry.path == "/":
                    continue
                info = tarfile.TarInfo(entry.path.lstrip("/"))
                info.mode = entry.mode & 0o7777
                info.mtime = entry.mtime
                info.uid, info.gid = entry.uid, entry.gid
                if entry.kind == DIR:
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif entry.kind == SYMLINK:
                    info.type = tarfile.SYMTYPE
                    info.linkname = entry.linkname
                    tar.addfile(info)
                elif entry.kind == FILE and (group := self._link_group(entry)) and group[0] != entry.path:
                    info.type = tarfile.LNKTYPE  # the first name carries the data
                    info.linkname = group[0].lstrip("/")
                    tar.addfile(info)
                elif entry.kind == FILE:
                    info.size = entry.size
                    tar.addfile(info, _ChunkReader(self.chunks(entry)))
                elif entry.kind in (CHAR, BLOCK):
                    info.type = tarfile.CHRTYPE if entry.kind == CHAR else tarfile.BLKTYPE
                    info.devmajor, info.devminor = entry.rdev
                    tar.addfile(info)
                tar.members.clear()  # a streamed tar never looks back: do not keep a TarInfo per member

    def write_tree(self, root: Path) -> None:
        """Materialise under a host directory (no device nodes; symlinks written verbatim, never followed)."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        dir_modes = []
        for entry in self.sorted():
            if entry.path == "/":
                continue
            dest = root / entry.path.lstrip("/")
            if entry.kind == DIR:
                dest.mkdir(exist_ok=True)
                dir_modes.append((dest, entry.mode))
            elif entry.kind == SYMLINK:
                os.symlink(entry.linkname, dest)
            elif entry.kind == FILE and (group := self._link_group(entry)) and group[0] != entry.path:
                os.link(root / group[0].lstrip("/"), dest)
            elif entry.kind == FILE:
                with open(dest, "wb") as fh:
                    for chunk in self.chunks(entry):
                        fh.write(chunk)
                os.chmod(dest, entry.mode & 0o7777)
                os.utime(dest, (entry.mtime, entry.mtime))
        for dest, mode in reversed(dir_modes):
            os.chmod(dest, (mode & 0o7777) | 0o700)


class _LayerFiles:
    """The layer tars a cpio's file data is copied from, each opened once for the whole archive."""

    def __init__(self, image: Image | None) -> None:
        self._blob = getattr(image.fs, "blob", None) if image is not None else None  # MergedFS: bytes in a tar
        self._fds: dict[str, int] = {}

    def span(self, entry: RootEntry) -> tuple[int, int] | None:
        """(descriptor, offset) of the entry's bytes in its layer tar, or None: read it the ordinary way."""
        if self._blob is None or entry.source is None or entry.size == 0:
            return None
        blob = self._blob(entry.source)
        if blob.size != entry.size or not blob.tar_path:
            return None
        fd = self._fds.get(blob.tar_path)
        if fd is None:
            fd = self._fds[blob.tar_path] = os.open(blob.tar_path, os.O_RDONLY | os.O_CLOEXEC)
        return fd, blob.offset

    def __enter__(self) -> "_LayerFiles":
        return self

    def __exit__(self, *exc) -> None:
        for fd in self._fds.values():
            os.close(fd)


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        if n < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data


def _link_target(link_path: str, linkname: str) -> str:
    base = "/" if linkname.startswith("/") else posixpath.dirname(link_path)
    return posixpath.normpath(posixpath.join(base, linkname)).replace("//", "/")


def materialise(image: Image, paths: Iterable[str], layout: Layout = Layout()) -> Rootfs:
    """Every path plus whatever makes it reachable: parent dirs (with their modes) and symlinks with targets."""
    fs = image.fs
    root = Rootfs(image)
    root.add(RootEntry("/", DIR, 0o755))
    seen: set[str] = set()

    def add_real_dir(path: str) -> None:
        if path in root.entries:
            return
        entry = fs.entry(path)
        if path != "/":
            add_real_dir(posixpath.dirname(path))
        root.add(RootEntry(path, DIR, entry.mode if entry else 0o755, uid=entry.uid if entry else 0,
                           gid=entry.gid if entry else 0))

    def add_path(path: str, depth: int) -> None:
        if not path.startswith("/") or "//" in path or "/." in path or (path.endswith("/") and path != "/"):
            path = posixpath.normpath("/" + path.lstrip("/"))  # else keep the closure's own string, no copy
        done = root.entries.get(path)
        if path in seen or (done is not None and done.kind == FILE) or depth > MAX_LINK_DEPTH:
            return
        seen.add(path)
        if path == "/":
            return
        parts = path.strip("/").split("/")
        real = "/"  # the real (symlink-free) directory reached so far
        for i, name in enumerate(parts):
            candidate = below(real, name)
            last = i == len(parts) - 1
            entry = fs.entry(candidate)
            if entry is None:
                root.skipped.append(f"{path}: not in the image")
                return
            if layout.exclude(candidate):
                return
            if entry.kind == SYMLINK:
                root.add(RootEntry(candidate, SYMLINK, 0o777, len(entry.linkname), entry.linkname,
                                   uid=entry.uid, gid=entry.gid))
                target = _link_target(candidate, entry.linkname)
                add_path(target, depth + 1)
                if last:
                    return
                try:
                    real = fs.resolve(candidate)
                except Exception:  # loop or escape: nothing more reachable through it
                    root.skipped.append(f"{path}: symlink {candidate} does not resolve")
                    return
                if not (fs.stat(real) and fs.stat(real).kind == DIR):
                    return
                add_real_dir(real)
                continue
            if entry.kind == DIR:
                add_real_dir(candidate)
                real = candidate
                continue
            if not last:
                root.skipped.append(f"{path}: {candidate} is not a directory")
                return
            if entry.kind == FILE:
                add_real_dir(real)
                candidate = entry.path if entry.path == candidate else candidate  # the image's string, no copy
                root.add(RootEntry(candidate, FILE, entry.mode, entry.size, source=candidate, mtime=entry.mtime,
                                   uid=entry.uid, gid=entry.gid))
                if candidate == path:  # root.entries now says it is done: seen stays small (dirs, links, misses)
                    seen.discard(path)
            elif entry.kind in (CHAR, BLOCK) and layout.keep_devices:
                root.add(RootEntry(candidate, entry.kind, entry.mode, rdev=(entry.devmajor, entry.devminor),
                                   uid=entry.uid, gid=entry.gid))
            else:
                root.skipped.append(f"{candidate}: {entry.kind} node left out")

    for p in itertools.chain(paths, [p for p in layout.extra_paths if fs.entry(p) is not None]):
        add_path(p, 0)
    for d, mode in layout.dirs:
        if d not in root.entries and not layout.exclude(d):
            existing = fs.entry(d)
            if existing is None or existing.kind == DIR:
                root.add(RootEntry(d, DIR, mode))
    for path in [p for p in root.entries if layout.exclude(p)]:
        root.remove(path)
    return root


def build_rootfs(image: Image, closure: Closure, layout: Layout = Layout()) -> Rootfs:
    paths = closure.paths()
    if layout.bytecode_cache:
        paths = paths + cached_bytecode(image, paths, closure.interpreter.version)
    return materialise(image, paths, layout)


def cached_bytecode(image: Image, paths: list[str], version: tuple[int, ...]) -> list[str]:
    """`__pycache__/<module>.cpython-XY.pyc` the image already has for closure modules: without them a
    read-only or fresh root recompiles every module at each start (seconds under emulation)."""
    tag = f"cpython-{version[0]}{version[1]}"
    listings: dict[str, set[str]] = {}
    out = []
    for path in paths:
        if not path.endswith(".py"):
            continue
        directory, name = posixpath.split(path)
        cache = posixpath.join(directory, "__pycache__")
        if cache not in listings:
            entry = image.fs.stat(cache)
            listings[cache] = set(image.fs.listdir(cache)) if entry is not None and entry.kind == DIR else set()
        for suffix in ("", ".opt-1", ".opt-2"):
            pyc = f"{name[:-3]}.{tag}{suffix}.pyc"
            if pyc in listings[cache]:
                out.append(posixpath.join(cache, pyc))
    return out

