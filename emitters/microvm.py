"""microvm: a Linux kernel + the closure as an initramfs with faktory's init, booted by `faktory run`."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from faktory.analyzers.model import Closure, Finding
from faktory.emitters.base import RUN_LINUX, Artifact, Boot, Capabilities, EmitOptions, LaunchOut
from faktory.emitters.launch import exposed_ports, launch_spec
from faktory.emitters.prepare import cleanup, compact_extra, listing, prepare_rootfs
from faktory.emitters.rootfs import Layout
from faktory.emitters.sizing import memory_mb
from faktory.emitters.vminit import LINUX_CMDLINE, default_kernel, write_overlay
from faktory.errors import FaktoryError
from faktory.image import Image

KERNEL = "vmlinuz"
INITRD = "initrd.cpio"
CMDLINE = LINUX_CMDLINE
LAYOUT = Layout(dirs=(("/tmp", 0o1777), ("/dev", 0o755), ("/proc", 0o555), ("/sys", 0o555)),
                compact_notes=("the rootfs archive of initrd.cpio is gzip'd (Linux unpacks a compressed initramfs "
                               "followed by a plain one, the init overlay); identical files are cpio hardlinks",), compressed=True)


class MicrovmEmitter:
    name = "microvm"
    capabilities = Capabilities(run=(RUN_LINUX,), options=("kernel",))

    def validate(self, image: Image, options: EmitOptions) -> None:
        if options.kernel is not None and not Path(options.kernel).is_file():
            raise FaktoryError(f"kernel {options.kernel} not found")

    def check(self, closure: Closure, options: EmitOptions = EmitOptions()) -> list[Finding]:
        return []

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        kernel = Path(options.kernel) if options.kernel else default_kernel()
        if not kernel.is_file():
            raise FaktoryError(f"kernel {kernel} not found")
        rootfs, report = prepare_rootfs(image, closure, LAYOUT, options, outdir)
        launch = launch_spec(image, closure, shell=True)  # a Linux VM runs the image's shell, like the container
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
        # RAM holds the initrd as loaded and the tree unpacked from it (gzip'd or not) until the app starts
        memory = memory_mb((outdir / INITRD).stat().st_size + rootfs.payload_size, copies=1)
        return Artifact(self.name, outdir, {}, run,
                        boot=Boot(INITRD, CMDLINE, memory, kernel=KERNEL),
                        launch=LaunchOut(tuple(launch.argv), dict(launch.env), launch.workdir,
                                         tuple(image.config.entrypoint or ()), launch.user, launch.hostname),
                        contents={INITRD: tuple(listing(rootfs))}, ports=tuple(ports),
                        details={"kernel": {"source": str(kernel), "cmdline": CMDLINE}, "memory_mb": memory,
                                 "overlay": overlay, "skipped": rootfs.skipped,
                                 "qemu": qemu_command(outdir, ports, memory), **compact_extra(report)})


def qemu_command(outdir: Path, ports: list[int], memory: int) -> str:
    fwd = "".join(f",hostfwd=tcp:127.0.0.1:{p}-:{p}" for p in ports)
    return (f"qemu-system-x86_64 -accel tcg -cpu max -m {memory}M -nodefaults -display none -no-reboot "
            f"-serial stdio -serial file:kernel.log -nic user,model=e1000{fwd} -kernel {outdir}/{KERNEL} -initrd {outdir}/{INITRD} "
            f"-append '{CMDLINE}'")


EMITTER = MicrovmEmitter()
