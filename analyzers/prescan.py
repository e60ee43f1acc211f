"""Module scans parsed ahead, in worker processes, while the worklist goes on.

A module is handed to the pool when the analysis first keeps it (its source read here, parsed there), and its
scan is taken when the worklist reaches it: by then the other cores have usually parsed it. A library module's
source facts (sourcemine: codec names, sys.path dirs) are mined in the same trip. ScanPool stands in for the
scan cache (the same get/put calls), so the contributors that read scans do not change; it stays
content-keyed: what the cache holds is never sent, a fresh result is put there on taking it.

Workers run `scan_source`, so every bound holds inside them (size limit, SIGALRM in the worker's main thread,
a forked child for big files, which dies with its worker). A worker that dies or stalls costs one wait of the
scan limit, after which the module is parsed here. Workers ignore SIGINT: Ctrl-C reaches the analysis, whose
`close` terminates them, and SIGTERM kills them outright whatever handler the parent set.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from multiprocessing.pool import AsyncResult, Pool

from faktory.analyzers import sourcemine
from faktory.analyzers.imports import ModuleScan, scan_source
from faktory.analyzers.scancache import ScanCache, decode_scan, encode_scan
from faktory.limits import limits

MIN_SOURCE = 2048  # smaller modules parse in less time than the round trip to a worker
SLACK_SECONDS = 5.0  # beyond the scan limit, before a silent worker is given up


def worker_count() -> int:
    """$FAKTORY_SCAN_WORKERS, else the cores this process may use; 0 or 1 means no pool."""
    text = os.environ.get("FAKTORY_SCAN_WORKERS", "")
    if text.strip().isdigit():
        return int(text)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _quiet_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Pool.terminate() sends SIGTERM and joins. A worker that inherited the CLI's unwinding handler raised
    # instead of dying, and one that raised between taking the task queue's lock and entering its `with` kept
    # the lock: its sibling waited on it for ever, and so did the join (`verify` hung after its analysis).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _work(source: bytes, origin: str | None) -> tuple[str, list[str] | None]:
    # the scan travels in the cache's own form: cheaper to unpickle than the objects, stored as it comes
    return encode_scan(scan_source(source)), (sourcemine.encode(source, origin) if origin else None)


class ScanPool:
    """The scan cache, plus scans started ahead of need. Without a pool (one core) it is the cache alone."""

    def __init__(self, cache: ScanCache, workers: int | None = None) -> None:
        self.cache = cache
        self.workers = worker_count() if workers is None else workers
        self._pool: Pool | None = None
        self._pending: dict[str, tuple[str | None, AsyncResult]] = {}  # scan key -> (mine key, job)
        self._ready: dict[str, ModuleScan] = {}  # scan key -> scan found in the cache when prefetched
        self._mined: dict[str, list[str]] = {}  # mine key -> sourcemine items
        self.sent = 0

    def _started(self) -> Pool | None:
        # Only the main process starts a pool. A daemonic one (a huey worker of the service) may not start
        # children, and an audit's worker processes already spread images over the cores: a pool nested in one
        # was orphaned when Ctrl-C ended its parent, and its workers died on a broken pipe, tracebacks and all.
        if self._pool is None and self.workers > 1 and multiprocessing.parent_process() is None:
            # fork is cheapest; with other threads alive (the service's workers) a fork could copy a held
            # lock, so start from a clean server process instead
            method = "fork" if threading.active_count() == 1 else "forkserver"
            try:
                self._pool = multiprocessing.get_context(method).Pool(self.workers, initializer=_quiet_worker)
            except OSError:
                self.workers = 0
        return self._pool

    def prefetch(self, key: str | None, read, origin: str | None = None, mine_key: str | None = None) -> None:
        """Start the scan of the module whose content is `key` (`read()` gives its source) unless it is known
        or cached; with a `mine_key`, its source facts too (from `origin`), unless cached under that key."""
        if self.workers <= 1 or not key or key in self._pending or key in self._ready:
            return
        cached = self.cache.get(key)
        if mine_key and self.cache.get_names(mine_key) is not None:
            mine_key = None
        if cached is not None and not mine_key:
            self._ready[key] = cached
            return
        try:
            source = read()
        except OSError:
            return
        if source is None or len(source) < MIN_SOURCE:
            return
        pool = self._started()
        if pool is None:
            return
        self._pending[key] = (mine_key, pool.apply_async(_work, (source, origin if mine_key else None)))
        self.sent += 1

    # --- the scan cache's calls ----------------------------------------------------------------------
    def get(self, key: str) -> ModuleScan | None:
        """The scan started for `key` (waiting for it), else the cache's. A worker's failure is no verdict on
        the module: None then, and it is parsed in-process."""
        ready = self._ready.pop(key, None)
        if ready is not None:
            return ready
        pending = self._pending.pop(key, None)
        if pending is None:
            return self.cache.get(key)
        mine_key, job = pending
        try:
            text, mined = job.get(limits().module_seconds + SLACK_SECONDS)
            scan = decode_scan(text)
        except Exception:  # multiprocessing.TimeoutError, a dead worker, a result that does not decode
            return None
        self.cache.put_encoded(key, text, scan)
        if mined is not None and mine_key:
            self._mined[mine_key] = mined
            self.cache.put_names(mine_key, mined)
        return scan

    def put(self, key: str, scan: ModuleScan) -> None:
        self.cache.put(key, scan)

    def get_names(self, key: str) -> list[str] | None:
        mined = self._mined.pop(key, None)
        return mined if mined is not None else self.cache.get_names(key)

    def put_names(self, key: str, names: list[str]) -> None:
        self.cache.put_names(key, names)

    def flush(self) -> None:
        self.cache.flush()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        self._pending.clear()
        if pool is not None:
            pool.terminate()
            pool.join()
