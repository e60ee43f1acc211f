"""Rootfs for one target: materialise the closure with the target's layout, then --compact if asked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from faktory.analyzers.model import Closure
from faktory.emitters.base import EmitOptions
from faktory.emitters.compact import CompactReport, compact
from faktory.emitters.rootfs import Layout, RootEntry, Rootfs, build_rootfs, materialise
from faktory.image import DIR, Image

WORK = ".work"  # scratch inside the staging dir, removed before the rename


def prepare_rootfs(image: Image, closure: Closure, layout: Layout, options: EmitOptions, staging: Path,
                   *, bytecode: bool = True) -> tuple[Rootfs, CompactReport | None]:
    if options.compact:  # sourceless bytecode replaces the sources: the image's cached .pyc are not needed
        layout = replace(layout, bytecode_cache=False)
    rootfs = build_rootfs(image, closure, layout)
    ensure_workdir(rootfs, image, closure)
    report = None
    if options.compact:
        keep = {p for p in (closure.launch.script,) if p}
        report = compact(rootfs, closure.interpreter.version, keep, staging / WORK, bytecode=bytecode)
    return rootfs, report


def ensure_workdir(rootfs: Rootfs, image: Image, closure: Closure) -> None:
    """The working dir exists even when nothing in it is needed: Docker creates WorkingDir, so must we."""
    workdir = closure.launch.workdir or image.config.working_dir
    if not workdir or workdir == "/" or workdir in rootfs.entries:
        return
    entry = image.fs.stat(workdir)
    if entry is not None and entry.kind == DIR:
        extra = materialise(image, [workdir])
        for path, value in extra.entries.items():
            rootfs.entries.setdefault(path, value)
    elif entry is None:
        rootfs.add(RootEntry(workdir, DIR, 0o755))


def cleanup(staging: Path) -> None:
    import shutil

    shutil.rmtree(staging / WORK, ignore_errors=True)


def compact_extra(report: CompactReport | None) -> dict:
    if report is None:
        return {}
    return {"compact": {"stripped_elf_files": report.stripped, "elf_bytes_saved": report.bytes_saved,
                        "compiled_modules": report.compiled, "notes": report.notes}}


def listing(rootfs: Rootfs) -> list[str]:
    """The archive member names, as `cpio -t` / `tar -t` print them."""
    return [e.path.lstrip("/") for e in rootfs.sorted() if e.path != "/"]
