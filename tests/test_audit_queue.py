"""`faktory audit --queue` over the service's own workers: real `faktory serve --worker-only` processes, a real
SQLite or Redis queue and job store, real fixture images from the local registry.

A worker killed with SIGKILL mid-image costs a retry (or, on its last attempt, an error row naming the worker);
a SIGINT to the audit ends it with a partial report, leaves no job of its run for a worker to take, and a re-run
completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from faktory.service.jobs import AUDIT, DONE, FAILED, FINAL_STATES, RUNNING, SKIPPED
from faktory.service.store import RedisStore, SqliteStore
from tests.test_service_e2e import redis_queue  # noqa: F401 - a fixture: a fresh Redis prefix, removed after
from tests.test_service_helpers import Proc, wait_for

pytestmark = pytest.mark.slow
APPS = ("flask", "requests-cli", "pkg-app")
TIMEOUT = 600  # a hang guard, never a speed assertion
SLOW_ANALYSIS = {"FAKTORY_NO_SCAN_CACHE": "1"}  # workers inherit it: an image takes long enough to be killed in


class Queue:
    """Worker-only processes on one queue, and the audit command pointed at the same queue."""

    def __init__(self, tmp: Path, args: list[str], store):
        self.tmp, self.args, self.store = tmp, args, store
        self.workers: list[Proc] = []

    def start_workers(self, count: int, *extra: str, env: dict | None = None) -> Proc:
        proc = Proc(["--worker-only", "--workers", str(count), "--lease-seconds", "2", "--backoff-seconds", "1",
                     *extra, *self.args, *self._worker_state()], self.tmp / f"worker{len(self.workers)}.log", env=env)
        self.workers.append(proc)
        return proc

    def _worker_state(self) -> list[str]:
        return [] if "--state-dir" in self.args else ["--state-dir", str(self.tmp / f"w{len(self.workers)}")]

    def audit_argv(self, refs: list[str], out: Path) -> list[str]:
        return [sys.executable, "-m", "faktory", "audit", *refs, "--queue", *self.args, "--no-cache",
                "--targets", "oci,microvm", "--json", str(out)]

    def audit(self, refs: list[str], out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(self.audit_argv(refs, out), capture_output=True, text=True, timeout=TIMEOUT)

    def audit_jobs(self) -> list:
        return [j for j in self.store.list(limit=1000) if j.kind == AUDIT]

    def close(self) -> None:
        for proc in self.workers:
            proc.stop()
        self.store.close()


@pytest.fixture
def sqlite_queue(tmp_path):
    state = tmp_path / "state"
    queue = Queue(tmp_path, ["--state-dir", str(state)], SqliteStore(state / "jobs.db"))
    yield queue
    queue.close()


@pytest.fixture
def redis_q(tmp_path, redis_queue):  # noqa: F811
    url, name = redis_queue
    queue = Queue(tmp_path, ["--redis", url, "--queue-name", name], RedisStore(url, prefix=name))
    yield queue
    queue.close()


@pytest.fixture(params=["sqlite", "redis"])
def any_queue(request):
    return request.getfixturevalue("sqlite_queue" if request.param == "sqlite" else "redis_q")


def registry_refs(fixture_images, names=APPS) -> list[str]:
    return [f"docker://{fixture_images[name].registry_ref}" for name in names]


def kill_first_running_worker(queue: Queue, worker: Proc):
    """SIGKILL the worker process (a child of `worker`) holding the first audit job seen analysing. Waiting for
    the analyze phase, not just RUNNING: a job taken a moment ago is still in its "start" phase."""
    running = wait_for(lambda: next((j for j in queue.audit_jobs() if j.state == RUNNING and j.phase == "analyze"),
                                    None), TIMEOUT, "an audit job analysing", interval=0.05)
    pid = int(running.worker.rsplit(":", 1)[1])
    assert _parent(pid) == worker.popen.pid, "the job's worker is not one of the processes this test started"
    os.kill(pid, signal.SIGKILL)
    return running


def audit_during(queue: Queue, refs: list[str], out: Path, act):
    """Run the audit command while `act(process)` does something to it or its workers: (what act returned,
    the exit status, stderr)."""
    audit = subprocess.Popen(
        queue.audit_argv(refs, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A terminal's Ctrl-C meets the default disposition; a background shell's children inherit it ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        seen = act(audit)
        _, stderr = audit.communicate(timeout=TIMEOUT)
    finally:
        if audit.poll() is None:
            audit.kill()
    return seen, audit.returncode, stderr


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])



def test_every_image_is_one_job_on_the_workers_and_one_row(any_queue, fixture_images, tmp_path):
    refs = registry_refs(fixture_images)
    broken = f"docker-archive:{tmp_path}/missing.tar"
    worker = any_queue.start_workers(2)
    done = any_queue.audit([*refs, broken], tmp_path / "report.json")
    assert done.returncode == 0, done.stderr + worker.output()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["complete"] is True
    rows = report["images"]
    assert [r["ref"] for r in rows] == [*refs, broken]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error"], [r["error"] for r in rows]
    assert "missing.tar" in rows[3]["error"] or "No such file" in rows[3]["error"], rows[3]["error"]
    for name, row in zip(APPS, rows):
        assert row["interpreter"]["version"].startswith(fixture_images[name].python_version + "."), name
        assert set(row["targets"]) == {"oci", "microvm"}, name
    flask = {(d["name"], d["version"]) for d in rows[0]["distributions"]}
    assert ("Flask", "3.0.3") in flask  # fixtures/apps/flask/requirements.txt pins flask==3.0.3

    jobs = any_queue.audit_jobs()
    assert sorted(j.repository for j in jobs) == sorted([*refs, broken])
    assert all(j.state == DONE and j.attempts == 1 for j in jobs), [(j.state, j.error) for j in jobs]
    # Analysed by the service's worker processes, not by the audit command.
    assert {_parent(int(j.worker.rsplit(":", 1)[1])) for j in jobs if _alive(j.worker)} == {worker.popen.pid}


def _alive(worker: str) -> bool:
    return Path(f"/proc/{worker.rsplit(':', 1)[1]}").exists()


def test_a_worker_killed_mid_image_costs_a_retry_not_the_row(redis_q, fixture_images, tmp_path):
    refs = registry_refs(fixture_images)
    worker = redis_q.start_workers(1, env=SLOW_ANALYSIS)
    out = tmp_path / "report.json"
    victim, code, stderr = audit_during(redis_q, refs, out, lambda _: kill_first_running_worker(redis_q, worker))
    assert code == 0, stderr + worker.output()
    rows = json.loads(out.read_text())["images"]
    assert [r["ref"] for r in rows] == refs
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    retried = redis_q.store.get(victim.id)
    assert retried.state == DONE and retried.attempts == 2, retried
    assert f"worker {victim.worker} stopped during analyze" in retried.note
    assert retried.worker != victim.worker  # the consumer started a new worker process


def test_a_worker_killed_on_the_last_attempt_is_an_error_row_naming_it(sqlite_queue, fixture_images, tmp_path):
    refs = registry_refs(fixture_images, ("flask", "pkg-app"))
    worker = sqlite_queue.start_workers(1, "--max-attempts", "1", env=SLOW_ANALYSIS)
    out = tmp_path / "report.json"
    victim, code, stderr = audit_during(sqlite_queue, refs, out,
                                        lambda _: kill_first_running_worker(sqlite_queue, worker))
    assert code == 0, stderr + worker.output()  # one image failed, not all
    rows = {r["ref"]: r for r in json.loads(out.read_text())["images"]}
    assert set(rows) == set(refs)
    dead = rows[victim.repository]
    assert dead["status"] == "error"
    assert dead["error"].startswith("audit job failed: gave up after 1 attempts")
    assert f"worker {victim.worker} stopped during analyze" in dead["error"]
    (other,) = set(refs) - {victim.repository}
    assert rows[other]["status"] == "ok", rows[other]["error"]
    assert sqlite_queue.store.get(victim.id).state == FAILED


def test_ctrl_c_stops_cleanly_leaves_no_job_to_take_and_a_rerun_completes(sqlite_queue, fixture_images, tmp_path):
    refs = registry_refs(fixture_images)
    worker = sqlite_queue.start_workers(1, env=SLOW_ANALYSIS)
    out = tmp_path / "partial.json"

    def interrupt(audit: subprocess.Popen) -> None:
        wait_for(lambda: any(j.state == RUNNING for j in sqlite_queue.audit_jobs()), TIMEOUT, "an audit job running",
                 interval=0.05)
        audit.send_signal(signal.SIGINT)

    _, code, stderr = audit_during(sqlite_queue, refs, out, interrupt)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert "faktory: interrupted; partial report of" in stderr
    report = json.loads(out.read_text())
    assert report["complete"] is False and report["requested"] == len(refs)
    assert len(report["images"]) < len(refs)
    first_run = sqlite_queue.audit_jobs()
    assert len(first_run) == len(refs)
    assert all(j.state in FINAL_STATES for j in first_run), [(j.state, j.note) for j in first_run]
    assert any(j.state == SKIPPED and j.note == "audit interrupted" for j in first_run)

    done = sqlite_queue.audit(refs, tmp_path / "again.json")
    assert done.returncode == 0, done.stderr + worker.output()
    rows = json.loads((tmp_path / "again.json").read_text())["images"]
    assert [r["ref"] for r in rows] == refs and all(r["status"] == "ok" for r in rows)
    # The interrupted run's jobs stayed as they were: its skipped jobs were dropped, not run late.
    assert {j.id: j.state for j in sqlite_queue.store.many([j.id for j in first_run])} == \
        {j.id: j.state for j in first_run}
    assert "Traceback" not in worker.output()
