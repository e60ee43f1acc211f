"""Output size: ELF debug sections stripped with binutils (by default: lossless for running, as the official
python images ship), and with --compact the static symbol tables too and pure-Python modules turned into
sourceless .pyc.

Sourceless bytecode comes first from the image's own `__pycache__` (pip and Debian write it at install time with
the image's interpreter) when its header matches the source's mtime and size, as CPython itself checks; else it
is compiled by a host CPython of the image's X.Y (pyenv prefixes) in a separate isolated process that only
compiles — the image's code is never run. A module whose bytecode would be larger than its source, when the
plain output ships the source alone, keeps its source (weighed deflated when the output is gzip'd): --compact is
never larger than the plain output.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import posixpath
import shutil
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from faktory.analyzers.elfread import PT_LOAD, ElfFormatError, open_view
from faktory.analyzers.scancache import content_key
from faktory.emitters.rootfs import Rootfs, RootEntry
from faktory.emitters.stripcache import KEEP, STRIPPED, Outcome, StripCache, default_strip_cache, strip_version
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
    compiled: int = 0  # sourceless modules shipped (from the image's cache or compiled here)
    from_image_cache: int = 0
    kept_source: int = 0  # bytecode would have been larger than the source
    compact: bool = False  # --compact asked for sourceless bytecode
    deduped_files: int = 0  # names stored as links to an identical file
    dedupe_bytes_saved: int = 0
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


def _segments_aligned(path: str) -> bool:
    """Every PT_LOAD has p_offset ≡ p_vaddr (mod p_align), as the loader demands ("ELF load command
    address/offset not page-aligned"): `strip` can break that on libraries patchelf rewrote (auditwheel's)."""
    try:
        with open(path, "rb") as fh:
            view = open_view(fh)
            if view is None:
                return False
            for seg in view.segments():
                if seg.type == PT_LOAD and seg.align > 1 and (seg.offset - seg.vaddr) % seg.align:
                    return False
    except (ElfFormatError, struct.error, OSError):
        return False
    return True


def strip_elf(rootfs: Rootfs, workdir: Path, report: CompactReport, *, unneeded: bool = False,
              cache: StripCache | None = None) -> None:
    """Debug sections out (the default); `unneeded` (--compact): also the static symbol table, as PyInstaller's
    --strip does. Both are lossless for running: the dynamic linker and dlsym read .dynsym only. Outcomes come
    from `cache` (emitters.stripcache) when known; the rest run `strip` in parallel, applied in rootfs order."""
    strip = shutil.which("strip")
    if strip is None:
        report.notes.append("strip (binutils) not found: ELF files kept as they are")
        return
    how = "--strip-unneeded" if unneeded else "--strip-debug"
    if cache is None:
        cache = default_strip_cache()
    version = strip_version(strip)
    counter = itertools.count()
    work: list[tuple[RootEntry, str, Outcome | Path]] = []  # (entry, cache key, cached outcome or input copy)
    for entry in list(rootfs.entries.values()):
        if entry.kind != FILE or entry.size < 4096:
            continue
        if _head(rootfs, entry) != ELF_MAGIC:
            continue
        dest = workdir / f"elf-{next(counter)}"
        content = _content_key(rootfs, entry)
        key = StripCache.key(content, how, version) if content else ""
        known = cache.get(key) if key else None
        if known is not None:
            work.append((entry, key, _linked(known, dest)))
            continue
        sha = None if key else hashlib.sha256()  # bytes rewritten on the host: keyed by what they are
        with open(dest, "wb") as fh:
            for chunk in rootfs.chunks(entry):
                fh.write(chunk)
                if sha is not None:
                    sha.update(chunk)
        if sha is not None:
            key = StripCache.key("sha256:" + sha.hexdigest(), how, version)
            known = cache.get(key)
            if known is not None:
                dest.unlink()
                work.append((entry, key, _linked(known, dest)))
                continue
        work.append((entry, key, dest))
    todo = [item[2] for item in work if isinstance(item[2], Path)]
    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, len(todo)))) as pool:
        done = dict(zip(todo, pool.map(lambda path: _strip_one(strip, how, path), todo)))
    for entry, key, got in work:
        if isinstance(got, Path):
            outcome = done[got]
            if outcome is None:  # strip failed: maybe the disk, so nothing is cached
                got.unlink()
                continue
            cache.put(key, outcome)
        else:
            outcome = got
        if outcome.kind == STRIPPED and outcome.size < entry.size:
            report.stripped += 1
            report.bytes_saved += entry.size - outcome.size
            rootfs.entries[entry.path] = replace(entry, size=outcome.size, host_path=outcome.path, source=None,
                                                 data=None)


