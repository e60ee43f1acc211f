"""The merged filesystem of an image: every layer applied in order, whiteouts honoured, read lazily.

Nothing is extracted to disk. Each layer is an indexed tar (see faktory.cache.LayerIndex): the merge only
walks the indexes; file contents are read from the layer tar at the recorded offset when asked.
Paths are resolved component by component strictly inside the image root: an absolute symlink target or
a `..` at the root never reaches the host.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Iterable, Iterator

from faktory.errors import InvalidImage, SymlinkLoop, UnsafePath
from faktory.image import DIR, FILE, SYMLINK, Entry

if TYPE_CHECKING:
    from faktory.cache import LayerIndex

MAX_SYMLINKS = 40  # what Linux allows in one path walk (ELOOP beyond)
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
HARDLINK = "hardlink"  # kind used only inside layer indexes


@dataclass(frozen=True, slots=True)
class Blob:
    """Where an entry's bytes live: a byte range of an uncompressed layer tar."""

    tar_path: str
    offset: int
    size: int


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def normalize(path: str) -> str:
    """Absolute, no trailing slash, `..` clamped at the root (how a chroot sees it)."""
    parts: list[str] = []
    for part in _split(path):
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def below(directory: str, name: str) -> str:
    """posixpath.join for a real directory and one plain name, without its generality (hot in lookups)."""
    return directory + "/" + name if directory != "/" else "/" + name


def _parent(path: str) -> str:
    return path[: path.rfind("/")] or "/"


ROOT = Entry(path="/", kind=DIR, mode=0o755)


