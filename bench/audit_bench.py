"""Audit cost: a cold run (empty audit cache), then a warm re-run over the same images (every row cached).

    .venv/bin/python bench/audit_bench.py [--jobs 2] [--prefix faktory-fixture/] [--limit N]

Runs the real CLI against images of the local engine. Layers may already be in the layer cache (the inspector's);
the audit cache starts empty in a temp dir. Prints the speed-up and a 1,000-image estimate from the measured
per-image analysis cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--prefix", default="faktory-fixture/")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--html", help="also write the cold run's HTML report here")
    args = parser.parse_args()
    refs = engine_images(args.prefix)[: args.limit or None]
    if not refs:
        sys.exit(f"no images named {args.prefix}* in the local engine (build the fixtures first)")
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
