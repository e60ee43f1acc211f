"""Job and event stores shared by the HTTP server and every worker process.

SqliteStore: one file in the state dir (WAL; safe across processes on one machine).
RedisStore: for workers on many machines. Both give an atomic read-modify-write (`update`), which is all
the claim/lease/finish logic needs.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Protocol

from faktory.service.jobs import ACTIVE_STATES, ALL_STATES, FINAL_STATES, Job

EVENT_TTL_SECONDS = 7 * 24 * 3600
SECONDS_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

Updater = Callable[[Job], "Job | None"]


class JobStore(Protocol):
    def seen_event(self, event_id: str) -> bool:
        """Whether an event id was recorded before (a replay)."""

    def add_event(self, event_id: str) -> bool:
        """Remember an event id once its jobs are stored and queued; False if it was recorded before.
        Recording it after the jobs means a crash in between lets the sender's retry through (jobs dedupe)."""

    def create(self, job: Job) -> bool:
        """Insert unless a job with this id exists; False means deduped."""

    def get(self, job_id: str) -> Job | None: ...

    def many(self, job_ids: Iterable[str]) -> list[Job]:
        """The jobs of these ids that exist, in no particular order (one round trip per few hundred)."""

    def list(self, limit: int = 100, state: str | None = None) -> list[Job]:
        """Newest first, optionally only jobs in one state."""

    def update(self, job_id: str, fn: Updater) -> Job | None:
        """Atomically apply fn to the stored job; fn returns the new job or None to leave it. Returns the new job."""

    def active(self) -> list[Job]: ...

    def expire_finished(self, created_before: float) -> int:
        """Forget done/failed/skipped jobs created before this time; how many went."""

    def record_result(self, key: str, ref: str) -> None:
        """Remember where the conversion `key` (repository, digest, target) was published."""

    def result_for(self, key: str) -> str | None: ...

    def counts(self) -> dict[str, int]: ...

    def observe_seconds(self, seconds: float) -> None: ...

    def seconds_histogram(self) -> tuple[list[tuple[float, int]], float, int]:
        """Cumulative (le, count) buckets, sum, count — across every worker."""

    def close(self) -> None: ...


def _bucket_index(seconds: float) -> int:
    return bisect.bisect_left(SECONDS_BUCKETS, seconds)  # len(BUCKETS) means +Inf


def _cumulative(raw: dict[int, int]) -> list[tuple[float, int]]:
    out, running = [], 0
    for i, le in enumerate(SECONDS_BUCKETS + (float("inf"),)):
        running += raw.get(i, 0)
        out.append((le, running))
    return out


class SqliteStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Threads of one process take turns here instead of in SQLite's sleeping busy handler, which
        # turns a burst of webhook calls into a queue of 25-100 ms naps.
        self._write_lock, self._write_pid = threading.RLock(), os.getpid()
        with self._conn() as conn:
            conn.executescript(
                """
                CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL,
                    created REAL NOT NULL, data TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
                CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created);
                CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, seen REAL NOT NULL);
                CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, ref TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS seconds (bucket INTEGER PRIMARY KEY, n INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS seconds_total (k INTEGER PRIMARY KEY, sum REAL, n INTEGER);
                """
            )

    @property
    def _write(self) -> threading.RLock:
        # huey forks worker processes; a lock some other thread held at fork time would never be released.
        if self._write_pid != os.getpid():
            self._write_lock, self._write_pid = threading.RLock(), os.getpid()
        return self._write_lock

    def _conn(self) -> sqlite3.Connection:
        # One connection per process and thread: huey forks workers, Starlette uses a thread pool.
        key = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != key:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn, self._local.pid = conn, key
        return conn

    def add_event(self, event_id: str) -> bool:
        with self._write:
            conn = self._conn()
            now = time.time()
            cur = conn.execute("INSERT OR IGNORE INTO events (id, seen) VALUES (?, ?)", (event_id, now))
            if cur.rowcount and int(now) % 97 == 0:  # now and then, forget very old ids
                conn.execute("DELETE FROM events WHERE seen < ?", (now - EVENT_TTL_SECONDS,))
            return cur.rowcount == 1

    def seen_event(self, event_id: str) -> bool:
        return self._conn().execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is not None

    def create(self, job: Job) -> bool:
        with self._write:
            cur = self._conn().execute(
                "INSERT OR IGNORE INTO jobs (id, state, created, data) VALUES (?, ?, ?, ?)",
                (job.id, job.state, job.created_at, job.to_json()),
            )
            return cur.rowcount == 1

    def get(self, job_id: str) -> Job | None:
        row = self._conn().execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_json(row[0]) if row else None

    def many(self, job_ids: Iterable[str]) -> list[Job]:
        ids, out = list(job_ids), []
        for start in range(0, len(ids), 500):  # below SQLite's limit of bound parameters
            chunk = ids[start:start + 500]
            rows = self._conn().execute(f"SELECT data FROM jobs WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            out += [Job.from_json(r[0]) for r in rows]
        return out

    def list(self, limit: int = 100, state: str | None = None) -> list[Job]:
        if state is None:
            rows = self._conn().execute("SELECT data FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
        else:
            rows = self._conn().execute(
                "SELECT data FROM jobs WHERE state = ? ORDER BY created DESC LIMIT ?", (state, limit))
        return [Job.from_json(r[0]) for r in rows]

    def update(self, job_id: str, fn: Updater) -> Job | None:
        with self._write:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock: read-modify-write is atomic across processes
            try:
                row = conn.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
                new = fn(Job.from_json(row[0])) if row else None
                if new is not None:
                    new = new.replace(updated_at=time.time())
                    conn.execute("UPDATE jobs SET state = ?, data = ? WHERE id = ?", (new.state, new.to_json(), job_id))
                conn.execute("COMMIT")
                return new
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def active(self) -> list[Job]:
        marks = ",".join("?" * len(ACTIVE_STATES))
        rows = self._conn().execute(f"SELECT data FROM jobs WHERE state IN ({marks})", ACTIVE_STATES)
        return [Job.from_json(r[0]) for r in rows]

    def expire_finished(self, created_before: float) -> int:
        marks = ",".join("?" * len(FINAL_STATES))
        with self._write:
            cur = self._conn().execute(f"DELETE FROM jobs WHERE created < ? AND state IN ({marks})",
                                       (created_before, *FINAL_STATES))
            return cur.rowcount

    def record_result(self, key: str, ref: str) -> None:
        with self._write:
            self._conn().execute("INSERT OR REPLACE INTO results (key, ref) VALUES (?, ?)", (key, ref))

    def result_for(self, key: str) -> str | None:
        row = self._conn().execute("SELECT ref FROM results WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(ALL_STATES, 0)
        for state, n in self._conn().execute("SELECT state, count(*) FROM jobs GROUP BY state"):
            out[state] = n
        return out

    def observe_seconds(self, seconds: float) -> None:
        with self._write:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO seconds (bucket, n) VALUES (?, 1) ON CONFLICT(bucket) DO UPDATE SET n = n + 1",
                (_bucket_index(seconds),),
            )
            conn.execute(
                "INSERT INTO seconds_total (k, sum, n) VALUES (0, ?, 1) "
                "ON CONFLICT(k) DO UPDATE SET sum = sum + excluded.sum, n = n + 1",
                (seconds,),
            )
            conn.execute("COMMIT")

    def seconds_histogram(self) -> tuple[list[tuple[float, int]], float, int]:
        conn = self._conn()
        raw = dict(conn.execute("SELECT bucket, n FROM seconds").fetchall())
        row = conn.execute("SELECT sum, n FROM seconds_total WHERE k = 0").fetchone() or (0.0, 0)
        return _cumulative(raw), float(row[0]), int(row[1])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class RedisStore:
    """Keys under `<prefix>:`: job:<id> (JSON), jobs (zset by creation), state:<s> (sets), event:<id>."""

    def __init__(self, url: str, prefix: str = "faktory"):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix,) + parts)

    def add_event(self, event_id: str) -> bool:
        return bool(self.redis.set(self._k("event", event_id), b"1", nx=True, ex=EVENT_TTL_SECONDS))

    def seen_event(self, event_id: str) -> bool:
        return bool(self.redis.exists(self._k("event", event_id)))

    def create(self, job: Job) -> bool:
        import redis

        key = self._k("job", job.id)
        while True:  # the job and its indexes in one transaction: a crash never leaves a job no state lists
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    if pipe.exists(key):
                        return False
                    pipe.multi()
                    pipe.set(key, job.to_json())
                    pipe.zadd(self._k("jobs"), {job.id: job.created_at})
                    pipe.sadd(self._k("state", job.state), job.id)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def get(self, job_id: str) -> Job | None:
        raw = self.redis.get(self._k("job", job_id))
        return Job.from_json(raw) if raw else None

    def many(self, job_ids: Iterable[bytes | str]) -> list[Job]:
        ids = [i.decode() if isinstance(i, bytes) else i for i in job_ids]
        out = []
        for start in range(0, len(ids), 500):
            raws = self.redis.mget([self._k("job", i) for i in ids[start:start + 500]])
            out += [Job.from_json(r) for r in raws if r]
        return out

    def list(self, limit: int = 100, state: str | None = None) -> list[Job]:
        if state is None:
            return self.many(self.redis.zrevrange(self._k("jobs"), 0, limit - 1))
        jobs = self.many(self.redis.smembers(self._k("state", state)))
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]

    def update(self, job_id: str, fn: Updater) -> Job | None:
        import redis

        key = self._k("job", job_id)
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(key)  # optimistic lock: the MULTI fails if anyone else wrote the job
                    raw = pipe.get(key)
                    if raw is None:
                        return None
                    old = Job.from_json(raw)
                    new = fn(old)
                    if new is None:
                        return None
                    new = new.replace(updated_at=time.time())
                    pipe.multi()
                    pipe.set(key, new.to_json())
                    if new.state != old.state:
                        pipe.srem(self._k("state", old.state), job_id)
                        pipe.sadd(self._k("state", new.state), job_id)
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue

    def active(self) -> list[Job]:
        ids: set = set()
        for state in ACTIVE_STATES:
            ids |= self.redis.smembers(self._k("state", state))
        return self.many(sorted(ids))

    def expire_finished(self, created_before: float) -> int:
        ids = [i.decode() for i in self.redis.zrangebyscore(self._k("jobs"), "-inf", f"({created_before}")]
        gone = 0
        for job in self.many(ids):
            if job.state not in FINAL_STATES:
                continue
            key = self._k("job", job.id)
            with self.redis.pipeline() as pipe:  # removed only if nobody changed it since we read it
                try:
                    pipe.watch(key)
                    current = pipe.get(key)
                    if current is None or Job.from_json(current).state not in FINAL_STATES:
                        continue
                    pipe.multi()
                    pipe.delete(key)
                    pipe.zrem(self._k("jobs"), job.id)
                    for state in FINAL_STATES:
                        pipe.srem(self._k("state", state), job.id)
                    pipe.execute()
                    gone += 1
                except self._watch_error():
                    continue
        return gone

    @staticmethod
    def _watch_error() -> type[Exception]:
        import redis

        return redis.WatchError

    def record_result(self, key: str, ref: str) -> None:
        self.redis.hset(self._k("results"), key, ref)

    def result_for(self, key: str) -> str | None:
        raw = self.redis.hget(self._k("results"), key)
        return raw.decode() if raw else None

    def counts(self) -> dict[str, int]:
        pipe = self.redis.pipeline()
        for state in ALL_STATES:
            pipe.scard(self._k("state", state))
        return dict(zip(ALL_STATES, pipe.execute()))

    def observe_seconds(self, seconds: float) -> None:
        pipe = self.redis.pipeline()
        pipe.hincrby(self._k("seconds"), str(_bucket_index(seconds)), 1)
        pipe.hincrbyfloat(self._k("seconds"), "sum", seconds)
        pipe.hincrby(self._k("seconds"), "count", 1)
        pipe.execute()

    def seconds_histogram(self) -> tuple[list[tuple[float, int]], float, int]:
        raw = {k.decode(): v for k, v in self.redis.hgetall(self._k("seconds")).items()}
        buckets = {int(k): int(v) for k, v in raw.items() if k.isdigit()}
        return _cumulative(buckets), float(raw.get("sum", 0)), int(raw.get("count", 0))

    def close(self) -> None:
        self.redis.close()
