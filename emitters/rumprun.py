"""rumprun on Solo5: an ISO9660 + Rock Ridge block device with the Python 3.5 layout rumprun's static
python.hvt expects (/python/lib/python3.5/… + site-packages + the app), its JSON-ish config and the solo5
command lines. rumprun's interpreter replaces the image's: ELF files are left out."""

from __future__ import annotations

import json
from pathlib import Path

from faktory.analyzers.model import BLOCKER, WARNING, Closure, Finding
from faktory.emitters.base import Artifact, Capabilities, EmitOptions
from faktory.emitters.iso import write_iso
from faktory.emitters.launch import launch_env
from faktory.emitters.prepare import WORK, cleanup, listing, prepare_rootfs
from faktory.emitters.rootfs import Layout, Rootfs
from faktory.emitters.rules import as_severity, blocker, extension_findings, facts, judge, single_user
from faktory.image import DIR, FILE, Image

RUMP_VERSION = (3, 5)
HOME = "/python"
STDLIB = f"{HOME}/lib/python3.5"
SITE = f"{STDLIB}/site-packages"
ISO = "app.iso"
CONFIG = "rumprun.json"
MEMORY_MB = 64
BLK = {"source": "etfs", "path": "/dev/ld0a", "fstype": "blk", "mountpoint": "/"}
DROPPED_ENV = ("PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONHOME", "HOME")


def site_dirs(closure: Closure) -> list[str]:
    return [p for p in closure.sys_path if p.rstrip("/").endswith(("site-packages", "dist-packages"))]


def rump_path(closure: Closure, path: str) -> str | None:
    """Where an image path goes on the ISO; None drops it (rumprun brings its own interpreter and libc)."""
    for site in sorted(site_dirs(closure), key=len, reverse=True):
        if path == site or path.startswith(site + "/"):
            return SITE + path[len(site):]
    stdlib = closure.interpreter.stdlib_dir
    if path == stdlib or path.startswith(stdlib + "/"):
        rest = path[len(stdlib):]
        return None if rest.startswith("/lib-dynload") else STDLIB + rest
    prefix = closure.interpreter.prefix.rstrip("/") or "/usr"
    if path.startswith(prefix + "/") or path.startswith(("/lib", "/usr/lib", "/bin", "/sbin", "/usr/bin", "/dev")):
        return None
    return path


def rumprun_config(cmdline: str, env: dict[str, str]) -> str:
    """rumprun's config repeats the "env" key, one per variable: written by hand, not by json.dumps(dict)."""
    parts = [f'"cmdline": {json.dumps(cmdline)}']
    parts += [f'"env": {json.dumps(f"{k}={v}")}' for k, v in env.items()]
    parts.append(f'"blk": {json.dumps(BLK)}')
    return "{" + ", ".join(parts) + "}"


class RumprunEmitter:
    name = "rumprun"
    capabilities = Capabilities()

    def validate(self, image: Image, options: EmitOptions) -> None:
        pass

    def check(self, closure: Closure, options: EmitOptions = EmitOptions()) -> list[Finding]:
        out: list[Finding] = []
        version = tuple(closure.interpreter.version[:2])
        if version != RUMP_VERSION:
            out.append(blocker("python-version", f"the image runs Python {version[0]}.{version[1]}; rumprun's "
                               "python.hvt is Python 3.5", self.name, closure.interpreter.real_path))
        out += extension_findings(closure, self.name, "is not compiled into rumprun's static python")
        out += judge(closure, ("fork", "subprocess", "multiprocessing"), self.name, "rumprun runs one process")
        out += single_user(closure, self.name, "rumprun")
        out += judge(closure, ("ctypes", "dlopen-null"), self.name, "no _ctypes in rumprun")
        out += judge(closure, ("threads",), self.name, "rumprun threads are cooperative only")
        out += as_severity(facts(closure, "writes"), self.name, WARNING, "only /tmp is writable")
        return out

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        full, _ = prepare_rootfs(image, closure, Layout(dirs=(("/tmp", 0o1777),), bytecode_cache=False), EmitOptions(),
                                 outdir)
        rootfs = _prune_empty(_without_elf(full).relocated(lambda p: rump_path(closure, p) if p != "/" else "/"))
        write_iso(rootfs, outdir / ISO, outdir / WORK / "iso")
        cleanup(outdir)
        env = {"PYTHONHOME": HOME}
        env.update({k: v for k, v in launch_env(image, closure).items() if k not in DROPPED_ENV})
        args = [rump_path(closure, a) or a if a.startswith("/") else a for a in closure.launch.argv[1:]]
        config_hvt = rumprun_config(" ".join(["python.hvt", *args]), env)
        config_spt = rumprun_config(" ".join(["python.spt", *args]), env)
        (outdir / CONFIG).write_text(config_hvt + "\n")
        hvt = f"solo5-hvt --mem={MEMORY_MB} --block:rootfs={outdir}/{ISO} python.hvt '{config_hvt}'"
        spt = f"solo5-spt --mem={MEMORY_MB} --block:rootfs={outdir}/{ISO} python.spt '{config_spt}'"
        return Artifact(self.name, outdir, {}, hvt, contents={ISO: tuple(listing(rootfs))},
                        notes=f"{PYTHON_HVT_ORIGIN}\n\nOn solo5-spt (seccomp, no KVM):\n\n```sh\n{spt}\n```",
                        details={"solo5": {"hvt": hvt, "spt": spt}, "config": config_hvt, "skipped": full.skipped})


PYTHON_HVT_ORIGIN = (
    "`python.hvt` (and `python.spt`) is not in this directory and faktory does not build it: it is rumprun's "
    "Python 3.5 unikernel, built from the `python3` package of rumprun-packages and baked for solo5 "
    "(`rumprun-bake solo5_hvt python.hvt python`, `solo5_spt` for python.spt). Run the command where it lies, "
    "or replace `python.hvt` by its path; `solo5-hvt` comes with solo5."
)


def _without_elf(rootfs: Rootfs) -> Rootfs:
    for entry in list(rootfs.entries.values()):
        if entry.kind == FILE and entry.size >= 4 and next(rootfs.chunks(entry), b"")[:4] == b"\x7fELF":
            rootfs.remove(entry.path)
    return rootfs


def _prune_empty(rootfs: Rootfs, keep: tuple[str, ...] = ("/", "/tmp")) -> Rootfs:
    """Dirs left empty once the interpreter and libraries are gone (/usr/local, …) go too."""
    for entry in reversed(rootfs.sorted()):
        if entry.kind == DIR and entry.path not in keep:
            prefix = entry.path + "/"
            if not any(p.startswith(prefix) for p in rootfs.entries):
                rootfs.remove(entry.path)
    return rootfs


EMITTER = RumprunEmitter()
