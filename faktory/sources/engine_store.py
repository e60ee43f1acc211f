"""Fill the layer cache straight from a local engine's overlay2 store, without `docker save`.

Docker 20.10 answers `docker save` only after writing the whole image to a temporary directory (flask: the
first byte comes after 1.2 s of a 1.4 s save), so reading a save stream cannot overlap with the engine's work.
The engine keeps every layer as its files (`overlay2/<cache-id>/diff`) plus the tar headers and padding it was
unpacked from (`image/overlay2/layerdb/sha256/<chain-id>/tar-split.json.gz`, the tar-split format). The two
together are the layer tar byte for byte: that is how the engine itself rebuilds a layer for `docker save` and
`docker push`. The rebuilt stream goes through `LayerCache.ingest`, which checks it against the diff_id, and
the config comes from `image/overlay2/imagedb/content/sha256/<id>`, checked against the image id: nothing
unverified enters the cache.

Used only when the engine listens on a unix socket of this host, its storage driver is overlay2 and its store
is readable. Anything unexpected returns False and the caller streams `docker save` as before.
`FAKTORY_ENGINE_STORE=0` turns this path off.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Iterator

from faktory.cache import LayerCache
from faktory.errors import FaktoryError
from faktory.sources.archive import ChunkReader

CHUNK = 1 << 20
SEGMENT, FILE = 2, 1  # tar-split entry types: raw tar bytes, and a file whose bytes live on disk
_CACHE_ID = re.compile(r"^[0-9a-zA-Z_-]{1,128}$")


class _Unusable(Exception):
    """The store does not look like what this reader knows: fall back to `docker save`."""


def enabled() -> bool:
    if os.environ.get("FAKTORY_ENGINE_STORE", "1") == "0":
        return False
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return host.startswith("unix://")  # a tcp:// or ssh:// engine keeps its store on another machine


def store_root(attrs: dict) -> Path | None:
    """The engine's data root (`/var/lib/docker`), from where it says the image's top layer lives."""
    driver = attrs.get("GraphDriver") or {}
    upper = (driver.get("Data") or {}).get("UpperDir")
    if driver.get("Name") != "overlay2" or not isinstance(upper, str):
        return None
    top = Path(upper)  # <root>/overlay2/<cache-id>/diff
    if top.name != "diff" or top.parent.parent.name != "overlay2":
        return None
    root = top.parent.parent.parent
    return root if (root / "image" / "overlay2" / "layerdb" / "sha256").is_dir() else None


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The engine's layer keys: each names a layer together with everything below it."""
    chain: list[str] = []
    for diff_id in diff_ids:
        chain.append(diff_id if not chain else
                     "sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
    return chain


def fill_from_store(attrs: dict, cache: LayerCache, label: str) -> bool:
    """Put the image's config and every missing layer into the cache from the engine's store.

    True when everything is now cached; False when the store could not be used (nothing half-written stays).
    """
    if not enabled():
        return False
    root = store_root(attrs)
    image_id = attrs.get("Id") or ""
    diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
    if root is None or not image_id.startswith("sha256:") or not diff_ids:
        return False
    meta = root / "image" / "overlay2"
    try:
        if cache.get_config(image_id) is None:
            cache.put_config(image_id, (meta / "imagedb" / "content" / "sha256" / image_id[7:]).read_bytes())
        for number, (diff_id, chain_id) in enumerate(zip(diff_ids, chain_ids(diff_ids))):
            if cache.get(diff_id) is not None:
                continue
            layer_dir = meta / "layerdb" / "sha256" / chain_id[7:]
            if (layer_dir / "diff").read_text().strip() != diff_id:
                return False
            cache_id = (layer_dir / "cache-id").read_text().strip()
            if not _CACHE_ID.match(cache_id):
                return False
            with cache.lock(diff_id):
                if cache.get(diff_id) is None:
                    stream = _layer_tar(layer_dir / "tar-split.json.gz", root / "overlay2" / cache_id / "diff")
                    try:
                        cache.ingest(ChunkReader(stream), label=f"{label}: layer {number}", compression="none",
                                     diff_id=diff_id)
                    finally:
                        stream.close()
    except (OSError, ValueError, _Unusable, FaktoryError):
        return False  # a digest mismatch included: `docker save` gets its chance and its own error
    return True


def _layer_tar(tar_split: Path, diff_dir: Path) -> Iterator[bytes]:
    """The layer tar, rebuilt from its tar-split record and the files in its diff directory, in 1 MiB chunks."""
    buf = bytearray()
    with _Beneath(diff_dir) as files, gzip.open(tar_split, "rb") as record:
        for line in record:
            try:
                entry = json.loads(line)
                kind = entry["type"]
            except (ValueError, KeyError, TypeError) as exc:
                raise _Unusable(f"tar-split record: {exc}") from None
            if kind == SEGMENT:
                buf += base64.b64decode(entry.get("payload") or b"")
            elif kind == FILE:
                size = int(entry.get("size") or 0)
                if size:
                    raw = entry.get("name_raw")  # set when the name is not UTF-8
                    name = base64.b64decode(raw) if raw else os.fsencode(entry.get("name") or "")
                    fd = files.open(name)
                    try:
                        while size:
                            data = os.read(fd, min(CHUNK, size))
                            if not data:
                                raise _Unusable(f"{name!r} is shorter than its tar header says")
                            buf += data
                            size -= len(data)
                            if len(buf) >= CHUNK:
                                yield bytes(buf)
                                buf.clear()
                    finally:
                        os.close(fd)
            else:
                raise _Unusable(f"unknown tar-split entry type {kind!r}")
            if len(buf) >= CHUNK:
                yield bytes(buf)
                buf.clear()
    if buf:
        yield bytes(buf)


class _Beneath:
    """Open regular files by relative name strictly inside one directory: no `..`, no symlink followed.

    Directory descriptors along the current path are kept open, since tar-split lists a directory's files
    together; only the path's own chain is held, so deep trees cost a handful of descriptors.
    """

    def __init__(self, root: Path):
        self.root = root
        self.stack: list[tuple[bytes, int]] = []

    def __enter__(self) -> "_Beneath":
        try:
            self.stack = [(b"", os.open(self.root, os.O_RDONLY | os.O_DIRECTORY))]
        except OSError as exc:
            raise _Unusable(f"{self.root}: {exc.strerror}") from None
        return self

    def __exit__(self, *exc) -> None:
        for _, fd in self.stack:
            os.close(fd)
        self.stack = []

    def open(self, name: bytes) -> int:
        parts = [p for p in name.split(b"/") if p not in (b"", b".")]
        if not parts or b".." in parts:
            raise _Unusable(f"tar-split names {name!r}")
        dirs, leaf = parts[:-1], parts[-1]
        keep = 1
        while keep <= len(dirs) and keep < len(self.stack) and self.stack[keep][0] == dirs[keep - 1]:
            keep += 1
        while len(self.stack) > keep:
            os.close(self.stack.pop()[1])
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            for part in dirs[keep - 1:]:
                self.stack.append((part, os.open(part, flags | os.O_DIRECTORY, dir_fd=self.stack[-1][1])))
            fd = os.open(leaf, flags | os.O_NONBLOCK, dir_fd=self.stack[-1][1])  # a fifo must not block
        except OSError as exc:
            raise _Unusable(f"{name!r}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise _Unusable(f"{name!r} is not a regular file in the layer's directory")
        return fd
