"""What the layer cache holds, and pruning it by last use (`faktory cache`).

Layers are kept uncompressed, so a cache that serves a webhook service or a fleet audit grows with every new
image. A layer's last use is the mtime of its index, which `LayerCache.get` refreshes (at most once a minute).
Pruning removes least recently used layers first; an entry used within `until` is never removed, and neither is
one whose lock is held (being written). The index goes first, so a concurrent load sees "not cached" and
streams the layer again rather than finding half an entry. A process that loaded an image longer ago than
`until` and still reads it may find its files gone: keep `until` above the longest job (the default is a day).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from faktory.cache import LayerCache
from faktory.errors import FaktoryError

STALE_TMP_S = 3600  # a temp file this old belongs to a load that died
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class BadCacheOption(FaktoryError):
    pass


def parse_size(text: str) -> int:
    """`10GB`, `500MiB`, `0` -> bytes (decimal and binary units, like `docker builder prune --keep-storage`)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise BadCacheOption(f"not a size: {text!r} (examples: 10GB, 512MiB, 0)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_duration(text: str) -> float:
    """`24h`, `30m`, `7d`, `0s` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise BadCacheOption(f"not a duration: {text!r} (examples: 30m, 24h, 7d)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


@dataclass(frozen=True)
class LayerEntry:
    diff_id: str
    size: int  # bytes on disk: the tar and its index
    last_used: float  # epoch seconds


@dataclass(frozen=True)
class CacheUsage:
    root: str
    layers: tuple[LayerEntry, ...]
    metadata_files: int  # configs and manifests
    metadata_bytes: int
    stripped: tuple[LayerEntry, ...] = ()  # stripped ELF files (emitters.stripcache), diff_id = their key
    scan_stores: tuple[LayerEntry, ...] = ()  # per-file scan results (analyzers.scancache), diff_id = file name

    @property
    def layer_bytes(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def total_bytes(self) -> int:
        return (self.layer_bytes + self.metadata_bytes + sum(entry.size for entry in self.stripped)
                + sum(entry.size for entry in self.scan_stores))


@dataclass(frozen=True)
class PruneResult:
    removed_layers: int
    removed_metadata: int
    freed_bytes: int
    kept_busy: int  # layers skipped because another process holds their lock
    removed_scans: int = 0  # scan results of removed layers, and whole stores of other scan formats


def usage(cache: LayerCache) -> CacheUsage:
    meta_files = meta_bytes = 0
    for kind in ("configs", "manifests"):
        for path in (cache.base / kind).glob("*.json"):
            try:
                meta_bytes += path.stat().st_size
                meta_files += 1
            except OSError:
                continue
    return CacheUsage(root=str(cache.root), layers=_entries(cache.base / "layers", ".tar", "sha256:"),
                      metadata_files=meta_files, metadata_bytes=meta_bytes,
                      stripped=_entries(cache.base / "stripped", ".elf", ""), scan_stores=_scan_stores(cache.base))


def _scan_stores(base: Path) -> tuple[LayerEntry, ...]:
    """Each scans-<format>.sqlite with its journal files, least recently used first."""
    found = []
    for store in base.glob("scans-*.sqlite"):
        parts = [store, *(store.with_name(store.name + tail) for tail in ("-wal", "-shm", "-journal"))]
        sizes = [p.stat() for p in parts if p.exists()]
        if sizes:
            found.append(LayerEntry(diff_id=store.name, size=sum(st.st_size for st in sizes),
                                    last_used=max(st.st_mtime for st in sizes)))
    found.sort(key=lambda entry: entry.last_used)
    return tuple(found)


def _entries(directory: Path, data_suffix: str, prefix: str) -> tuple[LayerEntry, ...]:
    """Entries of `directory`, least recently used first: a `<key>.json` record (its mtime is the last use)
    and its data file."""
    found = []
    for record in directory.glob("*.json"):
        data = record.with_suffix(data_suffix)
        try:
            st = record.stat()
            size = st.st_size + (data.stat().st_size if data.exists() else 0)
        except OSError:
            continue  # removed while we looked
        found.append(LayerEntry(diff_id=prefix + record.stem, size=size, last_used=st.st_mtime))
    found.sort(key=lambda entry: entry.last_used)
    return tuple(found)


def prune(cache: LayerCache, *, until: float, keep_bytes: int | None = None, now: float | None = None) -> PruneResult:
    """Remove layers (least recently used first) not used for `until` seconds.

    With keep_bytes, stop as soon as the cache is no bigger than that; without, remove every such layer.
    Configs and manifests older than `until` go too (they are refetched in one request when needed).
    """
    now = time.time() if now is None else now
    current = usage(cache)
    total = current.total_bytes
    removed = busy = freed = 0
    gone_layers: set[str] = set()
    stripped = {entry.diff_id for entry in current.stripped}
    for layer in sorted(current.layers + current.stripped, key=lambda entry: entry.last_used):  # oldest first
        if keep_bytes is not None and total <= keep_bytes:
            break
        if now - layer.last_used < until:
            break  # sorted: every later one was used more recently
        if layer.diff_id in stripped:  # the record first: a reader then sees "not cached"
            gone = sum(_unlink(cache.base / "stripped" / f"{layer.diff_id}{suffix}") or 0
                       for suffix in (".json", ".elf"))
            total -= gone
            freed += gone
            continue
        gone = _remove_layer(cache, layer.diff_id)
        if gone is None:
            busy += 1
            continue
        removed += 1
        freed += gone
        total -= gone
        gone_layers.add(layer.diff_id)
    meta_removed = 0
    for kind in ("configs", "manifests"):
        for path in (cache.base / kind).glob("*.json"):
            gone = _remove_if_older(path, now - until)
            if gone is not None:
                meta_removed += 1
                freed += gone
    for path in (cache.base / "stripped").glob("*.elf"):  # bytes whose record never got written
        if not path.with_suffix(".json").exists():
            _remove_if_older(path, now - max(until, STALE_TMP_S))
    for path in (cache.base / "tmp").iterdir():
        _remove_if_older(path, now - max(until, STALE_TMP_S))
    for path in (cache.base / "blobs").iterdir():  # blob digest -> diff_id links to layers no longer here
        try:
            target = path.read_text().strip()
        except OSError:
            continue
        if not (cache.base / "layers" / f"{target.partition(':')[2]}.json").exists():
            _unlink(path)
    scans_removed, scans_freed = prune_scans(cache.base, current.scan_stores, gone_layers, now - until)
    return PruneResult(removed_layers=removed, removed_metadata=meta_removed, freed_bytes=freed + scans_freed,
                       kept_busy=busy, removed_scans=scans_removed)


def prune_scans(base: Path, stores: tuple[LayerEntry, ...], gone_layers: set[str], cutoff: float) -> tuple[int, int]:
    """(rows or stores removed, bytes freed): the current format's rows keyed by a layer just removed (their key
    names its diff_id), and whole stores of other scan formats not written since `cutoff` (an older or newer
    faktory's, which this one never reads)."""
    from faktory.analyzers.scancache import SCAN_FORMAT, drop_layers

    removed = freed = 0
    current = f"scans-{SCAN_FORMAT}.sqlite"
    for store in stores:
        if store.diff_id == current:
            removed += drop_layers(base / current, gone_layers) if gone_layers else 0
        elif store.last_used < cutoff:
            for tail in ("", "-wal", "-shm", "-journal"):
                freed += _unlink(base / (store.diff_id + tail)) or 0
            removed += 1
    return removed, freed


def _remove_layer(cache: LayerCache, diff_id: str) -> int | None:
    """Bytes freed, or None if another process holds the layer's lock."""
    tar, index = cache.layer_paths(diff_id)
    try:
        with cache.lock(diff_id, blocking=False):
            # The index first: from then on a loader sees "not cached", never an index without its tar.
            return sum(_unlink(path) or 0 for path in (index, tar))
    except BlockingIOError:
        return None


def _remove_if_older(path: Path, cutoff: float) -> int | None:
    """Bytes freed if `path` was last modified before `cutoff` and is now gone, else None."""
    try:
        if path.stat().st_mtime >= cutoff:
            return None
    except OSError:
        return None
    return _unlink(path)


def _unlink(path: Path) -> int | None:
    """Bytes freed, or None if it was not there."""
    try:
        size = path.stat().st_size
        path.unlink()
        return size
    except FileNotFoundError:
        return None
