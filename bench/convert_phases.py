"""Cold and warm `convert` against reading the layers once, with where the cold time goes.

    .venv/bin/python bench/convert_phases.py [REF ...] [--target unikraft] [--runs 1]

REFs are registry references (`127.0.0.1:5000/fixtures/matplotlib:latest`) or fixture names; the default is
the bench's pyenv image (bench/pyenv_image.py, built and pushed on first use) and the largest fixture. Per
image it prints:
- gunzip: the layer blobs, already on local disk, inflated once with Python's zlib in 1 MiB reads;
- cold: a convert with an empty cache (layers, scans); warm: the same again with that cache;
- each run's phases: load (fetch, inflate, index, merged view), analysis (waiting for the scan workers, parsing
  what they did not get, file descriptions, ELF reads, native-code strings, module search, kept paths, the
  rest: graph, hooks, findings), emit.
Each convert runs in a fresh process, as `faktory convert` does; CPU is its user+system time with its workers'.
`--baseline DIR` times another checkout the same way, interleaved with this one (`git archive REV | tar -x -C
DIR`, then link DIR/faktory/analyzers -> ../analyzers and DIR/faktory/emitters -> ../emitters). Timings are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

if __package__ in (None, ""):
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH: --baseline trees come first

LARGEST_FIXTURE = "matplotlib"
REGISTRY = "127.0.0.1:5000"


# ------------------------------------------------------------------------------------------------ the child


def _timed(owner, attr: str, totals: dict, key: str) -> None:
    """Wrap owner.attr so its wall time adds up in totals[key] (outermost call only: no double count).
    Absent in the tree measured (an older one): nothing to time."""
    inner = getattr(owner, attr, None) if owner is not None else None
    if inner is None:
        return
    depth = [0]

    def wrapper(*args, **kwargs):
        depth[0] += 1
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - started

    setattr(owner, attr, wrapper)


def child(ref: str, target: str, outdir: str) -> dict:
    import resource

    from faktory.analyzers import analysis, classify, finder, graphbuild, native, strings
    try:
        from faktory.analyzers import importfollow  # where the worklist parses, since the contributor split
    except ImportError:
        importfollow = None
    from faktory.api import analyze, convert, load_image
    from faktory.emitters.base import EmitOptions

    sub: dict[str, float] = {}
    _timed(importfollow if hasattr(importfollow, "scan_source") else analysis, "scan_source", sub,
           "parse here")  # what the workers did not parse
    _timed(getattr(analysis, "ScanPool", None), "get", sub, "wait for workers")
    _timed(classify, "describe", sub, "describe/libmagic")
    if hasattr(native.NativeResolver, "_read"):
        _timed(native.NativeResolver, "_read", sub, "ELF")  # with the strings mined in the same read
    else:
        _timed(native, "parse_elf", sub, "ELF")
    _timed(strings, "elf_string_names", sub, "native strings")
    _timed(finder.Finder, "find", sub, "module search")
    _timed(graphbuild.GraphBuilder, "keep_path", sub, "paths")
    t0 = time.perf_counter()
    image = load_image(ref)
    image.fs  # the merged view is part of loading
    t1 = time.perf_counter()
    closure = analyze(image)
    t2 = time.perf_counter()
    convert(image, closure, target, Path(outdir), EmitOptions(force=True))
    t3 = time.perf_counter()
    cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    return {"load": t1 - t0, "analysis": t2 - t1, "emit": t3 - t2, "total": t3 - t0, "cpu": cpu, "sub": sub}


def run_child(ref: str, target: str, cache_dir: Path, outdir: Path, tree: str | None = None) -> dict:
    env = dict(os.environ, FAKTORY_CACHE_DIR=str(cache_dir))
    if tree:  # another checkout of faktory (faktory/analyzers and faktory/emitters linked to its top dirs)
        env["PYTHONPATH"] = tree
    proc = subprocess.run([sys.executable, __file__, "--child", ref, "--target", target, "--out", str(outdir)],
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"convert of {ref} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ gunzip


def fetch_blobs(ref: str, into: Path) -> list[Path]:
    """The image's layer blobs from the registry, written to `into` (not timed)."""
    from faktory.registry.client import RegistryClient
    from faktory.sources.reference import parse_docker_ref

    parsed = parse_docker_ref(ref)
    client = RegistryClient(parsed.host)
    doc = json.loads(client.get_manifest(parsed.repository, parsed.reference).data)
    paths = []
    for number, layer in enumerate(doc["layers"]):
        path = into / f"layer{number}"
        with client.open_blob(parsed.repository, layer["digest"]) as src, open(path, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        paths.append(path)
    return paths


def gunzip_seconds(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                inflater.decompress(chunk)
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------ the table


def registry_ref(name: str) -> str:
    if name == "pyenv":
        from bench import pyenv_image

        return pyenv_image.ensure()
    if "/" in name:
        return name
    return f"{REGISTRY}/fixtures/{name}:latest"


def bench_one(name: str, target: str, runs: int, baseline: str | None) -> None:
    ref = registry_ref(name)
    trees = {"now": None, **({"baseline": baseline} if baseline else {})}
    with tempfile.TemporaryDirectory(prefix="faktory-phases-") as tmp:
        blobs = fetch_blobs(ref, Path(tmp))
        packed = sum(p.stat().st_size for p in blobs)
        gzs: list[float] = []
        found: dict[tuple[str, str], list[dict]] = {}
        for n in range(runs):  # interleaved, so a busy spell of the machine hits every column alike
            gzs.append(gunzip_seconds(blobs))
            for label, tree in trees.items():
                cache = Path(tmp) / f"cache-{label}{n}"
                for kind in ("cold", "warm"):
                    found.setdefault((label, kind), []).append(
                        run_child(f"docker://{ref}", target, cache, Path(tmp) / f"{label}-{kind}{n}", tree))
    gz = min(gzs)
    print(f"{ref}  ({len(blobs)} layers, {packed / 1e6:.0f} MB compressed, --to {target}, best of {runs})")
    print(f"  gunzip {gz:6.2f} s")
    for label in trees:
        for kind, goal in (("cold", 1.5), ("warm", 0.5)):
            r = min(found[(label, kind)], key=lambda r: r["total"])
            print(f"  {label:8} {kind} {r['total']:6.2f} s  {r['total'] / gz:5.2f}x gunzip (goal <= {goal}x)  "
                  f"CPU {r['cpu']:5.2f} s")
    for label, r in ((f"{t} {k}", min(found[(t, k)], key=lambda r: r["total"])) for t in trees
                     for k in ("cold", "warm")):
        sub = r["sub"]
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(sub.items(), key=lambda kv: -kv[1]))
        rest = r["analysis"] - sum(sub.values())
        print(f"  {label} phases: load {r['load']:.2f} s; analysis {r['analysis']:.2f} s ({parts}; "
              f"rest {max(rest, 0):.2f}); emit {r['emit']:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convert_phases", description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", default=["pyenv", LARGEST_FIXTURE])
    parser.add_argument("--target", default="unikraft")
    parser.add_argument("--runs", type=int, default=1, help="cold+warm pairs per image; the best is shown")
    parser.add_argument("--baseline", metavar="DIR", help="also time this checkout of faktory, interleaved")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.target, args.out)))
        return 0
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for name in args.images:
        bench_one(name, args.target, args.runs, args.baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
