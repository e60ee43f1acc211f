"""Per-file analysis results cached across runs, keyed by content only.

A file's key is the diff_id of the layer that provides it plus its path (a layer is immutable and named by
the digest of its content), or the sha256 of its bytes when the image has no layer digests. Shared base
layers (the whole stdlib) are thus scanned once per machine. One SQLite file under the faktory cache dir;
any cache failure just means no cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path

from faktory.analyzers.imports import CodeFact, ImportRef, ModuleScan
from faktory.analyzers.wrapperscan import Wrapper
from faktory.cache import default_cache_dir

FLUSH_ROWS = 5000  # pending rows written at once
SCAN_FORMAT = 34  # bump when the scanner's output changes


def encode_scan(scan: ModuleScan) -> str:
    return json.dumps({
        "imports": _refs(scan.imports), "typing_imports": _refs(scan.typing_imports), "lazily": scan.serves_lazily,
        "libraries": [list(x) for x in scan.libraries],
        "facts": [[f.kind, f.detail, f.lineno] for f in scan.facts],
        "parsed": scan.parsed, "main": scan.main_block_imports,
        "programs": [list(x) for x in scan.programs],
        "program_prefixes": [list(x) for x in scan.program_prefixes],
        "program_names": [list(x) for x in scan.program_names],
        "strings": [list(x) for x in scan.strings], "computed": [list(x) for x in scan.computed],
        "wrappers": [[w.function, w.index, w.param, w.template, w.lineno] for w in scan.wrappers],
        "calls": [list(x) for x in scan.calls], "groups": [list(x) for x in scan.groups],
        "wholesale": [list(x) for x in scan.wholesale],
        "group_names": [list(x) for x in scan.group_names], "constants": scan.constants,
        "started": [list(x) for x in scan.started],
        **({"timed_out": True} if scan.timed_out else {}),  # only between a scan worker and its parent
    }, separators=(",", ":"))


def _refs(refs: list[ImportRef]) -> list:
    return [[r.module, r.level, list(r.names), r.lineno, r.optional, r.lazy,
             [[m, lv, list(n)] for m, lv, n in r.fallback_for], r.guarded, r.function] for r in refs]


def _decode_refs(rows: list) -> list[ImportRef]:
    return [ImportRef(m, lv, tuple(n), ln, opt, lazy, tuple((a, b, tuple(c)) for a, b, c in fb), bool(g), f)
            for m, lv, n, ln, opt, lazy, fb, g, f in rows]


def decode_scan(text: str) -> ModuleScan:
    doc = json.loads(text)
    return ModuleScan(
        imports=_decode_refs(doc["imports"]), typing_imports=_decode_refs(doc.get("typing_imports", [])),
        serves_lazily=bool(doc.get("lazily")),
        libraries=[(a, b) for a, b in doc["libraries"]],
        facts=[CodeFact(k, d, ln) for k, d, ln in doc["facts"]],
        parsed=doc["parsed"], main_block_imports=doc["main"],
        programs=[(a, b) for a, b in doc.get("programs", [])],
        program_prefixes=[(a, b) for a, b in doc.get("program_prefixes", [])],
        program_names=[(a, b) for a, b in doc.get("program_names", [])],
        strings=[(a, b) for a, b in doc["strings"]], computed=[(a, b, bool(c)) for a, b, c in doc["computed"]],
        wrappers=[Wrapper(*w) for w in doc.get("wrappers", [])],
        calls=[(a, b, c, d, bool(e)) for a, b, c, d, e in doc.get("calls", [])],
        groups=[(a, b) for a, b in doc.get("groups", [])],
        wholesale=[(a, b) for a, b in doc.get("wholesale", [])],
        group_names=[(a, b) for a, b in doc.get("group_names", [])], constants=dict(doc.get("constants", {})),
        started=[(a, b) for a, b in doc.get("started", [])],
        timed_out=bool(doc.get("timed_out")),
    )


def storable_key(key: str) -> str:
    """`key` as SQLite can store it: a path that is no UTF-8 (surrogate-escaped bytes) gets its bytes escaped,
    behind a prefix no plain key has, so two names never meet in one key."""
    try:
        key.encode("utf-8")
        return key
    except UnicodeEncodeError:
        return "~esc:" + key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class ScanCache:
    def __init__(self, path: Path | None) -> None:
        self._db = None
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=5, check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS scans (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        except (sqlite3.Error, OSError):
            self._db = None

    def get(self, key: str) -> ModuleScan | None:
        if self._db is None:
            return None
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM scans WHERE key = ?", (storable_key(key),)).fetchone()
            return decode_scan(row[0]) if row else None
        except (sqlite3.Error, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, scan: ModuleScan) -> None:
        # A timeout says how fast this machine was, not what the file holds (a size limit does): not kept.
        if self._db is not None and not scan.timed_out:
            self._queue((key, encode_scan(scan)))

    def put_encoded(self, key: str, text: str, scan: ModuleScan) -> None:
        """A scan already in its stored form (encode_scan), as the scan workers send it, decoded as `scan`."""
        if self._db is not None and not scan.timed_out:
            self._queue((key, text))

    def get_names(self, key: str) -> list[str] | None:
        """A list of names cached under `key` (an extension's string table names)."""
        if self._db is None:
            return None
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM scans WHERE key = ?", (storable_key(key),)).fetchone()
            value = json.loads(row[0]) if row else None
            return value if isinstance(value, list) else None
        except (sqlite3.Error, ValueError):
            return None

    def put_names(self, key: str, names: list[str]) -> None:
        if self._db is not None:
            self._queue((key, json.dumps(names, separators=(",", ":"))))

    def _queue(self, row: tuple[str, str]) -> None:
        self._pending.append((storable_key(row[0]), row[1]))
        if len(self._pending) >= FLUSH_ROWS:  # written as they come: 200,000 file facts are not all held
            self.flush()

    def flush(self) -> None:
        if self._db is None or not self._pending:
            return
        try:
            with self._lock, self._db:
                self._db.executemany("INSERT OR REPLACE INTO scans (key, value) VALUES (?, ?)", self._pending)
        except sqlite3.Error:
            pass
        self._pending.clear()


class FileFacts:
    """Small facts of an image's files (ELF headers, file descriptions) in the scan cache, keyed by content.

    A fact is a JSON list; `kind` names it and carries its format version ("elf-1").
    """

    def __init__(self, cache: ScanCache, image) -> None:
        self.cache, self.image = cache, image

    def _key(self, kind: str, path: str) -> str | None:
        # Not memoised: a stat and a format each time, where a key kept per file is ~200 bytes on 200,000 files.
        key = content_key(self.image, path)
        return key and f"{kind}:{key}"

    def get(self, kind: str, path: str) -> list | None:
        key = self._key(kind, path)
        return self.cache.get_names(key) if key else None

    def put(self, kind: str, path: str, value: list) -> None:
        key = self._key(kind, path)
        if key:
            self.cache.put_names(key, value)


def drop_layers(path: Path, diff_ids: set[str]) -> int:
    """Delete the rows of `path` keyed by a file of one of these layers (`[kind:]<diff_id>:<path>`); how many.
    A row keyed by the sha256 of a file's bytes names no layer and stays."""
    try:
        db = sqlite3.connect(str(path), timeout=30)
    except sqlite3.Error:
        return 0
    try:
        doomed = [key for (key,) in db.execute("SELECT key FROM scans") if _layer_of(key) in diff_ids]
        with db:
            db.executemany("DELETE FROM scans WHERE key = ?", ((key,) for key in doomed))
        db.execute("VACUUM")  # give the space back to the file system, not just to SQLite's free list
        return len(doomed)
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def _layer_of(key: str) -> str | None:
    """The diff_id in a key `sha256:<hex>:<path>` or `<kind>:sha256:<hex>:<path>`."""
    at = key.find("sha256:")
    if at < 0:
        return None
    end = key.find(":", at + 7)
    return key[at:end] if end > 0 else None


def default_scan_cache() -> ScanCache:
    if os.environ.get("FAKTORY_NO_SCAN_CACHE"):
        return ScanCache(None)
    return ScanCache(default_cache_dir() / "v1" / f"scans-{SCAN_FORMAT}.sqlite")


def content_key(image, path: str, data: bytes | None = None) -> str | None:
    """Layer diff_id + path, or the sha256 of `data`; None when neither is known."""
    try:
        entry = image.fs.stat(path)
        layers = image.layers
        if entry is not None and 0 <= entry.layer < len(layers) and layers[entry.layer].diff_id:
            return f"{layers[entry.layer].diff_id}:{entry.path}"
    except Exception:  # an odd Image without layers: fall back to the bytes
        pass
    if data is not None:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return None


__all__ = ["ScanCache", "FileFacts", "default_scan_cache", "content_key", "encode_scan", "decode_scan",
           "dataclasses"]
