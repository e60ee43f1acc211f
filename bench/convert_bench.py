"""Size and time of conversions: source image, closure, output and output --compact per target.

    .venv/bin/python bench/convert_bench.py [APP_OR_REF ...] [--targets microvm,oci,...]

Apps are fixture names (faktory-fixture/NAME:latest); anything with ':' or '/' is taken as a reference.
Output size is the artifact itself: the initrd for microvm/unikraft, the compressed image for oci/km, the ISO
for rumprun, the sysroot for nanos (faktory.json and README excluded; microvm also ships a ~8 MB kernel).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from faktory.api import analyze, convert, load_image
from faktory.emitters.base import EmitOptions

APPS = ("flask", "fastapi", "requests-cli", "numpy", "pkg-app", "multistage", "whiteout")
TARGETS = ("microvm", "oci", "unikraft", "nanos", "rumprun")


def artifact_size(outdir: Path) -> int:
    doc = json.loads((outdir / "faktory.json").read_text())
    if "image" in doc and "compressed_size" in doc["image"]:
        return doc["image"]["compressed_size"]
    files = doc["files"]
    return sum(size for name, size in files.items() if name != "vmlinuz")


def mb(n: int) -> str:
    return f"{n / 1e6:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("apps", nargs="*", default=list(APPS))
    parser.add_argument("--targets", default=",".join(TARGETS))
    args = parser.parse_args()
    targets = args.targets.split(",")
    print(f"{'app':14} {'target':9} {'source MB':>9} {'closure MB':>10} {'out MB':>8} {'compact MB':>10} "
          f"{'ratio':>6} {'ratio-c':>7} {'convert s':>9} {'analyze s':>9}")
    with tempfile.TemporaryDirectory(prefix="faktory-bench-") as tmp:
        for app in args.apps:
            ref = app if (":" in app or "/" in app) else f"faktory-fixture/{app}:latest"
            image = load_image(ref)
            t0 = time.monotonic()
            closure = analyze(image)
            analyze_s = time.monotonic() - t0
            for target in targets:
                sizes, seconds = [], 0.0
                for compact in (False, True):
                    out = Path(tmp) / f"{app}-{target}-{compact}".replace("/", "_")
                    t1 = time.monotonic()
                    convert(image, closure, target, out, EmitOptions(force=True, compact=compact))
                    if not compact:
                        seconds = time.monotonic() - t1
                    sizes.append(artifact_size(out))
                    shutil.rmtree(out)
                ratio = image.size / sizes[0] if sizes[0] else 0
                ratio_c = image.size / sizes[1] if sizes[1] else 0
                print(f"{app:14} {target:9} {mb(image.size):>9} {mb(closure.size):>10} {mb(sizes[0])} "
                      f"{mb(sizes[1]):>10} {ratio:6.1f} {ratio_c:7.1f} {seconds:9.2f} {analyze_s:9.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
