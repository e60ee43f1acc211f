"""Analysis wall time per fixture app (after inspect) and closure size vs dynamic set vs image size.

    .venv/bin/python bench/analyze_bench.py [APP ...]

Cold = no scan cache (every module parsed); warm = the content-keyed scan cache filled by the cold run.
The dynamic set is what the app's probe touches under strace (tests/oracle), so this also needs root,
strace and bwrap. Fixture images must exist (make test builds them).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faktory.analyzers import analysis  # noqa: E402
from faktory.sources import open_image  # noqa: E402
from fixtures.catalog import apps as app_specs  # noqa: E402
from tests.oracle import check, rootfs, trace  # noqa: E402

APPS = ("flask", "fastapi", "requests-cli", "numpy", "pkg-app", "multistage", "whiteout")


def _mb(n: int) -> str:
    return f"{n / 1e6:7.1f}"


def _time_analysis(image, cache: bool, runs: int = 3) -> tuple[float, float]:
    """Median (wall, CPU) seconds. CPU time shows the cost when other jobs share the cores."""
    walls, cpus = [], []
    for _ in range(runs):
        if not cache:
            os.environ["FAKTORY_NO_SCAN_CACHE"] = "1"
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            analysis.analyze(image)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        finally:
            os.environ.pop("FAKTORY_NO_SCAN_CACHE", None)
    return statistics.median(walls), statistics.median(cpus)


def main(apps: list[str]) -> None:
    catalog = app_specs()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'app':14} {'cold s':>7} {'cpu':>5} {'warm s':>7} {'cpu':>5} {'closure MB':>10} {'dynamic MB':>10} {'ratio':>6} "
          f"{'image MB':>9} {'files':>6} {'missed':>6}")
    for name in apps:
        spec = catalog[name]
        tag = f"faktory-fixture/{name}:latest"
        image = open_image(tag)
        probe = spec.probe
        target = check.with_cmd(image, tuple(probe.cmd)) if probe.cmd else image
        _time_analysis(target, cache=True, runs=1)  # fill the cache
        cold = _time_analysis(target, cache=False)
        warm = _time_analysis(target, cache=True)
        closure = analysis.analyze(target)
        with trace.private_dir(prefix="bench-") as tmp:  # the sandbox's uid must reach the root
            root = rootfs.export_image(tag, Path(tmp) / "root")
            cfg = image.config
            if probe.cmd:
                argv = list(cfg.entrypoint or ()) + list(probe.cmd)
                traced = trace.run_traced(root, argv, cfg.env_map, cfg.working_dir, Path(tmp) / "strace.log")
            else:
                traced = trace.serve_and_get(root, list(cfg.argv), cfg.env_map, cfg.working_dir, probe.http_port,
                                             probe.http_path, Path(tmp) / "strace.log")
        dynamic = check.dynamic_files(image.fs, traced.paths)
        missed = len(set(dynamic) - check.closure_files(closure))
        dyn_bytes = sum(dynamic.values())
        files = len(check.closure_files(closure))
        print(f"{name:14} {cold[0]:7.2f} {cold[1]:5.2f} {warm[0]:7.2f} {warm[1]:5.2f} {_mb(closure.size):>10} {_mb(dyn_bytes):>10} "
              f"{closure.size / max(dyn_bytes, 1):6.2f} {_mb(image.size):>9} {files:6d} {missed:6d}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(APPS))
