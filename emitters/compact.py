"""--compact: strip ELF debug sections with binutils and turn pure-Python modules into sourceless .pyc.

Bytecode is compiled by a host CPython of the image's own X.Y (pyenv prefixes), in a separate isolated process
that only compiles — the image's code is never run. Without a matching interpreter the sources stay.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from faktory.emitters.rootfs import Rootfs, RootEntry
from faktory.image import FILE

PYENV_ROOTS = (Path("/root/.pyenv/versions"), Path.home() / ".pyenv/versions")
ELF_MAGIC = b"\x7fELF"

_COMPILER = r"""
import json, py_compile, sys
jobs = json.load(sys.stdin)
failed = []
for src, dst, shown in jobs:
    try:
        py_compile.compile(src, cfile=dst, dfile=shown, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except Exception as exc:
        failed.append([shown, str(exc).splitlines()[0] if str(exc) else type(exc).__name__])
json.dump(failed, sys.stdout)
"""


@dataclass
class CompactReport:
    stripped: int = 0
    bytes_saved: int = 0
    compiled: int = 0
    notes: list[str] = field(default_factory=list)


def matching_python(version: tuple[int, ...]) -> str | None:
    """A host interpreter with the image's major.minor: pyenv prefixes first, then the running one."""
    want = f"{version[0]}.{version[1]}"
    for root in PYENV_ROOTS:
        for prefix in sorted(root.glob(want + ".*"), reverse=True):
            exe = prefix / "bin" / f"python{want}"
            if exe.exists():
                return str(exe)
    if sys.version_info[:2] == tuple(version[:2]):
        return sys.executable
    return None


def strip_elf(rootfs: Rootfs, workdir: Path, report: CompactReport) -> None:
    strip = shutil.which("strip")
    if strip is None:
        report.notes.append("strip (binutils) not found: ELF files kept as they are")
        return
    counter = itertools.count()
    for entry in list(rootfs.entries.values()):
        if entry.kind != FILE or entry.size < 4096:
            continue
        head = next(rootfs.chunks(entry), b"")[:4] if entry.size else b""
        if head != ELF_MAGIC:
            continue
        dest = workdir / f"elf-{next(counter)}"
        with open(dest, "wb") as fh:
            for chunk in rootfs.chunks(entry):
                fh.write(chunk)
        proc = subprocess.run([strip, "--strip-debug", "-o", str(dest) + ".s", str(dest)], capture_output=True)
        if proc.returncode != 0:
            dest.unlink()
            continue
        os.replace(str(dest) + ".s", dest)
        new_size = dest.stat().st_size
        if new_size < entry.size:
            report.stripped += 1
            report.bytes_saved += entry.size - new_size
            rootfs.entries[entry.path] = replace(entry, size=new_size, host_path=str(dest), source=None, data=None)
        else:
            dest.unlink()


def compile_sources(rootfs: Rootfs, version: tuple[int, ...], keep: set[str], workdir: Path,
                    report: CompactReport) -> None:
    python = matching_python(version)
    if python is None:
        report.notes.append(f"no Python {version[0]}.{version[1]} on this host to compile bytecode with: sources kept")
        return
    jobs, sources = [], {}
    srcdir = workdir / "py"
    srcdir.mkdir(exist_ok=True)
    for entry in list(rootfs.entries.values()):
        if entry.kind != FILE or not entry.path.endswith(".py") or entry.path in keep:
            continue
        pyc_path = entry.path[:-3] + ".pyc"
        if pyc_path in rootfs.entries:
            continue
        n = len(jobs)
        src = srcdir / f"{n}.py"
        with open(src, "wb") as fh:
            for chunk in rootfs.chunks(entry):
                fh.write(chunk)
        jobs.append([str(src), str(srcdir / f"{n}.pyc"), entry.path])
        sources[entry.path] = (entry, srcdir / f"{n}.pyc")
    if not jobs:
        return
    proc = subprocess.run([python, "-I", "-S", "-c", _COMPILER], input=json.dumps(jobs), capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        report.notes.append(f"bytecode compiler failed ({proc.stderr.strip()[:200]}): sources kept")
        return
    failed = {path for path, _ in json.loads(proc.stdout or "[]")}
    for path, (entry, pyc) in sources.items():
        if path in failed or not pyc.exists():
            continue
        rootfs.remove(path)
        rootfs.add(RootEntry(path[:-3] + ".pyc", FILE, entry.mode & 0o7777 or 0o644, pyc.stat().st_size,
                             host_path=str(pyc)))
        report.compiled += 1
    if failed:
        report.notes.append(f"{len(failed)} modules did not compile and keep their source")


def compact(rootfs: Rootfs, version: tuple[int, ...], keep: set[str], workdir: Path, *, bytecode: bool = True) -> CompactReport:
    workdir.mkdir(parents=True, exist_ok=True)
    report = CompactReport()
    strip_elf(rootfs, workdir, report)
    if bytecode:
        compile_sources(rootfs, version, keep, workdir, report)
    return report
