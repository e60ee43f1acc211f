"""`faktory audit --queue`: one job per image on the service's huey queue, rows back through its job store.

The workers are the service's own (`faktory serve --worker-only`, or the ones `faktory serve` starts): they
claim, heartbeat and retry an audit job exactly as a conversion. A worker killed mid-image stops renewing its
lease, the workers' reaper re-queues the job, and after the last attempt the job fails: its image becomes an
error row saying which worker stopped. Ctrl-C marks this run's unfinished jobs skipped, so workers drop them;
a re-run is a new run with new job ids and nothing of the old one in its way.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from faktory.audit.model import ERROR, ImageAudit
from faktory.service.jobs import AUDIT, DONE, FINAL_STATES, QUEUED, SKIPPED, Job

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class QueueSpec:
    """Where the service's queue and job store live: SQLite files in `state_dir` (one machine) or Redis."""

    state_dir: Path
    redis_url: str | None = None
    name: str = "faktory"
    cache_dir: Path | None = None  # given explicitly: workers use it; otherwise each worker its own default

    def describe(self) -> str:
        where = self.redis_url or f"sqlite:{self.state_dir}"
        return f"{where} (queue {self.name})"

    def worker_argv(self) -> list[str]:
        """How to start workers on this queue (as the service starts them)."""
        argv = ["faktory", "serve", "--worker-only", "--queue-name", self.name]
        return argv + (["--redis", self.redis_url] if self.redis_url else ["--state-dir", str(self.state_dir)])


def audit_job(job: Job) -> dict:
    """Worker side (Service.run_job): the job's image as a row. Never raises for a bad image."""
    from faktory.audit.runner import audit_one
    from faktory.cache import default_cache_dir

    targets = [t for t in job.target.split(",") if t]
    cache_root = None
    if job.options.get("cache"):
        cache_root = job.options.get("cache_root") or str(default_cache_dir())
    return audit_one(job.repository, targets, cache_root, job.digest or None)


def _job(run: str, index: int, ref: str, key: str | None, targets: Sequence[str], spec: QueueSpec,
         use_cache: bool, now: float) -> Job:
    job_id = hashlib.sha256(f"audit\0{run}\0{index}".encode()).hexdigest()[:24]
    return Job(
        id=job_id, kind=AUDIT, state=QUEUED, registry="", repository=ref, tag=None, digest=key or "",
        target=",".join(targets), destination=f"audit:{run}",
        options={"cache": use_cache, "cache_root": str(spec.cache_dir) if spec.cache_dir else None},
        event_source="faktory audit", enqueued_at=now, created_at=now, updated_at=now,
    )


def row_of(job: Job | None, ref: str) -> ImageAudit:
    """What a finished (or vanished) job says about its image."""
    if job is None:
        return ImageAudit(ref=ref, status=ERROR, error="audit job vanished from the job store")
    if job.state == DONE and job.result is not None:
        return replace(ImageAudit.from_dict(job.result), ref=ref)
    if job.state == SKIPPED:
        return ImageAudit(ref=ref, status=ERROR, error=f"audit job skipped: {job.note}")
    return ImageAudit(ref=ref, status=ERROR, error=f"audit job failed: {job.error or job.note}")


def run_queued(refs: Sequence[str], keys: Sequence[str | None], todo: Sequence[int], targets: Sequence[str],
               finish: Callable[[int, ImageAudit], None], spec: QueueSpec, use_cache: bool,
               on_queued: Callable[[int], None] | None = None) -> None:
    """Queue `todo` (indexes into refs), then hand each row to `finish` as its job ends."""
    from faktory.service.config import ServiceConfig
    from faktory.service.service import Service

    service = Service(ServiceConfig(state_dir=spec.state_dir, redis_url=spec.redis_url, name=spec.name))
    store, run, now = service.store, uuid.uuid4().hex[:12], time.time()
    pending: dict[str, int] = {}
    try:
        for index in todo:
            job = _job(run, index, refs[index], keys[index], targets, spec, use_cache, now)
            store.create(job)
            pending[job.id] = index  # before the enqueue: an interrupt in between still skips it
            service.enqueue(job.id)
        if on_queued:
            on_queued(len(pending))
        while pending:
            found = {job.id: job for job in store.many(list(pending))}
            for job_id in list(pending):
                job = found.get(job_id)
                if job is None or job.state in FINAL_STATES:
                    index = pending.pop(job_id)
                    finish(index, row_of(job, refs[index]))
            if pending:
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        _skip_unfinished(store, pending)
        raise
    finally:
        store.close()


def _skip_unfinished(store, pending: dict[str, int]) -> None:
    """Workers claim only queued/retrying jobs and finish only jobs still running under their name: a
    skipped job is dropped when its message comes up, and a running one's result is not recorded."""
    now = time.time()
    for job_id in pending:
        store.update(job_id, lambda j: None if j.state in FINAL_STATES else j.replace(
            state=SKIPPED, note="audit interrupted", finished_at=now, lease_until=0.0))
