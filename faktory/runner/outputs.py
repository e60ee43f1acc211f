"""Turn a converted OUTDIR (microvm, or unikraft's rootfs.cpio) into something QEMU can boot under Linux."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from faktory.emitters.convert import load_manifest
from faktory.emitters.launch import override_argv
from faktory.emitters.vminit import LaunchSpec, cache_dir, default_kernel, write_overlay
from faktory.errors import FaktoryError
from faktory.runner.qemu import BootSpec

BOOTABLE = ("microvm", "unikraft")
CMDLINE = "console=ttyS0 quiet loglevel=1 panic=-1 random.trust_cpu=on rdinit=/.faktory/init"


class NotBootable(FaktoryError):
    pass


def parse_port(text: str) -> tuple[int, int]:
    host, _, guest = text.partition(":")
    try:
        return int(host), int(guest or host)
    except ValueError:
        raise FaktoryError(f"bad port mapping {text!r}: expected HOST:GUEST") from None


@contextmanager
def bootable(outdir: Path, *, args: Sequence[str] = (), ports: Sequence[tuple[int, int]] = (),
             kernel: Path | None = None, memory_mb: int | None = None) -> Iterator[BootSpec]:
    """A BootSpec for the output; `args` replace the image's Cmd like `docker run IMAGE ARGS…` does.

    The initrd handed to QEMU is the output's own archive followed by an overlay cpio carrying the init and the
    launch record: Linux unpacks concatenated archives in order, later files win.
    """
    outdir = Path(outdir)
    manifest = load_manifest(outdir)
    target = manifest.get("target")
    if target not in BOOTABLE:
        raise NotBootable(f"{outdir} holds a {target} output; faktory run boots {' and '.join(BOOTABLE)} outputs")
    launch = manifest["launch"]
    argv = override_argv(launch.get("entrypoint"), list(args)) if args else launch["argv"]
    spec = LaunchSpec(tuple(argv), launch["env"], launch.get("workdir") or "/")
    if target == "microvm":
        kernel = Path(kernel) if kernel else outdir / "vmlinuz"
        base = outdir / "initrd.cpio"
    else:
        kernel = Path(kernel) if kernel else default_kernel()
        base = outdir / "rootfs.cpio"
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="boot-") as tmp:
        initrd = Path(tmp) / "initrd.cpio"
        with open(initrd, "wb") as out, open(base, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            write_overlay(out, spec, kernel)
        yield BootSpec(kernel, initrd, CMDLINE, memory_mb or int(manifest.get("memory_mb") or 512), tuple(ports))


def default_ports(outdir: Path) -> list[tuple[int, int]]:
    return [(p, p) for p in load_manifest(outdir).get("ports", [])]
