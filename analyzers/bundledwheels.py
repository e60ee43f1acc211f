"""Zips whose code runs later on the image's own interpreter, which must then have the stdlib modules it imports:
- wheels a kept package ships as data and installs as it runs (virtualenv's seed wheels, ensurepip's bundled pip);
- a zip application that unpacks itself (shiv, pex: `python app.pyz` runs a bootstrap that extracts the
  archive's `site-packages/` and imports from there, so no sys.path entry shows that code to the import follower).

Read statically from the zip, bounded in members and bytes; nothing in it is run. Only the stdlib modules count:
what the archive's code imports from itself is in the archive, kept whole.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Callable

from faktory.analyzers.elf import parse_elf
from faktory.analyzers.elfread import open_view
from faktory.analyzers.imports import scan_source
from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import INFO, Finding
from faktory.analyzers.scancache import ScanCache
from faktory.analyzers.strings import elf_string_names

WHEEL_FORMAT = 3  # part of the cache key
MAX_WHEEL_BYTES = 4 << 30  # read member by member, each bounded: the size only bounds the time
MAX_MEMBERS = 100_000  # a zipapp of botocore holds ~5,000; past this the archive is not read (a finding)
MAX_MEMBER_BYTES = 2 << 20
MAX_NATIVE_MEMBER_BYTES = 32 << 20
# items naming a needed library or a program started by a literal name, not a module (no module name has a colon)
LIBRARY, PROGRAM = "lib:", "program:"
REASON = "bundled-wheel-import"
ZIPAPP_REASON = "zipapp-import"  # the app is a zip that unpacks itself


@dataclass(frozen=True)
class Unpacked:
    """What the image gives an archive's code once it is unpacked."""
    is_stdlib: Callable[[str], bool]
    keep_library: Callable[[str, str], None]  # (soname, where): found as ld.so would
    # (program, where): the programs it starts, when the archive is the app; a library's are only a finding
    keep_program: Callable[[str, str], None] | None
    reason: str
    open: Callable[[str], BinaryIO]  # the image's file, seekable
    unread_severity: str = INFO  # a zipapp's unread code is the app's own: a WARNING


def is_zip_archive(fs, path: str) -> bool:
    """A zip by its end record, as zipfile and zipimport find it: a zipapp may start with a `#!` line."""
    try:
        with fs.open(path) as fh:
            return zipfile.is_zipfile(fh)
    except (OSError, ValueError):
        return False


def archive_imports(archive: BinaryIO) -> list[str]:
    """"module<TAB>member:line" for each absolute import of the archive's Python files, and for each name the
    string tables of its extension modules hold (the C API imports: mypyc, Cython); "lib:soname<TAB>member" for
    each library they need that the archive does not carry (its manylinux `.libs/`); "program:name<TAB>member:line"
    for a program its code starts by a literal name. First place only."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(archive) as zf:  # read member by member: the archive is never held whole
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"over {MAX_MEMBERS} members")
        carried = {posixpath.basename(i.filename) for i in infos}
        for info in infos:
            if info.filename.endswith(".py") and info.file_size <= MAX_MEMBER_BYTES:
                _add_source_imports(found, zf.read(info), info.filename)
            elif _is_native(info.filename) and info.file_size <= MAX_NATIVE_MEMBER_BYTES:
                _add_native_needs(found, zf.read(info), info.filename, carried)
    return [f"{name}\t{where}" for name, where in found.items()]


def _is_native(name: str) -> bool:
    base = posixpath.basename(name)
    return base.endswith(".so") or ".so." in base


def _add_source_imports(found: dict[str, str], source: bytes, member: str) -> None:
    scan = scan_source(source)
    for program, lineno in scan.programs:
        found.setdefault(f"{PROGRAM}{program}", f"{member}:{lineno}")
    for ref in scan.imports:
        if ref.level or not ref.module:
            continue
        where = f"{member}:{ref.lineno}"
        found.setdefault(ref.module, where)
        for attr in ref.names:
            if attr != "*":
                found.setdefault(f"{ref.module}.{attr}", where)


def _add_native_needs(found: dict[str, str], data: bytes, member: str, carried: set[str]) -> None:
    elf = open_view(data)
    info = parse_elf(member, elf) if elf is not None else None
    if info is None:
        return
    for soname in info.needed:
        if soname not in carried and "/" not in soname:
            found.setdefault(f"{LIBRARY}{soname}", member)
    for name in elf_string_names(elf) or ():
        found.setdefault(name, f"{member} (native code)")


def keep_archive_stdlib_imports(keeper: Keeper, cache: ScanCache, content_key: str | None, path: str, size: int,
                                node: str, needs: Unpacked) -> None:
    """`size`: the archive's, from its stat: one too big is said, not read."""
    key = content_key and f"wheel-imports-{WHEEL_FORMAT}:{content_key}"
    items = cache.get_names(key) if key else None
    if items is None:
        try:
            if size > MAX_WHEEL_BYTES:
                raise ValueError(f"over {MAX_WHEEL_BYTES >> 30} GiB")
            with needs.open(path) as archive:
                items = archive_imports(archive)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
            keeper.finding(Finding("unreadable-wheel", f"{path}: the zip cannot be read ({exc}): what its code "
                                   "needs once unpacked is unknown", needs.unread_severity, path))
            return
        if key:
            cache.put_names(key, items)
    for item in items:
        name, _, where = item.partition("\t")
        if name.startswith(LIBRARY):
            needs.keep_library(name[len(LIBRARY):], f"{path}!{where}")
        elif name.startswith(PROGRAM):
            if needs.keep_program is not None:
                needs.keep_program(name[len(PROGRAM):], f"{path}!{where}")
        elif needs.is_stdlib(name):
            keeper.keep_module(name, node, needs.reason, f"{path}!{where}", optional=True, depth=1)
