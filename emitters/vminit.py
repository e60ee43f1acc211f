"""The microVM's PID 1 and the small cpio overlay that carries it.

The init is C (templates/init.c) compiled with the host's gcc as a static binary once per source hash and kept
in the cache dir. Linux unpacks concatenated cpio archives in order, so the overlay can be appended to any
rootfs initrd (a microvm output or a unikraft output's rootfs.cpio) and a later overlay replaces the launch file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

import platformdirs

from faktory.analyzers.runas import RunAs
from faktory.emitters.cpio import NewcWriter
from faktory.errors import FaktoryError

INIT_PATH = "/.faktory/init"
# The kernel logs errors (OOM, panics) on ttyS1, which the runner keeps for its post-mortem; the init gives the
# app ttyS0, so the app's output stays clean.
LINUX_CMDLINE = "console=ttyS1 loglevel=4 panic=-1 random.trust_cpu=on rdinit=" + INIT_PATH
LAUNCH_PATH = "/.faktory/launch"
SEED_PATH = "/.faktory/seed"
MODULE_DIR = "/.faktory/modules"
# NIC drivers for QEMU's e1000 (no module dependencies in Debian's kernel).
NIC_MODULES = ("kernel/drivers/net/ethernet/intel/e1000/e1000.ko",)


class InitBuildError(FaktoryError):
    pass


def cache_dir() -> Path:
    path = Path(os.environ.get("FAKTORY_CACHE_DIR") or platformdirs.user_cache_dir("faktory"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def init_source() -> bytes:
    return resources.files("faktory.emitters").joinpath("templates/init.c").read_bytes()


def build_init() -> Path:
    """The static init binary, compiled on first use."""
    source = init_source()
    target = cache_dir() / f"init-{hashlib.sha256(source).hexdigest()[:16]}"
    if target.exists():
        return target
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise InitBuildError("the microvm init needs a C compiler (gcc) with static glibc (libc6-dev)")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "init.c"
        src.write_bytes(source)
        out = Path(tmp) / "init"
        proc = subprocess.run([cc, "-static", "-Os", "-s", "-o", str(out), str(src)], capture_output=True, text=True)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["unknown error"])[0]
            raise InitBuildError(f"compiling the microvm init failed: {first}")
        os.replace(out, target)
    return target


def kernel_version(kernel: Path) -> str | None:
    """The release string of an x86 bzImage (setup header `kernel_version` pointer at 0x20E)."""
    with open(kernel, "rb") as fh:
        head = fh.read(0x10000)
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        return None
    offset = int.from_bytes(head[0x20E:0x210], "little") + 0x200
    raw = head[offset:offset + 256].split(b"\0", 1)[0].decode("ascii", "replace")
    return raw.split(" ", 1)[0] or None


def default_kernel() -> Path:
    candidates = sorted(Path("/boot").glob("vmlinuz-*"), key=lambda p: _version_key(p.name[len("vmlinuz-"):]))
    readable = [p for p in candidates if os.access(p, os.R_OK)]
    if not readable:
        raise FaktoryError("no readable Linux kernel in /boot (install linux-image-amd64 or pass --kernel FILE)")
    return readable[-1]


def _version_key(text: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"[.-]", text)]


def nic_modules(kernel: Path) -> list[Path]:
    version = kernel_version(kernel)
    if not version:
        return []
    base = Path("/lib/modules") / version
    return [base / rel for rel in NIC_MODULES if (base / rel).is_file()]


@dataclass(frozen=True)
class LaunchSpec:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    workdir: str = "/"
    tty: bool = False  # the console as the app's terminal (`docker run -it`); else stdin /dev/null, output a pipe
    user: RunAs | None = None  # the image's non-root USER: the init drops to it before the app starts
    hostname: str = ""  # the VM's host name, resolvable through /etc/hosts as a container's is

    def record(self, modules: Iterable[str] = ()) -> bytes:
        items = [f"W{self.workdir or '/'}"] + (["T"] if self.tty else [])
        items += [f"U{self.user.record()}"] if self.user else []
        items += [f"H{self.hostname}"] if self.hostname else []
        items += [f"K{m}" for m in modules]
        items.append(f"S{SEED_PATH}")
        items += [f"E{k}={v}" for k, v in self.env.items()]
        items += [f"A{a}" for a in self.argv]
        return b"".join(i.encode("utf-8", "surrogateescape") + b"\0" for i in items)


def write_overlay(out, launch: LaunchSpec, kernel: Path | None, *, with_init: bool = True) -> list[str]:
    """Append-able cpio: /dev/console (the kernel opens it before init runs), init, NIC modules, launch, seed."""
    writer = NewcWriter(out)
    names = []
    writer.add_dir("/dev", 0o755)
    writer.add_device("/dev/console", True, 5, 1, 0o600)
    writer.add_dir("/.faktory", 0o755)
    modules = []
    if with_init:
        writer.add_file(INIT_PATH, build_init().read_bytes(), mode=0o755)
        names.append(INIT_PATH)
        if kernel is not None:
            writer.add_dir(MODULE_DIR, 0o755)
            for mod in nic_modules(kernel):
                dest = f"{MODULE_DIR}/{mod.name}"
                writer.add_file(dest, mod.read_bytes(), mode=0o644)
                modules.append(dest)
    writer.add_file(LAUNCH_PATH, launch.record(modules), mode=0o644)
    writer.add_file(SEED_PATH, os.urandom(512), mode=0o600)
    writer.close()
    return names + modules + [LAUNCH_PATH, SEED_PATH]


def overlay_bytes(launch: LaunchSpec, kernel: Path | None, *, with_init: bool = True) -> bytes:
    buf = io.BytesIO()
    write_overlay(buf, launch, kernel, with_init=with_init)
    return buf.getvalue()
