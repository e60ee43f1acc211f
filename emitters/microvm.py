"""microvm: a Linux kernel + the closure as an initramfs with faktory's init, booted by `faktory run`."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from faktory.analyzers.model import Closure, Finding
from faktory.emitters.base import Artifact, EmitOptions
from faktory.emitters.launch import exposed_ports, launch_spec
from faktory.emitters.prepare import cleanup, compact_extra, listing, prepare_rootfs
from faktory.emitters.rootfs import Layout
from faktory.emitters.vminit import INIT_PATH, default_kernel, write_overlay
from faktory.errors import FaktoryError
from faktory.image import Image

KERNEL = "vmlinuz"
INITRD = "initrd.cpio"
CMDLINE = "console=ttyS0 quiet loglevel=1 panic=-1 random.trust_cpu=on rdinit=" + INIT_PATH
LAYOUT = Layout(dirs=(("/tmp", 0o1777), ("/dev", 0o755), ("/proc", 0o555), ("/sys", 0o555)))
MEMORY_MB = 512


class MicrovmEmitter:
    name = "microvm"

    def check(self, closure: Closure) -> list[Finding]:
        return []

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        kernel = Path(options.kernel) if options.kernel else default_kernel()
        if not kernel.is_file():
            raise FaktoryError(f"kernel {kernel} not found")
        rootfs, report = prepare_rootfs(image, closure, LAYOUT, options, outdir)
        launch = launch_spec(image, closure)
        with open(outdir / INITRD, "wb") as out:
            if options.compact:  # Linux unpacks a gzip'd archive followed by a plain one (the init overlay)
                with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
                    rootfs.write_cpio(gz)
                # Linux takes a '0' as a cpio header only at a 4-byte aligned offset; zeros between archives
                # are skipped.
                out.write(b"\0" * (-out.tell() % 4))
            else:
                rootfs.write_cpio(out)
            overlay = write_overlay(out, launch, kernel)
        cleanup(outdir)
        shutil.copyfile(kernel, outdir / KERNEL)
        ports = exposed_ports(image)
        forwards = " ".join(f"-p {p}:{p}" for p in ports)
        run = f"faktory run {outdir}" + (f" {forwards}" if forwards else "")
        files = {p.name: p.stat().st_size for p in outdir.iterdir() if p.is_file()}
        return Artifact(self.name, outdir, files, run, extra={
            "kernel": {"source": str(kernel), "cmdline": CMDLINE},
            "launch": {"argv": list(launch.argv), "env": dict(launch.env), "workdir": launch.workdir,
                       "entrypoint": list(image.config.entrypoint or [])},
            "ports": ports,
            "memory_mb": MEMORY_MB,
            "contents": {INITRD: listing(rootfs)},
            "overlay": overlay,
            "skipped": rootfs.skipped,
            "qemu": qemu_command(outdir, ports),
            **compact_extra(report),
        })


def qemu_command(outdir: Path, ports: list[int]) -> str:
    fwd = "".join(f",hostfwd=tcp:127.0.0.1:{p}-:{p}" for p in ports)
    return (f"qemu-system-x86_64 -accel tcg -cpu max -m {MEMORY_MB}M -nodefaults -display none -no-reboot "
            f"-serial stdio -nic user,model=e1000{fwd} -kernel {outdir}/{KERNEL} -initrd {outdir}/{INITRD} "
            f"-append '{CMDLINE}'")


EMITTER = MicrovmEmitter()
