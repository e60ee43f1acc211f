"""Wiring: rules + store + huey queue, and the three things that move jobs along:
`accept` (HTTP side: event -> jobs), `run_job` (worker side), `reap` (re-queue jobs of dead workers).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from huey import RedisHuey, SqliteHuey
from huey.storage import SqliteStorage

from faktory.errors import FaktoryError, SourceUnavailable, AuthError
from faktory.service.config import ServiceConfig
from faktory.service.events import PushEvent
from faktory.service.jobs import AUDIT, DONE, FAILED, QUEUED, RETRYING, RUNNING, SKIPPED, Job, job_id_for
from faktory.service.pipeline import SkipJob, convert_and_publish, own_workdir
from faktory.registry.client import RegistryClient
from faktory.service.rules import Rules, is_loopback, load_rules
from faktory.service.store import JobStore, RedisStore, SqliteStore

log = logging.getLogger("faktory.service")

# Errors worth another attempt: the registry or the network may come back. Anything else a FaktoryError
# names (bad image, blocked conversion, bad destination) will fail the same way every time.
TRANSIENT_ERRORS = (SourceUnavailable, AuthError, OSError, TimeoutError, ConnectionError)


@dataclass(frozen=True)
class Accepted:
    queued: tuple[str, ...] = ()  # job ids
    deduped: tuple[str, ...] = ()  # job ids that already existed
    ignored: str | None = None  # why nothing was planned
    resolving: bool = False  # an untrusted trigger: a worker resolves the tag, then plans jobs


class WalNormalSqliteStorage(SqliteStorage):
    """huey's SQLite queue with synchronous=NORMAL: WAL stays consistent, no fsync per enqueue. A power cut
    can lose the last enqueues; their jobs are in the job store as `queued` and the reaper re-enqueues them."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


_current: "Service | None" = None  # the process's service, for huey tasks (registered by name)


def _task_run_job(job_id: str) -> None:
    assert _current is not None
    _current.run_job(job_id)


def _task_resolve(registry: str, repository: str, tag: str, source: str) -> None:
    assert _current is not None
    _current.resolve_and_accept(registry, repository, tag, source)