class MergedFS:
    """Implements faktory.image.FileSystem over a stack of indexed layers."""

    def __init__(self, layers: Iterable["LayerIndex"]):
        # One Entry per path and, per directory, the set of its children's paths: the same string objects as
        # the keys of _entries, so a path is stored once however many maps name it (200,000-file layers).
        self._entries: dict[str, Entry] = {"/": ROOT}
        self._kids: dict[str, set[str]] = {"/": set()}  # directory -> paths directly below it (a tuple once merged)
        self._tars: list[str] = []  # layer number -> its tar; a file's bytes are at (its layer's tar, offset)
        self._shadowed: list[Entry] = []
        for number, layer in enumerate(layers):
            self._tars.append(layer.tar_path)
            self._apply(number, layer)
        kids = self._kids
        for path, names in kids.items():  # merged: a tuple is one pointer a child, a set's table several
            kids[path] = tuple(names)  # type: ignore[assignment]

    # ----------------------------------------------------------------- building

    def _apply(self, number: int, layer: "LayerIndex") -> None:
        # Whiteouts hide what lower layers hold, never what this same layer adds (OCI image spec).
        additions = []
        for rec in layer.entries:
            base = posixpath.basename(rec.path)
            if base == OPAQUE:
                self._clear_below(self._place(_parent(rec.path)), keep_top=True)
            elif base.startswith(WHITEOUT):
                if base.startswith(".wh..wh."):
                    continue  # aufs bookkeeping (.wh..wh.plnk …), not a deletion
                target = self._place(posixpath.join(_parent(rec.path), base[len(WHITEOUT):]))
                self._clear_below(target, keep_top=False)
            else:
                additions.append(rec)
        for rec in additions:
            self._add(number, layer, rec)

    def _place(self, path: str) -> str:
        """Where a layer entry lands: its parent dirs resolved inside the root, the last name kept."""
        parent = _parent(path)
        if parent == "/":
            return path
        known = self._entries.get(parent)
        if known is not None and known.kind == DIR:
            return path  # every key is a real path, so a directory key needs no resolving
        real_parent = self.resolve(parent)
        return posixpath.join(real_parent, posixpath.basename(path))

    def _clear_below(self, path: str, keep_top: bool) -> None:
        """Remove what is below `path` (and `path` itself unless keep_top), recording it as shadowed."""
        if path == "/" and not keep_top:
            return
        top = self._entries.get(path)
        if top is None:
            return
        stack = list(self._kids.get(path, ()))
        while stack:  # only the subtree is visited, however large the image
            p = stack.pop()
            stack.extend(self._kids.pop(p, ()))
            self._shadowed.append(self._entries.pop(p))
        if top.kind == DIR:
            self._kids[path] = set()
        if not keep_top:
            self._shadowed.append(self._entries.pop(path))
            self._kids.pop(path, None)
            self._kids[_parent(path)].discard(path)

    def _link(self, path: str, entry: Entry) -> None:
        self._entries[path] = entry
        self._kids[_parent(path)].add(path)
        if entry.kind == DIR:
            self._kids.setdefault(path, set())

    def _ensure_parents(self, path: str, number: int) -> None:
        missing = []
        parent = _parent(path)
        while parent not in self._entries:
            missing.append(parent)
            parent = _parent(parent)
        if self._entries[parent].kind != DIR:
            raise InvalidImage(f"layer {number}: {path} is written below {parent}, which is not a directory")
        for p in reversed(missing):  # implied by the tar but not listed: docker creates them 0755
            self._link(p, Entry(path=p, kind=DIR, mode=0o755, layer=number))

    def _add(self, number: int, layer: "LayerIndex", rec) -> None:
        path = rec.path
        parent_entry = self._entries.get(_parent(path))
        parent_ok = parent_entry is not None and parent_entry.kind == DIR  # the common case: nothing to resolve
        if not parent_ok:
            try:
                path = self._place(rec.path)
            except SymlinkLoop as exc:
                raise InvalidImage(f"layer {number}: {rec.path} is written through a symlink loop") from exc
        kind, size, mode, linkname, offset = rec.kind, rec.size, rec.mode, rec.linkname, rec.offset
        if kind == HARDLINK:
            target = self._place(normalize(rec.linkname))
            if target == path:
                return  # a link to itself: nothing changes
            existing = self._entries.get(target)
            if existing is None or existing.kind in (DIR, SYMLINK):
                raise UnsafePath(
                    f"layer {number}: hardlink {rec.path} points at {rec.linkname!r}, which is not a file in the layers"
                )
            kind, size, linkname, offset = existing.kind, existing.size, "", existing.offset
            mode = existing.mode
            number_for_content = existing.layer
        else:
            number_for_content = number
        old = self._entries.get(path)
        if old is not None:
            if old.kind == DIR and kind == DIR:
                pass  # a directory re-declared: attributes change, contents stay
            else:
                self._clear_below(path, keep_top=False)
        elif not parent_ok:
            self._ensure_parents(path, number)
        self._link(path, Entry(
            path=path, kind=kind, mode=mode, uid=rec.uid, gid=rec.gid, size=size, mtime=rec.mtime,
            linkname=linkname, layer=number_for_content, devmajor=rec.devmajor, devminor=rec.devminor,
            offset=offset if kind == FILE else 0,
        ))

    # ----------------------------------------------------------------- lookups

    def _walk_path(self, path: str, follow_last: bool, budget: list[int]) -> str:
        """Resolve `path` inside the root; `budget` counts symlinks followed across the whole walk."""
        resolved = "/"
        pending = _split(path)
        pending.reverse()
        while pending:
            name = pending.pop()
            if name == "..":
                resolved = _parent(resolved)
                continue
            candidate = below(resolved, name)
            entry = self._entries.get(candidate)
            if entry is not None and entry.kind == SYMLINK and (pending or follow_last):
                budget[0] -= 1
                if budget[0] < 0:
                    raise SymlinkLoop(f"too many levels of symbolic links resolving {path!r} in the image")
                target = entry.linkname
                if target.startswith("/"):
                    resolved = "/"
                more = _split(target)
                more.reverse()
                pending.extend(more)
                continue
            resolved = candidate
        return resolved

    def _known(self, path: str) -> tuple[bool, Entry | None]:
        """(True, its entry or None) when `path` needs no walk: a key (every key is a real path, below real
        directories) or a plain name missing from a real directory. Most lookups are one of the two."""
        entry = self._entries.get(path)
        if entry is not None:
            return True, entry
        cut = path.rfind("/")
        if cut < 0 or (cut and path[cut - 1] == "/"):
            return False, None  # relative, or "//name": only the walk normalizes those
        parent = self._entries.get(path[:cut] or "/")
        name = path[cut + 1:]
        return parent is not None and parent.kind == DIR and name not in ("", ".", ".."), None

    def resolve(self, path: str) -> str:
        known, entry = self._known(path)
        if known and (entry is None or entry.kind != SYMLINK):
            return path
        return self._walk_path(path, follow_last=True, budget=[MAX_SYMLINKS])

    def entry(self, path: str) -> Entry | None:
        known, entry = self._known(path)
        if known:
            return entry
        parts = _split(path)
        if not parts or parts == [".."] * len(parts):
            return self._entries["/"]
        try:
            parent = self._walk_path("/".join(parts[:-1]), follow_last=True, budget=[MAX_SYMLINKS])
        except SymlinkLoop:
            return None  # a path through a loop names nothing (os.lstat: ELOOP)
        last = parts[-1]
        if last == "..":
            return self._entries.get(_parent(parent))
        return self._entries.get(posixpath.join(parent, last))

    def stat(self, path: str) -> Entry | None:
        """The entry `path` finally points at; None if missing or if resolving it runs into a loop."""
        try:
            return self._entries.get(self.resolve(path))
        except SymlinkLoop:
            return None

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def blob(self, path: str) -> Blob:
        real = self.resolve(path)
        entry = self._entries.get(real)
        if entry is None:
            raise FileNotFoundError(path)
        if entry.kind != FILE:
            raise IsADirectoryError(path) if entry.kind == DIR else OSError(f"{path} is not a regular file")
        if entry.size == 0 or not 0 <= entry.layer < len(self._tars):
            return Blob("", 0, 0)
        return Blob(self._tars[entry.layer], entry.offset, entry.size)

    def read_bytes(self, path: str) -> bytes:
        blob = self.blob(path)
        if blob.size == 0:
            return b""
        with open(blob.tar_path, "rb") as fh:
            fh.seek(blob.offset)
            data = fh.read(blob.size)
        if len(data) != blob.size:
            raise InvalidImage(f"cached layer {blob.tar_path} is truncated")
        return data

    def open(self, path: str) -> BinaryIO:
        blob = self.blob(path)
        if blob.size == 0:
            return io.BytesIO(b"")
        return _RangeReader(blob)

    def listdir(self, path: str) -> list[str]:
        real = self.resolve(path)
        entry = self._entries.get(real)
        if entry is None:
            raise FileNotFoundError(path)
        if entry.kind != DIR:
            raise NotADirectoryError(path)
        cut = len(real) + 1 if real != "/" else 1
        return sorted(p[cut:] for p in self._kids.get(real, ()))

    def walk(self, top: str = "/") -> Iterator[Entry]:
        start = self.entry(top)
        if start is None:
            return
        children = self._kids
        stack = [start.path]
        while stack:
            path = stack.pop()
            yield self._entries[path]
            names = children.get(path)
            if names:
                stack.extend(sorted(names, reverse=True))

    def shadowed(self) -> Iterator[Entry]:
        return iter(self._shadowed)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: str) -> bool:
        return self.entry(path) is not None


class _RangeReader(io.RawIOBase):
    """A read-only file over one member's bytes inside a layer tar."""

    def __init__(self, blob: Blob):
        self._fh = open(blob.tar_path, "rb")
        self._start, self._size, self._pos = blob.offset, blob.size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int | None = -1) -> bytes:  # not RawIOBase's: it zero-fills a `size` buffer per call
        if size is None or size < 0:
            return self.readall()
        want = min(size, self._size - self._pos)
        if want <= 0:
            return b""
        self._fh.seek(self._start + self._pos)
        data = self._fh.read(want)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:  # one read for the rest, not a loop of small ones
        self._fh.seek(self._start + self._pos)
        data = self._fh.read(max(0, self._size - self._pos))
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        self._fh.seek(self._start + self._pos)
        data = self._fh.read(want)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()
