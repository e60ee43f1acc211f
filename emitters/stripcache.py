"""What `strip` made of an ELF file, kept beside the layers (faktory.cache) so a warm convert runs no `strip`.

Keyed by the input's content (the layer diff_id + path that holds it, as the scan cache keys files, or the
sha256 of its bytes), the strip mode and the first line of `strip --version`. An outcome is either the stripped
bytes or "keep the input" (stripping misaligned a load segment, or saved nothing). Layout:
    v1/stripped/<key>.elf    the stripped bytes
    v1/stripped/<key>.json   the outcome, its size and crc32 (written last: its presence means complete)
Writes go through the cache's temp dir + os.replace; an entry whose bytes do not match its record is
dropped and computed again. The layer cache's quota counts these bytes, and `faktory cache --prune` removes
them by last use like layers.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from faktory.cache import CHUNK, LayerCache, _mark_used
from faktory.limits import limits

STRIP_FORMAT = 1
KEEP = "keep"
STRIPPED = "stripped"


@dataclass(frozen=True)
class Outcome:
    kind: str  # STRIPPED | KEEP
    path: str | None = None  # the stripped bytes (STRIPPED)
    size: int = 0


_VERSIONS: dict[tuple[str, int, int], str] = {}


def strip_version(strip: str) -> str:
    """The first line of `strip --version`, asked once per binary (by path, size and mtime)."""
    st = os.stat(strip)
    ident = (strip, st.st_size, st.st_mtime_ns)
    if ident not in _VERSIONS:
        proc = subprocess.run([strip, "--version"], capture_output=True, text=True)
        _VERSIONS[ident] = (proc.stdout.splitlines() or [""])[0].strip() or f"unknown {st.st_size}"
    return _VERSIONS[ident]


def crc_of(path: str) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


class StripCache:
    """Outcomes by key; every failure of the cache itself just means "not cached"."""

    def __init__(self, cache: LayerCache | None) -> None:
        self.cache = cache
        self.dir = cache.base / "stripped" if cache is not None else None

    @staticmethod
    def key(content: str, mode: str, version: str) -> str:
        return hashlib.sha256(f"{STRIP_FORMAT}\0{content}\0{mode}\0{version}".encode()).hexdigest()

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.dir / f"{key}.elf", self.dir / f"{key}.json"

    def get(self, key: str) -> Outcome | None:
        if self.dir is None:
            return None
        elf, record = self.paths(key)
        try:
            doc = json.loads(record.read_bytes())
            if doc.get("format") != STRIP_FORMAT:
                raise ValueError(doc.get("format"))
            if doc["kind"] == KEEP:
                outcome = Outcome(KEEP)
            elif doc["kind"] == STRIPPED and elf.stat().st_size == doc["size"] and crc_of(str(elf)) == doc["crc32"]:
                outcome = Outcome(STRIPPED, str(elf), doc["size"])
            else:
                raise ValueError("damaged")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self._drop(key)  # damaged: strip again, and the new outcome replaces it
            return None
        _mark_used(record)
        return outcome

    def put(self, key: str, outcome: Outcome) -> None:
        if self.dir is None:
            return
        elf, record = self.paths(key)
        doc = {"format": STRIP_FORMAT, "kind": outcome.kind}
        try:
            if outcome.kind == STRIPPED:
                quota = limits().cache_quota_bytes
                if quota and self.cache.used_bytes() + outcome.size > quota:
                    return  # a full cache keeps its layers: this outcome is just not kept
                doc.update(size=outcome.size, crc32=crc_of(outcome.path))
                self._copy_atomic(outcome.path, elf)
            self.cache._write_atomic(record, json.dumps(doc).encode())
        except OSError:
            pass

    def _copy_atomic(self, src: str, dest: Path) -> None:
        tmp = self.cache.base / "tmp" / f"{dest.name}.{os.getpid()}.{id(self)}"
        try:
            try:
                os.link(src, tmp)  # same filesystem: no copy (the workdir copy is never written again)
            except OSError:
                with open(src, "rb") as fin, open(tmp, "wb") as fout:
                    while chunk := fin.read(CHUNK):
                        fout.write(chunk)
            os.replace(tmp, dest)
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _drop(self, key: str) -> None:
        for path in reversed(self.paths(key)):  # the record first: a reader then sees "not cached"
            try:
                path.unlink()
            except OSError:
                pass


def default_strip_cache() -> StripCache:
    """Beside the layers of the default cache dir ($FAKTORY_CACHE_DIR); an unusable dir means no cache."""
    from faktory.cache import CacheUnavailable

    try:
        return StripCache(LayerCache())
    except CacheUnavailable:
        return StripCache(None)