class Service:
    def __init__(self, config: ServiceConfig, rules: Rules | None = None):
        global _current
        self.config = config
        rules = rules if rules is not None else load_rules(config.rules_path)
        self.rules = dataclasses.replace(rules, allow_loopback=is_loopback(config.listen_host))
        config.state_dir.mkdir(parents=True, exist_ok=True)
        if config.redis_url:
            self.store: JobStore = RedisStore(config.redis_url, prefix=config.name)
            self.huey = RedisHuey(config.name, url=config.redis_url, results=False)
        else:
            self.store = SqliteStore(config.jobs_path)
            self.huey = SqliteHuey(config.name, filename=str(config.queue_path), results=False,
                                   storage_class=WalNormalSqliteStorage)
        self._run_task = self.huey.task(name="faktory.run_job")(_task_run_job)
        # Resolving is one registry request: huey's own retries are enough (no job record exists yet).
        self._resolve_task = self.huey.task(name="faktory.resolve", retries=3, retry_delay=5)(_task_resolve)
        self._clients: dict[str, RegistryClient] = {}
        _current = self
        if not config.redis_url:
            # The consumer forks worker processes (again after one dies) while our reaper thread may hold
            # huey's storage lock: a child must start with its own lock and connection.
            os.register_at_fork(after_in_child=self._reset_queue_after_fork)

    def _reset_queue_after_fork(self) -> None:
        storage = self.huey.storage
        storage.lock = threading.Lock()
        storage._conn = None

    # -- HTTP side ----------------------------------------------------------------------------------
    def accept(self, event: PushEvent) -> Accepted:
        """Turn one push into queued jobs. Cheap: no registry traffic (untrusted triggers resolve later)."""
        if not self.rules.accepts_registry(event.registry):
            return Accepted(ignored="registry not allowed")  # and nothing connects to it
        if event.digest is None or not event.trusted_digest:
            if not self.rules.plans(event.registry, event.repository, event.tag):
                return Accepted(ignored="no rule matches")
            self._resolve_task(event.registry, event.repository, event.tag, event.source)
            return Accepted(resolving=True)
        return self._plan(event.registry, event.repository, event.tag, event.digest, event.source)

    def _plan(self, registry: str, repository: str, tag: str | None, digest: str, source: str) -> Accepted:
        plans = self.rules.plans(registry, repository, tag)
        if not plans:
            return Accepted(ignored="no rule matches")
        queued, deduped = [], []
        now = time.time()
        for plan in plans:
            job = Job(
                id=job_id_for(repository, digest, plan.target, plan.destination),
                state=QUEUED, registry=registry, repository=repository, tag=tag, digest=digest,
                target=plan.target, destination=plan.destination, verify=plan.verify,
                options=dict(plan.options), analysis=dict(plan.analysis), event_source=source,
                enqueued_at=now, created_at=now, updated_at=now,
            )
            if self.store.create(job) or self._requeue_failed(job.id, now):
                self.enqueue(job.id)
                queued.append(job.id)
            else:
                deduped.append(job.id)
        return Accepted(tuple(queued), tuple(deduped))

    def _requeue_failed(self, job_id: str, now: float) -> bool:
        """A new push of something that failed before gets a fresh set of attempts (the cause may be fixed)."""
        return self.store.update(job_id, lambda j: j.replace(
            state=QUEUED, attempts=0, enqueued_at=now, finished_at=None, note=f"re-queued after: {j.error}")
            if j.state == FAILED else None) is not None

    def enqueue(self, job_id: str, delay: float = 0) -> None:
        if delay > 0:
            self._run_task.schedule(args=(job_id,), delay=delay)
        else:
            self._run_task(job_id)

    # -- worker side --------------------------------------------------------------------------------
    def client(self, registry: str) -> RegistryClient:
        if registry not in self._clients:
            self._clients[registry] = RegistryClient(registry, insecure=self.rules.insecure_registries)
        return self._clients[registry]

    def resolve_and_accept(self, registry: str, repository: str, tag: str, source: str) -> Accepted:
        """Untrusted trigger: ask the registry itself what the tag points at."""
        digest = self.client(registry).get_manifest(repository, tag).digest
        return self._plan(registry, repository, tag, digest, source)

    def worker_name(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def run_job(self, job_id: str) -> Job | None:
        me, now, lease = self.worker_name(), time.time(), self.config.lease_seconds

        def claim(job: Job) -> Job | None:
            if job.state in (QUEUED, RETRYING) or (job.state == RUNNING and job.lease_until < now):
                note = job.note
                if job.state == RUNNING:
                    note = f"attempt {job.attempts} lost: worker {job.worker} stopped during {job.phase}"
                return job.replace(state=RUNNING, worker=me, attempts=job.attempts + 1,
                                   lease_until=now + lease, phase="start", note=note, started_at=now)
            return None  # done, failed, or held by a live worker: a duplicate delivery

        job = self.store.update(job_id, claim)
        if job is None:
            return None
        if job.attempts > self.config.max_attempts:
            return self._finish(job, FAILED, error=f"gave up after {job.attempts - 1} attempts; {job.note or job.error}")

        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job_id, me, stop), daemon=True)
        beat.start()
        started = time.monotonic()
        try:
            if job.kind == AUDIT:
                self._phase(job_id, me, "analyze")
                from faktory.audit.queue import audit_job

                return self._finish(job, DONE, result=audit_job(job), seconds=time.monotonic() - started, error=None)
            outcome = convert_and_publish(job, self.client, lambda p: self._phase(job_id, me, p),
                                          workdir=own_workdir(self.config.work_dir),
                                          previous=self.store.result_for(job.conversion_key))
        except SkipJob as exc:
            return self._finish(job, SKIPPED, note=str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure ends in the job record
            return self._failed(job, exc)
        finally:
            stop.set()
        seconds = time.monotonic() - started
        self.store.record_result(job.conversion_key, outcome.result_ref)
        if outcome.published and not outcome.reused:
            self.store.observe_seconds(seconds)
        extra = {} if outcome.published else {"note": "already published by an earlier attempt"}
        if outcome.reused:
            extra["note"] = f"same digest already converted: re-tagged {outcome.reused}"
        if outcome.verified is not None:
            extra["verified"] = list(outcome.verified)
        return self._finish(job, DONE, result_ref=outcome.result_ref, seconds=seconds, error=None, **extra)

    def _owned(self, job_id: str, me: str, change) -> Job | None:
        return self.store.update(job_id, lambda j: change(j) if j.state == RUNNING and j.worker == me else None)

    def _phase(self, job_id: str, me: str, phase: str) -> None:
        self._owned(job_id, me, lambda j: j.replace(phase=phase, lease_until=time.time() + self.config.lease_seconds))

    def _heartbeat(self, job_id: str, me: str, stop: threading.Event) -> None:
        while not stop.wait(self.config.lease_seconds / 3):
            try:
                self._owned(job_id, me, lambda j: j.replace(lease_until=time.time() + self.config.lease_seconds))
            except Exception:  # noqa: BLE001 - a missed beat only risks a harmless duplicate attempt
                log.warning("heartbeat for job %s failed", job_id, exc_info=True)

    def _finish(self, job: Job, state: str, **fields) -> Job | None:
        done = self._owned(job.id, job.worker, lambda j: j.replace(
            state=state, finished_at=time.time(), lease_until=0.0, **fields))
        log.info("job %s %s %s", job.id, state, fields.get("result_ref") or fields.get("error") or "")
        return done

    def _failed(self, job: Job, exc: Exception) -> Job | None:
        reason = f"{exc.__class__.__name__}: {exc}" if not isinstance(exc, FaktoryError) else str(exc)
        transient = isinstance(exc, TRANSIENT_ERRORS) or not isinstance(exc, FaktoryError)
        if transient and job.attempts < self.config.max_attempts:
            delay = self.config.backoff_seconds * 2 ** (job.attempts - 1)
            updated = self._owned(job.id, job.worker, lambda j: j.replace(
                state=RETRYING, error=reason, next_attempt_at=time.time() + delay, lease_until=0.0))
            if updated is not None:
                self.enqueue(job.id, delay=delay)
            log.warning("job %s attempt %d failed, retry in %.0fs: %s", job.id, job.attempts, delay, reason)
            return updated
        if transient:
            reason = f"failed after {job.attempts} attempts: {reason}"
        return self._finish(job, FAILED, error=reason)

    # -- recovery -----------------------------------------------------------------------------------
    def reap(self) -> list[str]:
        """Re-queue jobs whose worker died (lease expired) or whose queue message went missing."""
        now, requeued = time.time(), []
        for job in self.store.active():
            if job.state == RUNNING and job.lease_until < now:
                why = f"attempt {job.attempts} lost: worker {job.worker} stopped during {job.phase}"
                cond = lambda j: j.state == RUNNING and j.lease_until < now  # noqa: E731
            elif job.state == RETRYING and job.next_attempt_at + self.config.queued_grace_seconds < now:
                why, cond = job.note, (lambda j: j.state == RETRYING)
            elif job.state == QUEUED and job.enqueued_at + self.config.queued_grace_seconds < now:
                why, cond = job.note, (lambda j: j.state == QUEUED)
            else:
                continue
            moved = self.store.update(job.id, lambda j, c=cond, w=why: j.replace(
                state=QUEUED, enqueued_at=now, note=w) if c(j) else None)
            if moved is not None:
                self.enqueue(job.id)
                requeued.append(job.id)
        return requeued

    def expire(self, now: float | None = None) -> int:
        """Forget finished jobs past the retention (their results stay: a re-push is still re-tagged)."""
        if self.config.job_retention_seconds <= 0:
            return 0
        return self.store.expire_finished((time.time() if now is None else now) - self.config.job_retention_seconds)

    def reaper(self, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            next_expiry = 0.0
            while not stop.wait(self.config.reap_interval):
                try:
                    for job_id in self.reap():
                        log.warning("job %s re-queued: its worker stopped", job_id)
                    if time.time() >= next_expiry:
                        next_expiry = time.time() + self.config.expire_interval
                        if gone := self.expire():
                            log.info("forgot %d finished jobs older than the retention", gone)
                except Exception:  # noqa: BLE001 - keep reaping; the next round may succeed
                    log.warning("reaper round failed", exc_info=True)

        thread = threading.Thread(target=loop, name="faktory-reaper", daemon=True)
        thread.start()
        return thread
