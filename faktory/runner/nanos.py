"""Boot a nanos output: its sysroot and launch record become a Nanos manifest tuple, Nanos' own `mkfs` (from an
OPS installation, ~/.ops/<version>/, or `--nanos DIR`) writes the disk — faktory never writes Nanos'
filesystem format itself — and QEMU boots it (q35, virtio-scsi, virtio-rng, isa-debug-exit)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from faktory.emitters.base import LaunchOut
from faktory.emitters.convert import capabilities
from faktory.emitters.manifest import OutputManifest
from faktory.errors import FaktoryError
from faktory.runner.qemu import EXIT_DEBUG_PORT, BootSpec

MIB = 1 << 20
# where each file lives: an OPS release dir, or a Nanos build tree
LAYOUTS = (("kernel.img", "boot.img", "mkfs"),
           ("platform/pc/bin/kernel.img", "platform/pc/boot/boot.img", "tools/bin/mkfs"))


class NanosUnavailable(FaktoryError):
    pass


def _parts(root: Path) -> tuple[Path, Path, Path] | None:
    for kernel, boot, mkfs in LAYOUTS:
        found = (root / kernel, root / boot, root / mkfs)
        if all(p.is_file() for p in found):
            return found
    return None


def find_nanos(given: Path | None = None) -> tuple[Path, Path, Path]:
    """(kernel.img, boot.img, mkfs): from DIR, else the newest OPS release in $OPS_HOME or ~/.ops."""
    if given is not None:
        found = _parts(Path(given))
        if found is None:
            raise NanosUnavailable(f"--nanos {given}: no kernel.img, boot.img and mkfs there (an OPS release dir "
                                   "or a Nanos build tree)")
        return found
    home = Path(os.environ.get("OPS_HOME") or Path.home() / ".ops")
    releases = sorted((p for p in home.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for release in releases:
        found = _parts(release)
        if found:
            return found
    raise NanosUnavailable(f"no Nanos to boot with: install OPS ({home}/<version>/ with kernel.img, boot.img, "
                           "mkfs) or pass --nanos DIR")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _children(host: Path, guest: str, provided: tuple[str, ...]) -> str:
    items = []
    for name in sorted(os.listdir(host)):
        path, inside = host / name, f"{guest.rstrip('/')}/{name}"
        if inside in provided or any(inside.startswith(p + "/") for p in provided):
            continue
        if path.is_symlink():
            items.append(f"{quote(name)}:(linktarget:{quote(os.readlink(path))})")
        elif path.is_dir():
            items.append(f"{quote(name)}:(children:({_children(path, inside, provided)}))")
        elif path.is_file():
            items.append(f"{quote(name)}:(contents:(host:{quote(str(path.resolve()))}))")
    return " ".join(items)


def manifest_tuple(sysroot: Path, launch: LaunchOut, provided: tuple[str, ...]) -> str:
    env = " ".join(f"{quote(k)}:{quote(v)}" for k, v in launch.env.items())
    args = " ".join(quote(a) for a in launch.argv)
    return (f"(\n children:({_children(sysroot, '/', provided)})\n program:{quote(launch.argv[0])}\n"
            f" arguments:[{args}]\n environment:({env})\n cwd:{quote(launch.workdir or '/')}\n debug_exit:t\n)\n")


def _inside(sysroot: Path, path: str, depth: int = 0) -> Path | None:
    """The host file a guest path names, its symlinks resolved inside the sysroot (never on the host)."""
    here = sysroot
    for name in [p for p in path.split("/") if p not in ("", ".")]:
        here = sysroot if name == ".." and here == sysroot else (here.parent if name == ".." else here / name)
        if here.is_symlink():
            if depth > 40:
                return None
            target = os.readlink(here)
            base = "/" if target.startswith("/") else "/" + str(here.parent.relative_to(sysroot))
            found = _inside(sysroot, f"{base}/{target}", depth + 1)
            if found is None:
                return None
            here = found
    return here if here.exists() else None


def program_argv(sysroot: Path, launch: LaunchOut) -> tuple[str, ...]:
    """Nanos execs an absolute path and no shebang: a bare name (an overriding `python3 …` or `invctl …`) is
    looked up on the launch PATH inside the sysroot, and a script runs through its `#!` interpreter."""
    argv = list(launch.argv)
    if argv and not argv[0].startswith("/"):
        for d in launch.env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
            if d.startswith("/") and _inside(sysroot, f"{d}/{argv[0]}") is not None:
                argv[0] = f"{d.rstrip('/')}/{argv[0]}"
                break
    host = _inside(sysroot, argv[0]) if argv else None
    if host is not None and host.is_file():
        with open(host, "rb") as fh:
            head = fh.read(256)
        if head.startswith(b"#!"):
            shebang = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
            if shebang and shebang[0].startswith("/"):
                if shebang[0].endswith("/env") and len(shebang) > 1:  # #!/usr/bin/env python3
                    return program_argv(sysroot, LaunchOut((shebang[1], *argv), launch.env, launch.workdir))
                argv = [*shebang, *argv]
    return tuple(argv)


def _size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def boot_spec(outdir: Path, manifest: OutputManifest, launch: LaunchOut, work: Path, memory: int,
              ports: tuple[tuple[int, int], ...], nanos_dir: Path | None) -> BootSpec:
    kernel, boot, mkfs = find_nanos(nanos_dir)
    trees = [k for k in manifest.contents if k.endswith("sysroot")]
    if not trees:
        raise NanosUnavailable("faktory.json names no sysroot")
    sysroot = outdir / trees[0]
    launch = LaunchOut(program_argv(sysroot, launch), launch.env, launch.workdir, launch.entrypoint)
    text = manifest_tuple(sysroot, launch, capabilities(manifest.target).provided_paths)
    (work / "image.manifest").write_text(text)
    disk = work / "image.raw"
    size = int(_size(sysroot) * 1.2) + 64 * MIB
    with open(work / "image.manifest") as stdin:
        proc = subprocess.run([str(mkfs), "-b", str(boot), "-k", str(kernel), "-s", str(size), str(disk)],
                              stdin=stdin, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise NanosUnavailable(f"Nanos mkfs failed: {last[0]}")
    devices = ("-device", "isa-debug-exit", "-device", "virtio-rng-pci",
               "-drive", f"if=none,id=hd0,format=raw,file={disk}",
               "-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,bus=scsi0.0,drive=hd0")
    return BootSpec(None, None, "", memory, ports, nic_model="virtio-net-pci", machine="q35", devices=devices,
                    exit=EXIT_DEBUG_PORT)
