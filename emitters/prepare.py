"""Rootfs for one target: materialise the closure with the target's layout, then --compact if asked."""

from __future__ import annotations

from pathlib import Path

from faktory.analyzers.model import Closure
from faktory.emitters.base import EmitOptions
from faktory.emitters.compact import CompactReport, compact
from faktory.emitters.rootfs import Layout, Rootfs, build_rootfs
from faktory.image import Image

WORK = ".work"  # scratch inside the staging dir, removed before the rename


def prepare_rootfs(image: Image, closure: Closure, layout: Layout, options: EmitOptions, staging: Path,
                   *, bytecode: bool = True) -> tuple[Rootfs, CompactReport | None]:
    rootfs = build_rootfs(image, closure, layout)
    report = None
    if options.compact:
        keep = {p for p in (closure.launch.script,) if p}
        report = compact(rootfs, closure.interpreter.version, keep, staging / WORK, bytecode=bytecode)
    return rootfs, report


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