def _strip_one(strip: str, how: str, dest: Path) -> Outcome | None:
    """`strip` on one input copy: the stripped bytes replace it, or KEEP (misaligned, or nothing saved);
    None when strip failed."""
    out = str(dest) + ".s"
    proc = subprocess.run([strip, how, "-o", out, str(dest)], capture_output=True)
    if proc.returncode != 0:
        return None
    if not _segments_aligned(out):  # binutils moved a patchelf'd segment: ld.so would refuse it
        os.unlink(out)
        dest.unlink()
        return Outcome(KEEP)
    size, before = os.stat(out).st_size, dest.stat().st_size
    if size >= before:
        os.unlink(out)
        dest.unlink()
        return Outcome(KEEP)
    os.replace(out, dest)
    return Outcome(STRIPPED, str(dest), size)


def _head(rootfs: Rootfs, entry: RootEntry) -> bytes:
    """The first 4 bytes, without reading a whole chunk of every large file."""
    if entry.data is not None or rootfs.image is None or entry.host_path is not None:
        return next(rootfs.chunks(entry), b"")[:4]
    with rootfs.image.fs.open(entry.source) as fh:
        return fh.read(4)


def _content_key(rootfs: Rootfs, entry: RootEntry) -> str | None:
    """The layer diff_id + path that holds an image file's bytes (no read needed); None for others."""
    if entry.source is None or entry.host_path is not None or entry.data is not None or rootfs.image is None:
        return None
    return content_key(rootfs.image, entry.source)


def _linked(outcome: Outcome, dest: Path) -> Outcome:
    """A cached stripped file linked into the workdir, so a prune meanwhile cannot take it from this build."""
    if outcome.kind != STRIPPED:
        return outcome
    try:
        os.link(outcome.path, dest)
    except OSError:
        return outcome  # another filesystem: read it where it is (pruning spares what was used this day)
    return replace(outcome, path=str(dest))


def _image_bytecode(rootfs: Rootfs, entry: RootEntry, tag: str) -> RootEntry | None:
    """The image's own `__pycache__/<mod>.<tag>.pyc` for a source entry, when it is current: a timestamp pyc
    whose recorded source mtime and size match (what CPython checks before it trusts a cache). Hash-based
    pycs are left to the compiler: checking them needs the interpreter's own hash."""
    image = rootfs.image
    if image is None or entry.source is None:
        return None
    directory, name = posixpath.split(entry.source)
    cached = posixpath.join(directory, "__pycache__", f"{name[:-3]}.{tag}.pyc")
    try:
        found = image.fs.stat(cached)
        if found is None or found.kind != FILE or found.size < 16:
            return None
        with image.fs.open(cached) as fh:
            header = fh.read(16)
    except (OSError, ValueError, KeyError):
        return None
    if header[2:4] != b"\r\n" or int.from_bytes(header[4:8], "little") != 0:
        return None
    mtime, size = int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little")
    if size != entry.size & 0xFFFFFFFF or mtime != entry.mtime & 0xFFFFFFFF:
        return None
    return RootEntry(entry.path[:-3] + ".pyc", FILE, entry.mode & 0o7777 or 0o644, found.size, source=cached,
                     mtime=entry.mtime, uid=entry.uid, gid=entry.gid)


