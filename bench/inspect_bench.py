#!/usr/bin/env python3
"""Benchmark `faktory inspect`: cold and warm wall time next to `gzip -dc` of the same layer blobs, peak RSS.

    .venv/bin/python bench/inspect_bench.py [--fixture flask] [--big-mb 512] [--repeat 3]

1. The fixture image (default flask) as an OCI layout (gzip blobs) and from the local registry: `gzip -dc` of its
   layer blobs, then `faktory inspect --json` with an empty cache (cold) and again (warm). Best of --repeat.
2. An image with one random-data layer of --big-mb MiB, written here as an OCI layout (streamed, never held in
   memory): cold inspect's peak RSS must stay where the small image's is (layers are streamed, not buffered).
Each run is a separate process; peak RSS is the child's ru_maxrss. The daemon is measured twice: reading the
engine's overlay2 store (the default on a local engine) and through `docker save` (FAKTORY_ENGINE_STORE=0).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKTORY = [str(REPO / ".venv" / "bin" / "faktory")] if (REPO / ".venv/bin/faktory").exists() else [sys.executable, "-m", "faktory"]


def run(argv: list[str], env: dict | None = None) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user+sys) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}: {proc.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime


def best(argv, env=None, repeat=3, before=None):
    """Best wall time, worst peak RSS, best CPU time over `repeat` runs."""
    results = []
    for _ in range(repeat):
        if before:
            before()
        results.append(run(argv, env))
    return min(r[0] for r in results), max(r[1] for r in results), min(r[2] for r in results)


def layer_blobs(layout: Path) -> list[Path]:
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest.split(":")[1]).read_text())
    return [layout / "blobs" / "sha256" / layer["digest"].split(":")[1] for layer in manifest["layers"]]


def inspect_times(ref: str, repeat: int, label: str, **extra_env: str) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="faktory-bench-cache-"))
    env = dict(os.environ, FAKTORY_CACHE_DIR=str(cache), **extra_env)
    argv = FAKTORY + ["inspect", "--json", ref]
    try:
        cold = best(argv, env, repeat, before=lambda: (shutil.rmtree(cache, ignore_errors=True), cache.mkdir()))
        warm = best(argv, env, repeat)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {"label": label, "cold_s": cold[0], "cold_rss_mib": cold[1], "warm_s": warm[0], "warm_rss_mib": warm[1],
            "cold_cpu": cold[2], "warm_cpu": warm[2]}


def write_random_layer_layout(root: Path, megabytes: int) -> Path:
    """An OCI layout with one gzip layer holding one file of random bytes, streamed to disk."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    tmp_blob = root / "layer.tmp"
    plain_hash, blob_hash = hashlib.sha256(), hashlib.sha256()

    class Tee(io.RawIOBase):
        def __init__(self, fh):
            self.fh = fh

        def writable(self):
            return True

        def write(self, data):
            blob_hash.update(data)
            return self.fh.write(data)

    class HashingGzip(io.RawIOBase):
        def __init__(self, gz):
            self.gz = gz

        def writable(self):
            return True

        def write(self, data):
            plain_hash.update(data)
            return self.gz.write(data)

    size = megabytes << 20
    with open(tmp_blob, "wb") as raw:
        with gzip.GzipFile(fileobj=Tee(raw), mode="wb", compresslevel=1, mtime=0) as gz:
            with tarfile.open(fileobj=HashingGzip(gz), mode="w|") as tf:
                info = tarfile.TarInfo("data/random.bin")
                info.size = size

                class Random(io.RawIOBase):
                    left = size

                    def readable(self):
                        return True

                    def readinto(self, buf):
                        n = min(len(buf), self.left)
                        buf[:n] = os.urandom(n)
                        self.left -= n
                        return n

                tf.addfile(info, io.BufferedReader(Random(), 1 << 20))
    layer_digest = "sha256:" + blob_hash.hexdigest()
    layer_size = tmp_blob.stat().st_size
    tmp_blob.rename(blobs / layer_digest[7:])

    def put(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + plain_hash.hexdigest()]},
                         "history": [{"created_by": f"random {megabytes} MiB"}]}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": layer_digest, "size": layer_size}]}).encode()
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return root


def fixture(name: str):
    sys.path.insert(0, str(REPO))
    from fixtures.build import ensure

    result = ensure(only=[name])
    if name not in result.images:
        raise SystemExit(f"fixture {name} unavailable: {result.missing.get(name)}")
    return result.images[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture", default="flask")
    parser.add_argument("--big-mb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    fx = fixture(args.fixture)
    blobs = layer_blobs(fx.oci)
    gunzip_s, _, gunzip_cpu = best(["gzip", "-dc", *map(str, blobs)], repeat=args.repeat)
    compressed = sum(b.stat().st_size for b in blobs)
    print(f"{args.fixture}: {len(blobs)} layer blobs, {compressed / 1e6:.1f} MB gzip; "
          f"gzip -dc of them: {gunzip_s:.2f} s wall, {gunzip_cpu:.2f} s CPU; load average {os.getloadavg()[0]:.1f}")
    rows = [inspect_times(fx.oci_ref, args.repeat, f"{args.fixture} oci layout"),
            inspect_times(f"docker://{fx.registry_ref}", args.repeat, f"{args.fixture} registry"),
            inspect_times(f"docker-daemon:{fx.tag}", args.repeat, f"{args.fixture} daemon"),
            inspect_times(f"docker-daemon:{fx.tag}", args.repeat, f"{args.fixture} daemon, docker save",
                          FAKTORY_ENGINE_STORE="0")]
    with tempfile.TemporaryDirectory(prefix="faktory-bench-big-") as tmp:
        layout = write_random_layer_layout(Path(tmp) / "big", args.big_mb)
        big_gunzip, _, big_gunzip_cpu = best(["gzip", "-dc", *map(str, layer_blobs(layout))], repeat=1)
        big = inspect_times(f"oci:{layout}:latest", 1, f"random {args.big_mb} MiB layer (oci)")
    header = (f"  {'faktory inspect --json':34} {'cold':>7} {'×gz':>6} {'cpu×gz':>7} {'warm':>7} {'×gz':>6} "
              f"{'cpu×gz':>7} {'peak RSS cold/warm':>19}")
    print(header)

    def line(row, gz_wall, gz_cpu):
        print(f"  {row['label']:34} {row['cold_s']:6.2f}s {row['cold_s'] / gz_wall:5.2f}× "
              f"{row['cold_cpu'] / gz_cpu:6.2f}× {row['warm_s']:6.2f}s {row['warm_s'] / gz_wall:5.2f}× "
              f"{row['warm_cpu'] / gz_cpu:6.2f}× {row['cold_rss_mib']:>9} / {row['warm_rss_mib']} MiB")

    for row in rows:
        line(row, gunzip_s, gunzip_cpu)
    line(big, big_gunzip, big_gunzip_cpu)
    print(f"  (random layer: gzip -dc {big_gunzip:.2f} s wall, {big_gunzip_cpu:.2f} s CPU)")


if __name__ == "__main__":
    main()
