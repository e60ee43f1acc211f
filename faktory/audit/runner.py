"""Audit many images in parallel worker processes, reuse cached rows, stop cleanly on Ctrl-C.

Analysis is CPU-bound Python, so images go to a process pool (spawned workers that ignore SIGINT: the parent
alone decides what an interrupt means). Cache keys are looked up first in the parent when a ref has a cheap
content key (daemon image id, registry manifest digest); otherwise the worker loads the image, keys on its
digest and may still find the row cached.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from faktory import api
from faktory.audit.auditor import audit_image, describe_error
from faktory.audit.cache import DigestCache
from faktory.audit.keys import cheap_key
from faktory.audit.model import ERROR, ImageAudit

if TYPE_CHECKING:
    from faktory.audit.queue import QueueSpec

Progress = Callable[[ImageAudit], None]
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class AuditOutcome:
    rows: tuple[ImageAudit, ...]  # in the order the refs were given; only finished images
    complete: bool  # False when interrupted
    seconds: float


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def audit_one(ref: str, targets: Sequence[str], cache_root: str | None, key: str | None, options=None) -> dict:
    """Worker entry point (module level, picklable). Returns a row as a dict.

    A row is stored under the ref's cheap key and under the image digest, and looked up under both: a cheap
    key that failed in one run (an engine hiccup) and answered in the next must still find that run's row."""
    cache = DigestCache(Path(cache_root), tuple(targets)) if cache_root else None
    image = None
    if cache is not None:
        key = key or cheap_key(ref)
        try:
            image = api.load_image(ref)
        except Exception as exc:
            return ImageAudit(ref=ref, status=ERROR, error=describe_error(exc)).to_dict()
        hit = cache.get(image.digest, ref) or cache.get(key, ref)
        if hit is not None:
            cache.put(hit, key)
            return hit.to_dict()
    row = audit_image(ref, targets, image=image, options=options)
    if cache is not None:
        cache.put(row, key)
    return row.to_dict()


def run_audit(
    refs: Sequence[str],
    targets: Sequence[str],
    jobs: int = 1,
    cache: DigestCache | None = None,
    on_row: Progress | None = None,
    options=None,
    queue: "QueueSpec | None" = None,
    on_queued: Callable[[int], None] | None = None,
) -> AuditOutcome:
    """`options`: AnalyzeOptions for every image (an observed row is not cached: it is not a function of the
    digest alone). `queue`: send the images to the service's workers instead of a local pool (`jobs` unused)."""
    if options is not None and options.observe is not None:
        cache = None
    started = time.perf_counter()
    done: dict[int, ImageAudit] = {}

    def finish(index: int, row: ImageAudit) -> None:
        done[index] = row
        if on_row:
            on_row(row)

    complete = True
    try:
        keys = _cheap_keys(refs) if cache is not None else [None] * len(refs)
        todo: list[int] = []
        for index, (ref, key) in enumerate(zip(refs, keys)):
            hit = cache.get(key, ref) if cache is not None else None
            if hit is not None:
                finish(index, hit)
            else:
                todo.append(index)
        cache_root = str(cache.root) if cache is not None else None
        if queue is not None:
            from faktory.audit.queue import run_queued

            run_queued(refs, keys, todo, targets, finish, queue, use_cache=cache is not None, on_queued=on_queued)
        elif jobs <= 1 or len(todo) <= 1:
            for index in todo:
                finish(index, ImageAudit.from_dict(audit_one(refs[index], targets, cache_root, keys[index], options)))
        else:
            _run_pool(refs, keys, todo, targets, jobs, cache_root, finish, options)
    except KeyboardInterrupt:
        complete = False
    rows = tuple(done[i] for i in sorted(done))
    return AuditOutcome(rows=rows, complete=complete, seconds=time.perf_counter() - started)


def _cheap_keys(refs: Sequence[str]) -> list[str | None]:
    """Content keys need only a daemon or registry round trip each: do them concurrently."""
    if len(refs) <= 1:
        return [cheap_key(r) for r in refs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(cheap_key, refs))


def _new_pool(jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),  # no fork: the parent has threads (progress bar, http)
        initializer=_ignore_sigint,
        # No max_tasks_per_child: a pool that respawns workers could start one after Ctrl-C terminated the rest.
    )


def _run_pool(refs, keys, todo, targets, jobs, cache_root, finish, options=None) -> None:
    """A worker that dies (OOM, crash) breaks the whole pool: its in-flight images get one more try in a new one."""
    attempts = dict.fromkeys(todo, 0)
    queue = list(todo)
    while queue:
        pool = _new_pool(jobs)
        pending: dict[Future, int] = {}
        try:
            for index in queue:
                attempts[index] += 1
                pending[pool.submit(audit_one, refs[index], list(targets), cache_root, keys[index], options)] = index
            queue = []
            while pending:
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    try:
                        row = ImageAudit.from_dict(future.result())
                    except BrokenProcessPool as exc:
                        if attempts[index] < MAX_ATTEMPTS:
                            queue.append(index)
                            continue
                        row = ImageAudit(ref=refs[index], status=ERROR, error=f"worker died: {describe_error(exc)}")
                    except Exception as exc:
                        row = ImageAudit(ref=refs[index], status=ERROR, error=f"worker failed: {describe_error(exc)}")
                    finish(index, row)
        except KeyboardInterrupt:
            _stop(pool)
            raise
        pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers we spawned; finished rows are already kept."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
