"""Audit cost: a cold run (empty audit cache), then a warm re-run over the same images (every row cached);
then the same images over the service's queue with 1 and 2 workers (images/minute, 10,000 projected).

    .venv/bin/python bench/audit_bench.py [--jobs 2] [--prefix faktory-fixture/] [--limit N]
                                          [--workers 1,2] [--redis URL] [--queue-only] [--spread]

Runs the real CLI against images of the local engine. Layers may already be in the layer cache (the inspector's);
the audit cache starts empty in a temp dir. Prints the speed-up and a 1,000-image estimate from the measured
per-image analysis cost. The queue runs start real `faktory serve --worker-only` processes on a fresh SQLite
state dir (or a fresh Redis prefix) and time `faktory audit --queue --no-cache` with the module scan cache off,
so every worker count analyses every image from scratch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def engine_images(prefix: str) -> list[str]:
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=True).stdout.split()
    return sorted(ref for ref in out if ref.startswith(prefix) and not ref.endswith(":<none>"))


def audit(refs: list[str], jobs: int, cache_dir: Path, out: Path, extra: tuple[str, ...] = ()) -> float:
    started = time.perf_counter()
    # Pin the code revision: a working tree edited meanwhile must not turn the warm run into a cold one.
    env = dict(os.environ, FAKTORY_AUDIT_CODE_REVISION=f"bench-{os.getpid()}")
    subprocess.run([sys.executable, "-m", "faktory", "audit", *refs, "--jobs", str(jobs), "--quiet",
                    "--cache-dir", str(cache_dir), "--json", str(out), *extra], check=True, env=env)
    return time.perf_counter() - started


def warm_at_scale(refs: list[str], jobs: int, cache_dir: Path, count: int = 1000) -> float:
    """The warm path for `count` refs (these images repeated), in-process: key lookups + cache reads."""
    os.environ["FAKTORY_AUDIT_CODE_REVISION"] = f"bench-{os.getpid()}"
    from faktory.emitters.convert import ALL_TARGETS
    from faktory.audit.cache import DigestCache
    from faktory.audit.runner import run_audit

    many = (refs * (count // len(refs) + 1))[:count]
    started = time.perf_counter()
    outcome = run_audit(many, ALL_TARGETS, jobs=jobs, cache=DigestCache(cache_dir, ALL_TARGETS))
    elapsed = time.perf_counter() - started
    assert all(row.cached for row in outcome.rows) and len(outcome.rows) == count
    return elapsed


def _worker_processes(parent: int) -> int:
    return sum(len(p.read_text().split()) for p in Path(f"/proc/{parent}/task").glob("*/children"))


@dataclass(frozen=True)
class QueueRun:
    wall: float  # seconds of the audit command
    ok: int  # rows with status ok
    busy: float  # seconds the workers spent inside images (each row's own time)
    cpu: float  # CPU seconds of the workers, their consumer and the audit command (reaped children)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def queue_run(refs: list[str], workers: int, tmp: Path, redis_url: str | None, spread: bool) -> QueueRun:
    """One `audit --queue` over `refs` with `workers` worker processes started as the service starts them: one
    consumer with `--workers N`, or (`spread`) N consumers of one worker each, as N machines would run them."""
    name = f"bench{os.getpid()}w{workers}"
    where = ["--redis", redis_url, "--queue-name", name] if redis_url else ["--queue-name", name]
    state = ["--state-dir", str(tmp / f"state-{workers}")]
    env = dict(os.environ, FAKTORY_NO_SCAN_CACHE="1")
    cpu_before = _children_cpu()
    layout = [1] * workers if spread else [workers]
    procs = []
    with open(tmp / f"workers-{workers}.log", "wb") as log:
        for count in layout:  # each its own scheduler autogroup (setsid): a loaded machine is shared by autogroup
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "faktory", "serve", "--worker-only", "--workers", str(count), "--log-level",
                 "warning", *where, *state], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
    try:
        for _ in range(600):  # the consumers have forked their workers: the timing starts with them idle
            if sum(_worker_processes(proc.pid) for proc in procs) >= workers:
                break
            time.sleep(0.1)
        out = tmp / f"queue-{workers}.json"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "faktory", "audit", *refs, "--queue", *where,
                        *([] if redis_url else state), "--no-cache", "--quiet", "--json", str(out)],
                       check=True, env=env)
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        if redis_url:
            _drop_redis_keys(redis_url, name)
    rows = json.loads(out.read_text())["images"]  # the consumers joined their workers: their CPU is counted now
    return QueueRun(elapsed, sum(1 for row in rows if row["status"] == "ok"),
                    sum(row["seconds"] or 0 for row in rows), _children_cpu() - cpu_before)


def _drop_redis_keys(url: str, name: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for pattern in (f"{name}:*", f"huey.*{name}"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)


def queue_bench(refs: list[str], worker_counts: list[int], redis_url: str | None, spread: bool) -> None:
    layout = "one consumer per worker, each its own autogroup" if spread else "one consumer with --workers N"
    print(f"queue: {redis_url or 'sqlite'}, {len(refs)} images, cold (no row cache, no module scan cache), {layout}")
    rates, cpu = {}, {}
    with tempfile.TemporaryDirectory(prefix="audit-queue-bench-") as tmp:
        for workers in worker_counts:
            load = os.getloadavg()[0]
            run = queue_run(refs, workers, Path(tmp), redis_url, spread)
            rates[workers] = len(refs) * 60 / run.wall
            cpu[workers] = run.cpu / len(refs)
            # busy: how much of the wall the workers spent inside an image (the rest is queue and idle time);
            # per image: each image's own wall time, which grows when the cores are shared with other work.
            print(f"  {workers} worker(s): {run.wall:6.1f} s, {rates[workers]:5.1f} images/min, {run.ok}/{len(refs)} "
                  f"ok; 10,000 images ≈ {10000 / rates[workers] / 60:.1f} h; per image {run.busy / len(refs):.1f} s "
                  f"wall, {cpu[workers]:.1f} s CPU; workers busy {run.busy / (run.wall * workers):.0%}; "
                  f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    if len(rates) > 1:
        low, high = min(rates), max(rates)
        print(f"  scaling {low} -> {high} workers: {rates[high] / rates[low]:.2f}x wall rate")
    each = min(cpu.values())
    print(f"  CPU bound: {60 / each:.1f} images/min per free core; 10,000 images ≈ {10000 * each / 3600:.1f} "
          f"core-hours, ≈ {10000 * each / 3600 / 2:.1f} h on 2 idle cores, ≈ {10000 * each / 3600 / 16:.1f} h "
          f"on 16 workers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--prefix", default="faktory-fixture/")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--html", help="also write the cold run's HTML report here")
    parser.add_argument("--workers", default="1,2", help="worker counts for the queue runs")
    parser.add_argument("--redis", help="run the queue over this Redis (default: SQLite in a temp state dir)")
    parser.add_argument("--queue-only", action="store_true", help="skip the in-process cold/warm runs")
    parser.add_argument("--spread", action="store_true",
                        help="N worker-only processes of one worker each (as on N machines), not one of N")
    args = parser.parse_args()
    refs = engine_images(args.prefix)[: args.limit or None]
    if not refs:
        sys.exit(f"no images named {args.prefix}* in the local engine (build the fixtures first)")
    if not args.queue_only:
        local_bench(refs, args)
    queue_bench(refs, [int(n) for n in args.workers.split(",")], args.redis, args.spread)


def local_bench(refs: list[str], args) -> None:
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        tmp = Path(tmp)
        cold = audit(refs, args.jobs, tmp / "cache", tmp / "cold.json", ("--html", args.html) if args.html else ())
        warm = audit(refs, args.jobs, tmp / "cache", tmp / "warm.json")
        warm_1000 = warm_at_scale(refs, args.jobs, tmp / "cache")
        rows = json.loads((tmp / "cold.json").read_text())["images"]
        warm_rows = json.loads((tmp / "warm.json").read_text())["images"]
    per_image = [r["seconds"] for r in rows if r["status"] != "error"]
    cached = sum(1 for r in warm_rows if r["cached"])
    mean = statistics.mean(per_image)
    warm_each = warm / len(refs)
    print(f"images: {len(refs)}  jobs: {args.jobs}")
    print(f"cold run:  {cold:7.1f} s  ({cold / len(refs):.2f} s/image wall)")
    print(f"warm run:  {warm:7.1f} s  ({warm_each:.3f} s/image wall, {cached}/{len(refs)} rows from the cache)")
    print(f"speed-up:  {cold / warm:7.1f}x")
    print(f"per-image analysis (worker, load + catalogers + analyze + checks): mean {mean:.1f} s, "
          f"median {statistics.median(per_image):.1f} s, max {max(per_image):.1f} s")
    est_cold = 1000 * mean / args.jobs
    print(f"warm path at scale: 1,000 refs (these images repeated) in {warm_1000:.1f} s, all from the cache")
    print(f"1,000 images, {args.jobs} jobs: cold ≈ {est_cold / 60:.0f} min (+ layer pulls), "
          f"warm re-run ≈ {warm_1000:.0f} s")


if __name__ == "__main__":
    main()
