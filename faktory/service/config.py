"""Service settings shared by the HTTP server and the worker processes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceConfig:
    state_dir: Path
    rules_path: Path | None = None
    redis_url: str | None = None  # None: SQLite queue + job store in state_dir
    name: str = "faktory"  # queue name and Redis key prefix: several services can share one Redis
    lease_seconds: float = 30.0  # a running job whose worker stops heartbeating for this long is re-queued
    max_attempts: int = 3
    backoff_seconds: float = 5.0  # retry n waits backoff * 2**(n-1)
    reap_interval: float = 2.0
    queued_grace_seconds: float = 300.0  # a queued job nobody picked up for this long is enqueued again
    job_retention_seconds: float = 30 * 86400  # finished jobs older than this are forgotten; 0 keeps them all
    expire_interval: float = 3600.0
    listen_host: str = "127.0.0.1"  # where the HTTP side listens: loopback registries are allowed only then

    @property
    def queue_path(self) -> Path:
        return self.state_dir / "queue.db"

    @property
    def jobs_path(self) -> Path:
        return self.state_dir / "jobs.db"

    @property
    def work_dir(self) -> Path:
        return self.state_dir / "work"

    def to_argv(self) -> list[str]:
        """The options that make a worker process share this service's queue and store."""
        argv = ["--state-dir", str(self.state_dir), "--queue-name", self.name, "--host", self.listen_host,
                "--lease-seconds", str(self.lease_seconds), "--max-attempts", str(self.max_attempts),
                "--backoff-seconds", str(self.backoff_seconds),
                "--job-retention-days", str(self.job_retention_seconds / 86400)]
        if self.rules_path:
            argv += ["--rules", str(self.rules_path)]
        if self.redis_url:
            argv += ["--redis", self.redis_url]
        return argv
