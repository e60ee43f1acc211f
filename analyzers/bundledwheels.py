"""Wheels a kept package ships as data and installs as it runs (virtualenv's seed wheels, ensurepip's bundled
pip): their code runs later on the image's own interpreter, which must then have the stdlib modules it imports.

Read statically from the zip, bounded in members and bytes; nothing in it is run. Only the stdlib modules count:
what a wheel imports from itself or from other wheels is installed with them.
"""

from __future__ import annotations

import io
import zipfile
from typing import Callable

from faktory.analyzers.imports import scan_source
from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import INFO, Finding
from faktory.analyzers.scancache import ScanCache

WHEEL_FORMAT = 1  # part of the cache key
MAX_WHEEL_BYTES = 64 << 20
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 2 << 20
REASON = "bundled-wheel-import"


def wheel_imports(data: bytes) -> list[str]:
    """"module<TAB>member:line" for each absolute import of the wheel's Python files, first place only."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [i for i in zf.infolist()[:MAX_MEMBERS]
                   if i.filename.endswith(".py") and i.file_size <= MAX_MEMBER_BYTES]
        for info in members:
            for ref in scan_source(zf.read(info)).imports:
                if ref.level or not ref.module:
                    continue
                where = f"{info.filename}:{ref.lineno}"
                found.setdefault(ref.module, where)
                for attr in ref.names:
                    if attr != "*":
                        found.setdefault(f"{ref.module}.{attr}", where)
    return [f"{module}\t{where}" for module, where in found.items()]


def keep_wheel_stdlib_imports(keeper: Keeper, cache: ScanCache, content_key: str | None, path: str, size: int,
                              node: str, is_stdlib: Callable[[str], bool]) -> None:
    """`size`: the wheel's, from its stat: one too big is said, not read."""
    key = content_key and f"wheel-imports-{WHEEL_FORMAT}:{content_key}"
    items = cache.get_names(key) if key else None
    if items is None:
        try:
            if size > MAX_WHEEL_BYTES:
                raise ValueError(f"over {MAX_WHEEL_BYTES >> 20} MiB")
            items = wheel_imports(keeper.read_bytes(path))
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
            keeper.finding(Finding("unreadable-wheel", f"{path}: the wheel cannot be read ({exc}): the stdlib "
                                   "modules its code imports once installed are unknown", INFO, path))
            return
        if key:
            cache.put_names(key, items)
    for item in items:
        module, _, where = item.partition("\t")
        if is_stdlib(module):
            keeper.keep_module(module, node, REASON, f"{path}!{where}", optional=True, depth=1)
