"""Content-addressed layer cache, keyed by diff_id (the sha256 of the uncompressed layer tar).

Each layer is streamed once: decompressed and hashed on the fly, written as a plain tar, then indexed
(one record per member with the byte offset of its data). A warm load reads only the small index; file
contents are read from the tar by offset when someone asks. A base layer shared by many images is stored
and read once.

Layout under the cache dir (platformdirs user cache, or $FAKTORY_CACHE_DIR):
    v1/layers/<hex>.tar         uncompressed layer, named by diff_id
    v1/layers/<hex>.json        its index (written last: its presence means the entry is complete)
    v1/blobs/<hex>              compressed blob digest -> diff_id (one line)
    v1/configs/<hex>.json       config blobs by digest (lets a daemon image load without `docker save`)
    v1/manifests/<hex>.json     manifests and indexes by digest (a registry tag that still names one loads
                                after a single HEAD)
    v1/stripped/<key>.elf|json  what `strip` made of an ELF file (emitters.stripcache)
Writers go through a temp file + os.replace, so a reader never sees half an entry; a file lock per key
keeps two processes (or threads) from doing the same work twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import posixpath
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from platformdirs import user_cache_dir

from faktory.digests import hex_of
from faktory.limits import MiB, LimitExceeded, limits
from faktory.units import human_bytes
from faktory.errors import DigestMismatch, FaktoryError, InvalidImage, UnsafePath
from faktory.sources.blobs import stream_layer
from faktory.sources.tarindex import members

INDEX_FORMAT = 1
USE_RESOLUTION_S = 60  # a layer's last-use time is refreshed at most this often


class CacheUnavailable(FaktoryError):
    """The cache directory cannot be created or written ($FAKTORY_CACHE_DIR, disk full, permissions)."""
CHUNK = 1 << 20

@dataclass(frozen=True, slots=True)  # one per tar member: slots halve it on layers with many files
class Record:
    """One tar member of a layer, its name normalised relative to the image root."""

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    linkname: str
    offset: int
    devmajor: int = 0
    devminor: int = 0


@dataclass(frozen=True)
class LayerIndex:
    diff_id: str
    tar_path: str
    size: int  # uncompressed bytes
    entries: tuple[Record, ...]
    members: int | None = None  # set on a summary whose records were dropped (see summary)

    @property
    def count(self) -> int:
        return len(self.entries) if self.members is None else self.members

    def summary(self) -> "LayerIndex":
        """The same layer without its records: once merged, the merged view holds what they said."""
        return LayerIndex(self.diff_id, self.tar_path, self.size, (), self.count)


def default_cache_dir() -> Path:
    env = os.environ.get("FAKTORY_CACHE_DIR")
    if env:
        return Path(env)
    return Path(user_cache_dir("faktory"))


def _hex(digest: str) -> str:
    return hex_of(digest)


def member_path(name: str, layer_label: str) -> str:
    """A tar member name as an absolute image path; `..` climbing above the root is refused."""
    stripped = name.lstrip("/")
    if not stripped or stripped in (".", "./"):
        return "/"
    norm = posixpath.normpath(stripped)
    if norm == ".." or norm.startswith("../"):
        raise UnsafePath(f"{layer_label}: entry {name!r} climbs above the image root")
    return "/" if norm == "." else "/" + norm


class LayerCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.base = self.root / "v1"
        try:
            for sub in ("layers", "blobs", "configs", "manifests", "stripped", "tmp", "locks"):
                (self.base / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailable(f"cannot use the layer cache at {self.root}: {exc.strerror or exc}") from None

    # ---------------------------------------------------------------- lookups

    def layer_paths(self, diff_id: str) -> tuple[Path, Path]:
        """(tar, index) of a layer's cache entry; the index is written last and removed first."""
        hexd = _hex(diff_id)
        return self.base / "layers" / f"{hexd}.tar", self.base / "layers" / f"{hexd}.json"

    def get(self, diff_id: str) -> LayerIndex | None:
        tar_path, index_path = self.layer_paths(diff_id)
        try:
            raw = json.loads(index_path.read_text())
        except (OSError, ValueError):
            return None
        try:
            if raw.get("format") != INDEX_FORMAT or not tar_path.exists():
                return None
            rows = raw.pop("entries")
            rows.reverse()  # popped as they are turned into Records: the JSON rows never all stay beside them
            shared: dict = {}
            entries = tuple(_record(rows.pop(), shared) for _ in range(len(rows)))
            ix = LayerIndex(diff_id=diff_id, tar_path=str(tar_path), size=int(raw["size"]), entries=entries)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            return None  # damaged or foreign: ingest the layer again
        _mark_used(index_path)
        return ix

    def diff_id_for_blob(self, blob_digest: str) -> str | None:
        try:
            return (self.base / "blobs" / _hex(blob_digest)).read_text().strip() or None
        except OSError:
            return None

    def get_config(self, digest: str) -> bytes | None:
        return self._get_json("configs", digest)

    def put_config(self, digest: str, data: bytes) -> None:
        self._put_json("configs", digest, data)

    def get_manifest(self, digest: str) -> bytes | None:
        return self._get_json("manifests", digest)

    def put_manifest(self, digest: str, data: bytes) -> None:
        self._put_json("manifests", digest, data)

    def holds_manifests(self) -> bool:
        with os.scandir(self.base / "manifests") as entries:
            return any(True for _ in entries)

    def _get_json(self, kind: str, digest: str) -> bytes | None:
        try:
            return (self.base / kind / f"{_hex(digest)}.json").read_bytes()
        except OSError:
            return None

    def _put_json(self, kind: str, digest: str, data: bytes) -> None:
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise DigestMismatch(f"{kind[:-1]} blob does not match its digest {digest}")
        self._write_atomic(self.base / kind / f"{_hex(digest)}.json", data)

    def lock(self, key: str, blocking: bool = True) -> "FileLock":
        return FileLock(self.base / "locks" / f"{_hex(key)}.lock", blocking)

    # ---------------------------------------------------------------- writing

    def _write_atomic(self, dest: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.base / "tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
        except BaseException:
            _unlink(tmp)
            raise

    def _remember_blob(self, blob_digest: str | None, diff_id: str) -> None:
        if blob_digest is not None and blob_digest != diff_id:
            if self.diff_id_for_blob(blob_digest) != diff_id:
                self._write_atomic(self.base / "blobs" / _hex(blob_digest), diff_id.encode())

    def used_bytes(self) -> int:
        """Bytes held by cached layer tars and stripped ELF files (emitters.stripcache): what the quota counts."""
        total = 0
        for sub, suffix in (("layers", ".tar"), ("stripped", ".elf")):
            with os.scandir(self.base / sub) as entries:
                for entry in entries:
                    if entry.name.endswith(suffix):
                        try:
                            total += entry.stat().st_size
                        except OSError:
                            pass  # pruned meanwhile
        return total

    def _limit_check(self, label: str):
        """The limits one layer is streamed under (faktory.limits): its uncompressed size, its compression
        ratio, the cache's quota and the free space of its filesystem. Past one: one line, nothing kept."""
        lim = limits()
        used = self.used_bytes() if lim.cache_quota_bytes else 0
        next_free_check = 0

        def check(out_bytes: int, in_bytes: int) -> None:
            nonlocal next_free_check
            if lim.max_layer_bytes and out_bytes > lim.max_layer_bytes:
                raise LimitExceeded(f"{label}: uncompressed layer exceeds the {human_bytes(lim.max_layer_bytes)} "
                                    "limit (FAKTORY_MAX_LAYER_SIZE)")
            if lim.max_layer_ratio and out_bytes > lim.ratio_floor and out_bytes > lim.max_layer_ratio * in_bytes:
                raise LimitExceeded(f"{label}: layer inflates more than {lim.max_layer_ratio:g}:1 "
                                    "(FAKTORY_MAX_LAYER_RATIO): a decompression bomb?")
            if lim.cache_quota_bytes and used + out_bytes > lim.cache_quota_bytes:
                raise LimitExceeded(f"{label}: the layer cache would exceed its {human_bytes(lim.cache_quota_bytes)} "
                                    f"quota (FAKTORY_CACHE_QUOTA; `faktory cache --prune` frees space)")
            if lim.cache_min_free_bytes and out_bytes >= next_free_check:
                next_free_check = out_bytes + 64 * MiB  # statvfs every 64 MiB written
                st = os.statvfs(self.base / "tmp")
                if st.f_bavail * st.f_frsize < lim.cache_min_free_bytes:
                    raise LimitExceeded(f"{label}: the layer cache's filesystem has less than "
                                        f"{human_bytes(lim.cache_min_free_bytes)} free (FAKTORY_CACHE_MIN_FREE)")

        return check

    def ingest(
        self,
        stream: BinaryIO,
        *,
        label: str,
        compression: str | None = None,
        blob_digest: str | None = None,
        diff_id: str | None = None,
    ) -> LayerIndex:
        """Stream one layer blob into the cache and return its index.

        compression: "gzip", "zstd", "none", or None to sniff the magic bytes. Both digests, when given,
        are checked before anything becomes visible in the cache.
        """
        if diff_id is not None:
            cached = self.get(diff_id)
            if cached is not None:
                return cached
        fd, tmp = tempfile.mkstemp(dir=self.base / "tmp", suffix=".tar")
        try:
            try:
                got_blob, got_diff, size, entries = stream_layer(stream, fd, compression, label, index_members,
                                                                 self._limit_check(label))
            except OSError as exc:  # the reading side maps its own errors: this is the cache's disk
                raise CacheUnavailable(f"cannot write the layer cache at {self.root}: {exc.strerror or exc}") from None
            finally:
                os.close(fd)
            if blob_digest is not None and got_blob != blob_digest:
                raise DigestMismatch(f"{label}: blob content has digest {got_blob}, the manifest says {blob_digest}")
            if diff_id is not None and got_diff != diff_id:
                raise DigestMismatch(f"{label}: uncompressed layer has digest {got_diff}, the config says {diff_id}")
            cached = self.get(got_diff)
            if cached is not None:  # known under another name (another blob, a docker save stream)
                _unlink(tmp)
                self._remember_blob(blob_digest, got_diff)
                return cached
            if not entries and size == 0:
                raise InvalidImage(f"{label}: empty layer blob (not a tar archive)")
            tar_path, index_path = self.layer_paths(got_diff)
            os.replace(tmp, tar_path)
        except BaseException:
            _unlink(tmp)
            raise
        doc = {"format": INDEX_FORMAT, "size": size, "entries": [_record_row(r) for r in entries]}
        self._write_atomic(index_path, json.dumps(doc, separators=(",", ":")).encode())
        self._remember_blob(blob_digest, got_diff)
        return LayerIndex(diff_id=got_diff, tar_path=str(tar_path), size=size, entries=tuple(entries))


def _mark_used(index_path: Path) -> None:
    """The index's mtime is the layer's last use, which `faktory cache --prune` goes by."""
    try:
        if time.time() - index_path.stat().st_mtime > USE_RESOLUTION_S:
            os.utime(index_path)
    except OSError:
        pass  # a read-only shared cache: pruning it is someone else's business


class FileLock:
    """An exclusive flock(2) on a lock file, for `with`: one holder at a time across processes and threads
    (each `with` opens its own descriptor), released by the kernel if the holder dies. Not blocking: entering
    raises BlockingIOError while someone else holds it."""

    def __init__(self, path: Path | str, blocking: bool = True):
        self.path = str(path)
        self.blocking = blocking
        self._fds: list[int] = []

    def __enter__(self) -> "FileLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if self.blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._fds.append(fd)
        return self

    def __exit__(self, *exc) -> None:
        fd = self._fds.pop()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _record(row: list, shared: dict | None = None) -> Record:
    row[1] = sys.intern(row[1])  # a handful of kinds, one string each instead of one per member
    if shared is not None:  # modes, sizes and mtimes repeat across a layer: one int object each, not one per row
        for i in (2, 5, 6):
            row[i] = shared.setdefault(row[i], row[i])
    return Record(*row)


def _record_row(r: Record) -> list:
    return [r.path, r.kind, r.mode, r.uid, r.gid, r.size, r.mtime, r.linkname, r.offset, r.devmajor, r.devminor]


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def index_tar(path: str, label: str) -> list[Record]:
    """One Record per member of an uncompressed tar file on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return index_members(lambda offset, size: os.pread(fd, size, offset), label)
    finally:
        os.close(fd)


def index_members(read_at, label: str) -> list[Record]:
    """One Record per member of a tar read through `read_at(offset, size)`; member data is skipped."""
    records: list[Record] = []
    for m in members(read_at, label):
        if m.kind == "other":
            continue  # not a filesystem object we model
        name = member_path(m.name, label)
        if name == "/":
            continue  # the root's own entry: the merged root is always a 0755 dir
        linkname = m.linkname
        if m.kind == "hardlink":
            linkname = member_path(linkname, label) if linkname else ""
            if not linkname or linkname == "/":
                raise UnsafePath(f"{label}: hardlink {m.name!r} has no valid target")
        records.append(Record(name, m.kind, m.mode, m.uid, m.gid, m.size, m.mtime, linkname,
                              m.offset if m.kind == "file" else 0, m.devmajor, m.devminor))
    return records
