"""The bloated image (bench/bloated_image.py, ~1 GB): the default output against the dynamic minimum, what the
analysis lists as optional imports, and the output once they are excluded.

    .venv/bin/python bench/bloated_bench.py [--target oci]

1. The dynamic minimum: the regular files the app's probe touches under strace (convert_bench.dynamic_minimum_of),
   as they are in the image and as shipped (ELF debug sections stripped).
2. The analysis in this process: its closure, the optional imports it lists (report.optional_imports: module,
   where, bytes, the --exclude glob, how many touched files it covers), and what it keeps with the listed globs
   excluded that the probe never touched, by owner.
3. `faktory convert --to TARGET` in a child process, default and with `--exclude` of every listed glob; the rootfs
   payload of each against the minimum.
4. `verify` of the excluded output: the original and the output run the app's probe; a failure means the listing
   offered something the app needs.
Timings are wall clock on whatever else the machine runs; they are never test assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bloated_image  # noqa: E402
from convert_bench import convert, dynamic_minimum_of, mb, ratio  # noqa: E402

from faktory.analyzers.globs import glob_regex  # noqa: E402
from faktory.analyzers.options import AnalyzeOptions, hint  # noqa: E402
from faktory.analyzers.report import optional_imports  # noqa: E402
from faktory.api import analyze, load_image  # noqa: E402


def untouched(closure, touched: set[str]) -> list[tuple[str, int, int]]:
    """(owner, bytes, files) of kept regular files the probe never touched ("app" is every file outside the
    stdlib and site dirs: libpython, system libraries)."""
    size: Counter = Counter()
    count: Counter = Counter()
    for _, data in closure.iter_file_nodes():
        path = data["path"]
        if data.get("kind") != "file" or path in touched:
            continue
        who = closure.owner_of(path)
        size[who] += data.get("size", 0)
        count[who] += 1
    return [(who, n, count[who]) for who, n in size.most_common()]


def touched_by(glob: str, touched: dict) -> int:
    """How many of the files the probe touched a listed glob covers: a guarded import the app ran (its fallback
    must then do), or a lazy one it called (then the listing offered what the app needs)."""
    match = glob_regex(glob)
    return sum(1 for path in touched if match.match(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bloated_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="oci")
    args = parser.parse_args(argv)
    built = bloated_image.ensure()
    image = load_image(built.oci_ref)
    from faktory.runner.verify import Probe, verify_output

    with tempfile.TemporaryDirectory(prefix="bench-bloated-") as tmp:
        scratch = Path(tmp)
        minimum = dynamic_minimum_of(built.tag, built.probe, scratch)
        started = time.perf_counter()
        closure = analyze(image)
        analyze_s = time.perf_counter() - started
        listed = optional_imports(closure)
        globs = sorted({o.exclude for o in listed})
        cache = scratch / "cache"
        cache.mkdir()
        default = convert(built.oci_ref, args.target, scratch / "out", cache, False)
        excluded = convert(built.oci_ref, args.target, scratch / "excluded", cache, False,
                           tuple(x for g in globs for x in ("--exclude", g)), keep=True)
        probe = Probe(cmd=built.probe.cmd, expect=built.probe.expect)
        checks = verify_output(built.tag, scratch / "excluded", probe)
        failed = [c for c in checks if not c.passed]
        hints = tuple(hint("exclude", g, "hint:--exclude") for g in globs)
        excess = untouched(analyze(image, AnalyzeOptions(hints=hints)), set(minimum.files))

    lazy = sum(o.kind == "lazy" for o in listed)
    print(f"image {built.tag}: {mb(image.size)} MB; analysis {analyze_s:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(f"| dynamic min (image / stripped) | closure | {args.target} default files (× min) "
          f"| optional imports listed | after --exclude of the listed globs (× min) | verify of the excluded output |")
    print("|---|---|---|---|---|---|")
    verdict = "pass" if not failed else "FAIL: " + "; ".join(f"{c.name}: {c.detail[:80]}" for c in failed)
    print(f"| {mb(minimum.image)} / {mb(minimum.stripped)} | {mb(closure.size)} | {mb(default.payload)} "
          f"({ratio(default.payload, minimum.stripped)}) | {len(listed)} ({len(listed) - lazy} guarded, {lazy} lazy) "
          f"| {mb(excluded.payload)} ({ratio(excluded.payload, minimum.stripped)}) | {verdict} |")
    print("\n| optional import | how | imported at | MB | files | --exclude | files the probe touched |\n"
          "|---|---|---|---|---|---|---|")
    for o in listed:
        print(f"| {o.module} | {o.kind} | {o.imported_at} | {mb(o.bytes)} | {o.files} | `{o.exclude}` "
              f"| {touched_by(o.exclude, minimum.files)} |")
    print("\nkept after --exclude, never touched by the probe (by owner, MB / files, as in the image):")
    for who, n, files in excess[:15]:
        print(f"  {who:32} {mb(n):>8} {files:>6}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
