"""python-magic on every kept file: its description for reports, and whether it is ELF (needs its closure)."""

from __future__ import annotations

from functools import lru_cache

import magic

from faktory.analyzers.elf import is_elf

HEAD = 4096


@lru_cache(maxsize=1)
def _magic() -> "magic.Magic":
    return magic.Magic()


def describe(fs, path: str) -> tuple[str, bool]:
    try:
        with fs.open(path) as fh:
            head = fh.read(HEAD)
    except OSError:
        return "unreadable", False
    if not head:
        return "empty", False
    try:
        text = _magic().from_buffer(head)
    except Exception:  # libmagic errors are reported, not fatal
        text = "data"
    return text, is_elf(head)