def compile_sources(rootfs: Rootfs, version: tuple[int, ...], keep: set[str], workdir: Path,
                    report: CompactReport, *, cached_by_plain: set[str] = frozenset(), compressed: bool = False) -> None:
    """Sources -> sourceless .pyc. `cached_by_plain`: sources whose image cache the plain output ships too
    (there bytecode replaces source + cache, so it always saves). `compressed`: the output is gzip'd, so a
    module is weighed deflated (text deflates about twice as well as bytecode: a smaller .pyc can cost more)."""

    def weight(entry: RootEntry) -> int:
        if not compressed:
            return entry.size
        deflate = zlib.compressobj(6)
        return sum(len(deflate.compress(chunk)) for chunk in rootfs.chunks(entry)) + len(deflate.flush())

    tag = f"cpython-{version[0]}{version[1]}"
    todo: list[RootEntry] = []
    for entry in list(rootfs.entries.values()):
        if entry.kind != FILE or not entry.path.endswith(".py") or entry.path in keep:
            continue
        if entry.path[:-3] + ".pyc" in rootfs.entries:
            continue
        todo.append(entry)
    compiled: dict[str, RootEntry] = {}
    missing: list[RootEntry] = []
    for entry in todo:
        pyc = _image_bytecode(rootfs, entry, tag)
        if pyc is not None:
            compiled[entry.path] = pyc
            report.from_image_cache += 1
        else:
            missing.append(entry)
    if missing:
        compiled.update(_compile_on_host(rootfs, version, missing, workdir, report))
    for entry in todo:
        pyc = compiled.get(entry.path)
        if pyc is None:
            continue
        if entry.path not in cached_by_plain and (pyc.size > entry.size or weight(pyc) > weight(entry)):
            report.kept_source += 1
            continue
        rootfs.remove(entry.path)
        directory, name = posixpath.split(entry.path)
        for suffix in ("", ".opt-1", ".opt-2"):  # the closure's own cache of it: the sourceless file replaces it
            rootfs.remove(posixpath.join(directory, "__pycache__", f"{name[:-3]}.{tag}{suffix}.pyc"))
        rootfs.add(pyc)
        report.compiled += 1


def _compile_on_host(rootfs: Rootfs, version: tuple[int, ...], entries: list[RootEntry], workdir: Path,
                     report: CompactReport) -> dict[str, RootEntry]:
    python = matching_python(version)
    if python is None:
        report.notes.append(f"{len(entries)} modules have no current bytecode in the image and there is no "
                            f"Python {version[0]}.{version[1]} on this host to compile them: their sources stay")
        return {}
    jobs, sources = [], {}
    srcdir = workdir / "py"
    srcdir.mkdir(exist_ok=True)
    for entry in entries:
        n = len(jobs)
        src = srcdir / f"{n}.py"
        with open(src, "wb") as fh:
            for chunk in rootfs.chunks(entry):
                fh.write(chunk)
        jobs.append([str(src), str(srcdir / f"{n}.pyc"), entry.path])
        sources[entry.path] = (entry, srcdir / f"{n}.pyc")
    proc = subprocess.run([python, "-I", "-S", "-c", _COMPILER], input=json.dumps(jobs), capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        report.notes.append(f"bytecode compiler failed ({proc.stderr.strip()[:200]}): sources kept")
        return {}
    failed = {path for path, _ in json.loads(proc.stdout or "[]")}
    if failed:
        report.notes.append(f"{len(failed)} modules did not compile and keep their source")
    return {path: RootEntry(path[:-3] + ".pyc", FILE, entry.mode & 0o7777 or 0o644, pyc.stat().st_size,
                            host_path=str(pyc), uid=entry.uid, gid=entry.gid)
            for path, (entry, pyc) in sources.items() if path not in failed and pyc.exists()}


def shrink(rootfs: Rootfs, version: tuple[int, ...], workdir: Path, *, strip: bool, bytecode: bool,
           keep: set[str] = frozenset(), cached_by_plain: set[str] = frozenset(),
           compressed: bool = False, symbols: bool = False) -> CompactReport:
    workdir.mkdir(parents=True, exist_ok=True)
    report = CompactReport(compact=bytecode)
    if strip:
        strip_elf(rootfs, workdir, report, unneeded=symbols)
    if bytecode:
        compile_sources(rootfs, version, keep, workdir, report, cached_by_plain=cached_by_plain, compressed=compressed)
    return report
