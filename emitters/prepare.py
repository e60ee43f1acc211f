"""Rootfs for one target: materialise the closure with the target's layout, strip ELF debug sections (unless
--keep-debug), then --compact's sourceless bytecode if asked."""

from __future__ import annotations

import posixpath
from dataclasses import replace
from pathlib import Path

from faktory.analyzers.model import Closure
from faktory.emitters.base import EmitOptions
from faktory.emitters.compact import CompactReport, shrink
from faktory.emitters.dedupe import find_duplicates
from faktory.emitters.rootfs import Layout, RootEntry, Rootfs, build_rootfs, cached_bytecode, materialise
from faktory.image import DIR, Image

WORK = ".work"  # scratch inside the staging dir, removed before the rename


def prepare_rootfs(image: Image, closure: Closure, layout: Layout, options: EmitOptions, staging: Path,
                   *, bytecode: bool = True) -> tuple[Rootfs, CompactReport | None]:
    compiled = options.compact and bytecode
    cached_by_plain: set[str] = set()
    if compiled:  # sourceless bytecode replaces the sources: the image's cached .pyc are not shipped beside it
        if layout.bytecode_cache:
            cached_by_plain = {posixpath.join(posixpath.dirname(posixpath.dirname(pyc)), posixpath.basename(pyc)
                                              .split(".", 1)[0] + ".py")
                               for pyc in cached_bytecode(image, closure.paths(), closure.interpreter.version)}
        layout = replace(layout, bytecode_cache=False)
    rootfs = build_rootfs(image, closure, layout)
    ensure_workdir(rootfs, image, closure)
    report = None
    if compiled or not options.keep_debug:
        keep = {p for p in (closure.launch.script,) if p}
        report = shrink(rootfs, closure.interpreter.version, staging / WORK, strip=not options.keep_debug,
                        bytecode=compiled, keep=keep, cached_by_plain=cached_by_plain,
                        compressed=layout.compressed, symbols=options.compact)
    if options.compact:
        report = report or CompactReport(compact=True)
        report.notes.extend(layout.compact_notes)
        if layout.hardlinks:  # after shrink: what is compared is what ships
            rootfs.duplicates = find_duplicates(rootfs)
            report.deduped_files, report.dedupe_bytes_saved = rootfs.duplicates.files, rootfs.duplicates.saved
    return rootfs, report


def ensure_workdir(rootfs: Rootfs, image: Image, closure: Closure) -> None:
    """The working dir and the image's volumes exist even when nothing in them is needed: Docker creates
    WorkingDir, and mounts a volume at each Volumes path, so must we."""
    for wanted in (closure.launch.workdir or image.config.working_dir, *image.config.volumes):
        if not wanted or wanted == "/" or wanted in rootfs.entries:
            continue
        entry = image.fs.stat(wanted)
        if entry is not None and entry.kind == DIR:
            extra = materialise(image, [wanted])
            for path, value in extra.entries.items():
                rootfs.entries.setdefault(path, value)
        elif entry is None:
            rootfs.add(RootEntry(wanted, DIR, 0o755))


def cleanup(staging: Path) -> None:
    import shutil

    shutil.rmtree(staging / WORK, ignore_errors=True)


def compact_extra(report: CompactReport | None) -> dict:
    """faktory.json keys: `debug_stripped` always (what stripping saved), `compact` for --compact builds."""
    if report is None:
        return {}
    out: dict = {"debug_stripped": {"elf_files": report.stripped, "bytes_saved": report.bytes_saved}}
    if report.compact:
        out["compact"] = {"stripped_elf_files": report.stripped, "elf_bytes_saved": report.bytes_saved,
                          "compiled_modules": report.compiled, "from_image_cache": report.from_image_cache,
                          "kept_source": report.kept_source, "deduped_files": report.deduped_files,
                          "dedupe_bytes_saved": report.dedupe_bytes_saved, "notes": report.notes}
    return out


def listing(rootfs: Rootfs) -> list[str]:
    """The archive member names, as `cpio -t` / `tar -t` print them."""
    return [e.path.lstrip("/") for e in rootfs.sorted() if e.path != "/"]
