"""Peak RSS and wall time of `faktory inspect` / `analyze` / `convert` on an image whose one layer holds many
small files (200,000 by default) under the app's own directory, so every one of them is in the closure.

    .venv/bin/python -m bench.many_files_bench [--files 200000] [--to oci] [--keep DIR]

The image is a docker-archive: a real CPython tree (from the host's pyenv, as tests/handmade.py builds it)
plus the many-files layer. Each command runs as its own process (inspect on a fresh cache); RSS is the
child's ru_maxrss. Then one convert runs in-process phase by phase (load and merged view, analyze, emit),
with the peak after each.
"""

from __future__ import annotations

import argparse
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.handmade import python_layer  # noqa: E402
from tests.imagefab import config_for, write_docker_archive  # noqa: E402

FAKTORY = [sys.executable, "-m", "faktory"]

# The phases of one convert in one interpreter: the peak RSS so far (never falling) at the end of each. VmHWM,
# not ru_maxrss: a forked child's RUSAGE_SELF starts from its parent's size, this bench's (which built the layer).
PHASES = """
import json, pathlib, sys
from faktory.api import analyze, convert, load_image
def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM:"))
out = {}
image = load_image(sys.argv[1])
len(image.fs)  # the merged view is built on first use
out["load + merged view"] = peak()
closure = analyze(image)
out["analyze"] = peak()
convert(image, closure, sys.argv[2], pathlib.Path(sys.argv[3]))
out["emit"] = peak()
print(json.dumps(out))
"""


def many_files_layer(count: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)

        add_dir("app")
        add_dir("app/data")
        for i in range(count):
            if i % 1000 == 0:
                add_dir(f"app/data/d{i // 1000:04d}")
            data = f"record {i}\n".encode() * 4
            info = tarfile.TarInfo(f"app/data/d{i // 1000:04d}/f{i:06d}.txt")
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
        main = b"import json\nprint('many files')\n"
        info = tarfile.TarInfo("app/main.py")
        info.size = len(main)
        tf.addfile(info, io.BytesIO(main))
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--to", default="oci")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--limit-mib", type=int, default=300, help="fail (exit 1) when a peak RSS is above this")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="many-files-") as tmp_name:
        tmp = Path(opts.keep or tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp / "pyroot", ignore_errors=True)  # a kept dir from an earlier run
        layers = [python_layer(tmp / "pyroot"), many_files_layer(opts.files)]
        doc = json.loads(config_for(layers, cmd=("python3", "/app/main.py"),
                                    env=("PATH=/usr/local/bin:/usr/bin:/bin", "LD_LIBRARY_PATH=/usr/local/lib")))
        ref = f"docker-archive:{write_docker_archive(tmp / 'many.tar', layers, config=json.dumps(doc).encode())}"
        del layers
        results = {}
        for name, args in (("inspect cold", ["inspect", ref, "--json"]),
                           ("analyze", ["analyze", ref, "--json"]),
                           ("convert", ["convert", ref, "--to", opts.to, "-o", str(tmp / "out")])):
            env = dict(os.environ, FAKTORY_CACHE_DIR=str(tmp / "cache"))
            if name == "inspect cold":
                subprocess.run(["rm", "-rf", str(tmp / "cache")], check=True)
            # each in its own interpreter so ru_maxrss is that command's own peak
            code = ("import resource,subprocess,sys,json;"
                    "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
                    "sys.stderr.write(p.stderr.decode()[-2000:]);"
                    "print(json.dumps([p.returncode,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
            started = time.monotonic()
            out = subprocess.run([sys.executable, "-c", code, *FAKTORY, *args], env=env, capture_output=True, text=True)
            wall = time.monotonic() - started
            rc, rss_kib = json.loads(out.stdout.strip().splitlines()[-1])
            if rc != 0:
                print(out.stderr, file=sys.stderr)
            results[name] = {"seconds": round(wall, 1), "peak_rss_mib": rss_kib // 1024, "exit": rc}
            print(f"{name:14s} {wall:6.1f} s  peak RSS {rss_kib // 1024:5d} MiB  exit {rc}", flush=True)
        proc = subprocess.run([sys.executable, "-c", PHASES, ref, opts.to, str(tmp / "out-phases")],
                              env=dict(os.environ, FAKTORY_CACHE_DIR=str(tmp / "cache")), capture_output=True, text=True)
        phases = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {}
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
        for name, mib in phases.items():
            print(f"  convert phase {name:20s} peak RSS {mib:5d} MiB", flush=True)
        print(json.dumps({"files": opts.files, "target": opts.to, "results": results, "convert_phases": phases}))
        worst = max(r["peak_rss_mib"] for r in results.values())
        return 0 if worst <= opts.limit_mib and all(r["exit"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
