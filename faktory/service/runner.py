"""Process layout of `faktory serve`.

server:  uvicorn (HTTP) + a reaper thread, and unless --no-workers one child process running
         `faktory serve --worker-only`, stopped with it.
workers: a huey consumer with N worker *processes* (a crash or kill -9 of one loses no job: its lease
         expires and the reaper re-queues it) + a reaper thread.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import threading

from faktory.service.config import ServiceConfig

log = logging.getLogger("faktory.service")


def _die_with_parent() -> None:
    # Linux PR_SET_PDEATHSIG: the worker child gets SIGTERM when the server process goes away.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")


def spawn_workers(config: ServiceConfig, workers: int, log_level: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "faktory", "serve", "--worker-only", "--workers", str(workers),
            "--log-level", log_level, *config.to_argv()]
    return subprocess.Popen(argv, preexec_fn=_die_with_parent)


def run_server(config: ServiceConfig, secret: str, host: str, port: int, workers: int, log_level: str = "info") -> None:
    import uvicorn

    from faktory.service.app import create_app
    from faktory.service.service import Service

    _logging(log_level)
    service = Service(config)
    app = create_app(service, secret)
    stop = threading.Event()
    service.reaper(stop)
    supervisor = WorkerSupervisor(config, workers, log_level, stop) if workers > 0 else None
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        stop.set()
        if supervisor is not None:
            supervisor.shutdown()


class WorkerSupervisor:
    """Keeps the worker child running: if it dies (OOM killer, a bug), it is started again."""

    def __init__(self, config: ServiceConfig, workers: int, log_level: str, stop: threading.Event):
        self.args = (config, workers, log_level)
        self.stop = stop
        self.child = spawn_workers(*self.args)
        self.thread = threading.Thread(target=self._watch, name="faktory-workers", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stop.is_set():
            code = self.child.wait()
            if self.stop.wait(2):
                return
            log.error("worker process exited with %s; starting it again", code)
            self.child = spawn_workers(*self.args)

    def shutdown(self) -> None:
        self.child.terminate()
        try:
            self.child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.child.kill()


def run_workers(config: ServiceConfig, workers: int, log_level: str = "info") -> None:
    from faktory.service.service import Service

    _logging(log_level)
    service = Service(config)
    stop = threading.Event()
    service.reaper(stop)
    consumer = service.huey.create_consumer(
        workers=workers, worker_type="process", periodic=False,
        initial_delay=0.1, max_delay=1.0, backoff=1.15,
        check_worker_health=True, health_check_interval=1,
    )
    try:
        consumer.run()
    finally:
        stop.set()
