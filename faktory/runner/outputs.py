"""Turn a converted OUTDIR into something QEMU boots, in the way the target's emitter declares it can run:

- `linux`: the output's initrd under a Linux kernel (the output's own, `--kernel`, or /boot's newest) with an
  overlay cpio carrying faktory's init and the launch record (Linux unpacks concatenated archives in order);
- `elfloader`: a unikraft initrd in the Unikraft ELF-loader kernel given with `--kernel` (kernel command line
  as `kraft run` builds it); the loader never powers off, so the runner stops it once the awaited text shows;
- `nanos`: a disk made by Nanos' own mkfs (from an OPS installation or `--nanos DIR`), exit status through
  isa-debug-exit.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from faktory.emitters.base import RUN_ELFLOADER, RUN_LINUX, RUN_NANOS, LaunchOut
from faktory.emitters.convert import capabilities
from faktory.emitters.launch import override_argv
from faktory.emitters.manifest import OutputManifest, read_manifest
from faktory.emitters.vminit import LINUX_CMDLINE, LaunchSpec, cache_dir, default_kernel, kernel_version, write_overlay
from faktory.errors import FaktoryError
from faktory.runner import nanos
from faktory.scratch import scratch
from faktory.runner.qemu import EXIT_DEBUG_PORT, EXIT_NONE, BootSpec


UNIKRAFT_BANNER = "Powered by Unikraft"  # CONFIG_LIBUKBOOT_BANNER_MINIMAL: the last line before main()


class NotBootable(FaktoryError):
    pass


def parse_port(text: str) -> tuple[int, int]:
    host, _, guest = text.partition(":")
    try:
        return int(host), int(guest or host)
    except ValueError:
        raise FaktoryError(f"bad port mapping {text!r}: expected HOST:GUEST") from None


def is_linux_kernel(path: Path) -> bool:
    return kernel_version(path) is not None


def run_mode(manifest: OutputManifest, kernel: Path | None, nanos_dir: Path | None = None) -> str:
    """The first of the target's declared run modes this host has what it needs for."""
    modes = capabilities(manifest.target).run
    for mode in modes:
        if mode == RUN_ELFLOADER and kernel is not None and not is_linux_kernel(kernel):
            return mode
        if mode == RUN_LINUX and manifest.boot is not None:
            return mode
        if mode == RUN_NANOS:
            return mode
    vm_modes = [m for m in modes if m in (RUN_LINUX, RUN_ELFLOADER, RUN_NANOS)]
    if not vm_modes:
        raise NotBootable(f"a {manifest.target} output does not boot in QEMU: `faktory run` boots microvm, unikraft "
                          "and nanos outputs")
    raise NotBootable(f"this {manifest.target} output needs --kernel FILE (an ELF-loader kernel)")


def launch_of(manifest: OutputManifest, args: Sequence[str]) -> LaunchOut:
    launch = manifest.launch
    if launch is None:
        raise NotBootable("faktory.json has no launch record")
    argv = override_argv(list(launch.entrypoint), list(args)) if args else list(launch.argv)
    return LaunchOut(tuple(argv), launch.env, launch.workdir, launch.entrypoint, launch.user, launch.hostname)


@contextmanager
def bootable(outdir: Path, *, args: Sequence[str] = (), ports: Sequence[tuple[int, int]] = (),
             kernel: Path | None = None, memory_mb: int | None = None, nanos_dir: Path | None = None,
             until: str | None = None, tty: bool = False) -> Iterator[BootSpec]:
    """A BootSpec for the output; `args` replace the image's Cmd like `docker run IMAGE ARGS…` does.
    `until`: the text that means the app is done, for a runtime that never powers off. `tty`: a microVM's app
    gets the console as its terminal, like `docker run -it`."""
    outdir = Path(outdir)
    manifest = read_manifest(outdir)
    if kernel is not None and not Path(kernel).is_file():
        raise FaktoryError(f"--kernel {kernel}: no such file")
    mode = run_mode(manifest, kernel, nanos_dir)
    launch = launch_of(manifest, args)
    memory = memory_mb or (manifest.boot.memory_mb if manifest.boot else int(manifest.raw.get("memory_mb") or 512))
    with scratch(cache_dir(), "boot-") as work:
        if mode == RUN_NANOS:
            yield nanos.boot_spec(outdir, manifest, launch, work, memory, tuple(ports), nanos_dir)
        elif mode == RUN_ELFLOADER:
            yield elfloader_spec(outdir, manifest, launch, Path(kernel), memory, tuple(ports), until)  # type: ignore[arg-type]
        else:
            yield linux_spec(outdir, manifest, launch, kernel, work, memory, tuple(ports), tty)


def linux_spec(outdir: Path, manifest: OutputManifest, launch: LaunchOut, kernel: Path | None, work: Path,
               memory: int, ports: tuple[tuple[int, int], ...], tty: bool = False) -> BootSpec:
    assert manifest.boot is not None
    if kernel is None:
        kernel = outdir / manifest.boot.kernel if manifest.boot.kernel else default_kernel()
    spec = LaunchSpec(launch.argv, launch.env, launch.workdir, tty, launch.user, launch.hostname)
    initrd = work / "initrd.cpio"
    with open(initrd, "wb") as out, open(outdir / manifest.boot.initrd, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
        write_overlay(out, spec, kernel)
    return BootSpec(kernel, initrd, LINUX_CMDLINE, memory, ports, kernel_log=work / "kernel.log")


def elfloader_spec(outdir: Path, manifest: OutputManifest, launch: LaunchOut, kernel: Path, memory: int,
                   ports: tuple[tuple[int, int], ...], until: str | None) -> BootSpec:
    """`kraft run` on the base runtime: the Kraftfile's env in env.vars, then `--`, then the argv."""
    from faktory.emitters.unikraft import kernel_cmdline, kernel_env, real_program_names, refuse_empty_arguments

    assert manifest.boot is not None
    argv = real_program_names(manifest, list(launch.argv))
    refuse_empty_arguments(argv)
    cmdline = kernel_cmdline(kernel_env(dict(launch.env))[0], argv)
    if ports:
        cmdline = cmdline.replace(" -- ", " netdev.ip=10.0.2.15/24:10.0.2.2 -- ", 1)
    return BootSpec(kernel, outdir / manifest.boot.initrd, cmdline, memory, ports, nic_model="virtio-net-pci",
                    exit=EXIT_NONE, until=until, banner=UNIKRAFT_BANNER)


def default_ports(outdir: Path) -> list[tuple[int, int]]:
    return [(p, p) for p in read_manifest(outdir).ports]


__all__ = ["EXIT_DEBUG_PORT", "NotBootable", "bootable", "default_ports", "parse_port", "run_mode"]
