"""What a fixture's closure keeps that its probe never touches, grouped and by size: where the default output
stands above the dynamic minimum, and so where the analysis keeps for recall what this input did not need.

    .venv/bin/python bench/untouched.py APP [APP ...] [--top 15]

Runs each fixture's probe (one-shot, or a server and one GET) under strace in its exported root (the oracle's sandbox,
tests/test_analyze_oracle.py), then groups closure files not touched by: a site-packages distribution's top
directory, a stdlib module or package, lib-dynload, or the directory of anything else. Prints bytes kept, bytes
touched and the largest untouched groups. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import posixpath
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faktory.analyzers.analysis import analyze  # noqa: E402
from faktory.sources import open_image  # noqa: E402
from fixtures import build, catalog  # noqa: E402
from tests.oracle import check, rootfs, trace  # noqa: E402

STDLIB = re.compile(r"^(/usr(?:/local)?/lib/python3\.\d+)/(.*)$")


def group_of(path: str) -> str:
    m = STDLIB.match(path)
    if m:
        rest = m.group(2)
        for site in ("site-packages/", "dist-packages/"):
            if rest.startswith(site):
                return f"site: {rest[len(site):].split('/')[0]}"
        if rest.startswith("lib-dynload/"):
            return "stdlib: lib-dynload"
        head = rest.split("/")[0]
        return f"stdlib: {head[:-3] if head.endswith('.py') else head}"
    if "/dist-packages/" in path or "/site-packages/" in path:
        return "site: " + re.split(r"/(?:dist|site)-packages/", path, 1)[1].split("/")[0]
    return posixpath.dirname(path)


def measure(app: str, top: int) -> None:
    images = build.ensure(only=[app])
    fixture = images.images[app]
    probe = fixture.probe
    if not probe or not (probe.cmd or probe.http_port):
        print(f"{app}: no probe")
        return
    image = open_image(fixture.tag)
    cfg = image.config
    if probe.http_port:  # a server: its own command, one GET (as convert_bench.dynamic_minimum_of)
        argv = list(cfg.argv)
        closure = analyze(image)
    else:
        argv = list(cfg.entrypoint or ()) + list(probe.cmd)
        closure = analyze(check.with_cmd(image, tuple(probe.cmd)))
    with trace.private_dir(prefix=f"untouched-{app}-") as home, tempfile.TemporaryDirectory() as scratch:
        root = rootfs.export_image(fixture.tag, home / "root")
        log = Path(scratch) / "strace.log"
        if probe.http_port:
            traced = trace.serve_and_get(root, argv, cfg.env_map, cfg.working_dir, probe.http_port, probe.http_path,
                                         log)
        else:
            traced = trace.run_traced(root, argv, cfg.env_map, cfg.working_dir, log)
        paths = check.without_program_lookups(traced.paths, log.read_text(errors="replace"), argv[0],
                                              cfg.working_dir or "/", str(root), cfg.env_map)
    dynamic = check.dynamic_files(image.fs, paths)
    groups: Counter = Counter()
    untouched = 0
    for path in check.closure_files(closure):
        if path in dynamic:
            continue
        entry = image.fs.stat(path)
        size = entry.size if entry is not None and entry.is_file else 0
        groups[group_of(path)] += size
        untouched += size
    touched = sum(dynamic.values())
    print(f"{app}: closure {closure.size / 1e6:.1f} MB, touched {touched / 1e6:.1f} MB "
          f"({closure.size / max(touched, 1):.2f}x), untouched {untouched / 1e6:.1f} MB")
    for name, size in groups.most_common(top):
        print(f"  {size / 1e6:8.2f} MB  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apps", nargs="+", choices=sorted(catalog.apps()))
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    for app in args.apps:
        measure(app, args.top)


if __name__ == "__main__":
    main()
