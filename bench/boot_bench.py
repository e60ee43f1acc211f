"""Boot time of microvm outputs under QEMU: wall and CPU seconds from QEMU start to the app's exit status.

    .venv/bin/python bench/boot_bench.py [APP ...] [--compact]

Apps are fixture names; the fixture's one-shot probe command is run (apps without one are skipped).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.catalog import apps as catalog  # noqa: E402

from faktory.api import analyze, convert, load_image  # noqa: E402
from faktory.emitters.base import EmitOptions  # noqa: E402
from faktory.runner.outputs import bootable  # noqa: E402
from faktory.runner.qemu import boot, kvm_usable  # noqa: E402

APPS = ("flask", "requests-cli", "numpy", "pkg-app", "multistage", "whiteout")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("apps", nargs="*", default=list(APPS))
    parser.add_argument("--compact", action="store_true")
    args = parser.parse_args()
    specs = catalog()
    print(f"accel: {'kvm' if kvm_usable() else 'tcg'}; compact: {args.compact}")
    print(f"{'app':14} {'initrd MB':>9} {'wall s':>7} {'cpu s':>6} {'exit':>4}")
    with tempfile.TemporaryDirectory(prefix="faktory-boot-") as tmp:
        for app in args.apps:
            probe = specs[app].probe
            if not probe.cmd:
                continue
            image = load_image(f"faktory-fixture/{app}:latest")
            out = Path(tmp) / app
            convert(image, analyze(image), "microvm", out, EmitOptions(compact=args.compact))
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.monotonic()
            with bootable(out, args=list(probe.cmd)) as spec:
                result = boot(spec, 600)
            wall = time.monotonic() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            size = (out / "initrd.cpio").stat().st_size / 1e6
            print(f"{app:14} {size:9.1f} {wall:7.1f} {cpu:6.1f} {result.exit_code!s:>4}", flush=True)


if __name__ == "__main__":
    main()
