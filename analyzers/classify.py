"""python-magic on every kept file: its description for reports, and whether it is ELF (needs its closure)."""

from __future__ import annotations

import sys
import threading

import magic

from faktory.analyzers.elf import is_elf
from faktory.analyzers.graphbuild import fnode

HEAD = 4096


_local = threading.local()


def _magic() -> "magic.Magic":
    """One libmagic handle per thread: a handle is not safe to share (the service analyzes in workers)."""
    handle = getattr(_local, "magic", None)
    if handle is None:
        handle = _local.magic = magic.Magic()
    return handle


def describe(fs, path: str) -> tuple[str, bool]:
    try:
        with fs.open(path) as fh:
            head = fh.read(HEAD)
    except OSError:
        return "unreadable", False
    if not head:
        return "empty", False
    # libmagic costs ~1 ms a call; the two commonest kinds are told by their headers just as surely.
    if path.endswith(".pyc") and len(head) >= 16 and head[2:4] == b"\r\n":
        return "python byte-compiled", False
    if path.endswith(".py") and not is_elf(head) and b"\x00" not in head:
        return "Python script text", False
    try:
        text = _magic().from_buffer(head)
    except Exception:  # libmagic errors are reported, not fatal
        text = "data"
    return sys.intern(text), is_elf(head)  # a few dozen descriptions, one string each, however many files


def classify_until_stable(gb, keep_elf) -> None:
    """Every kept file gets its magic; ELF files kept as plain files get their own DT_NEEDED closure."""
    done: set[str] = set()
    while True:
        todo = [p for p in gb.kept_files() if p not in done]
        if not todo:
            return
        for path in todo:
            done.add(path)
            magic_text, elf = describe(gb.fs, path)
            gb.graph.nodes[fnode(path)]["magic"] = magic_text
            if elf:
                keep_elf(path, fnode(path), "ELF")
