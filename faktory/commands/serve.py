"""`faktory serve`: the registry webhook service (see docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from faktory.errors import FaktoryError


class ServeError(FaktoryError):
    pass


def default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("faktory")) / "service"


def command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8480, help="Port to listen on."),
    rules: Optional[Path] = typer.Option(None, help="Rules file (YAML). Default: every tag -> oci."),
    secret: Optional[str] = typer.Option(
        None, envvar="FAKTORY_WEBHOOK_SECRET", show_envvar=True,
        help="Shared secret: the Authorization header (or Docker Hub URL path) must carry it."),
    redis: Optional[str] = typer.Option(None, help="redis://… : queue and job store in Redis (many machines)."),
    workers: int = typer.Option(2, min=0, help="Worker processes started with the server."),
    no_workers: bool = typer.Option(False, "--no-workers", help="HTTP only; run workers with --worker-only."),
    worker_only: bool = typer.Option(False, "--worker-only", help="Run only the queue workers."),
    state_dir: Optional[Path] = typer.Option(None, help="SQLite queue/jobs and scratch space."),
    queue_name: str = typer.Option("faktory", help="Queue name / Redis key prefix."),
    lease_seconds: float = typer.Option(30.0, min=1.0, help="A silent worker's job is re-queued after this."),
    max_attempts: int = typer.Option(3, min=1, help="Attempts before a job ends as failed."),
    backoff_seconds: float = typer.Option(5.0, min=0.0, help="Retry n waits BACKOFF * 2^(n-1)."),
    job_retention_days: float = typer.Option(30.0, min=0.0, help="Finished jobs are forgotten after this many "
                                                                  "days (0: never)."),
    log_level: str = typer.Option("info", help="debug|info|warning|error"),
) -> None:
    from faktory.service.config import ServiceConfig
    from faktory.service.rules import load_rules
    from faktory.service.runner import run_server, run_workers

    config = ServiceConfig(
        state_dir=(state_dir or default_state_dir()).absolute(),
        rules_path=rules.absolute() if rules else None,
        redis_url=redis, name=queue_name, lease_seconds=lease_seconds,
        max_attempts=max_attempts, backoff_seconds=backoff_seconds,
        job_retention_seconds=job_retention_days * 86400, listen_host=host,
    )
    load_rules(config.rules_path)  # a bad rules file is a one-line error now, not in every worker
    if redis:
        check_redis(redis)
    if worker_only:
        if no_workers:
            raise ServeError("--worker-only and --no-workers exclude each other")
        run_workers(config, max(workers, 1), log_level)
        return
    if not secret:
        raise ServeError("a webhook secret is required: --secret or FAKTORY_WEBHOOK_SECRET")
    run_server(config, secret, host, port, 0 if no_workers else workers, log_level)


def check_redis(url: str) -> None:
    import redis as redis_lib

    try:
        redis_lib.Redis.from_url(url, socket_connect_timeout=5).ping()
    except (redis_lib.RedisError, ValueError) as exc:
        raise ServeError(f"cannot reach Redis at {url}: {exc}") from None
