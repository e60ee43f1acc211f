"""A description of every kept file for reports, and whether it is ELF (needs its closure).

The first bytes name most files as surely as libmagic does (ELF, bytecode, `#!` scripts, text), at a
fraction of its ~1 ms a call; libmagic (python-magic) describes the rest.
"""

from __future__ import annotations

import posixpath
import sys
import threading

import magic

from faktory.analyzers.elf import is_elf
from faktory.analyzers.graphbuild import fnode

HEAD = 4096
FACT = "magic-2"  # the scan cache's name for a description: bump when sniff() changes

_local = threading.local()

ELF_TYPES = {1: "relocatable", 2: "executable", 3: "shared object", 4: "core file"}
ELF_MACHINES = {3: "Intel 80386", 40: "ARM", 62: "x86-64", 183: "ARM aarch64", 243: "RISC-V"}
# bytes that never occur in text: NUL and the C0 controls other than \t \n \v \f \r and ESC
_BINARY = bytes(set(range(32)) - {9, 10, 11, 12, 13, 27})


def _magic() -> "magic.Magic":
    """One libmagic handle per thread: a handle is not safe to share (the service analyzes in workers)."""
    handle = getattr(_local, "magic", None)
    if handle is None:
        handle = _local.magic = magic.Magic()
    return handle


def _elf(head: bytes) -> str:
    if len(head) < 20 or head[4] not in (1, 2) or head[5] not in (1, 2):
        return "ELF, unreadable header"
    order = "little" if head[5] == 1 else "big"
    kind = ELF_TYPES.get(int.from_bytes(head[16:18], order), "unknown type")
    machine = int.from_bytes(head[18:20], order)
    return (f"ELF {32 * head[4]}-bit {'LSB' if order == 'little' else 'MSB'} {kind}, "
            f"{ELF_MACHINES.get(machine, f'machine {machine}')}")


def _is_text(head: bytes) -> bool:
    if head.translate(None, _BINARY) != head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut by the HEAD boundary is still text
        return exc.start >= len(head) - 3 and len(head) == HEAD
    return True


def sniff(path: str, head: bytes) -> str | None:
    """The description the first bytes make certain, or None (ask libmagic)."""
    if is_elf(head):
        return _elf(head)
    if head.startswith(b"TZif") and len(head) >= 44:  # tzdata: a thousand or more in most images
        version = head[4:5].decode("ascii", "replace") if head[4:5] != b"\0" else "1"
        return f"timezone data, version {version}"
    if path.endswith(".pyc") and len(head) >= 16 and head[2:4] == b"\r\n":
        return "python byte-compiled"
    if head.startswith(b"#!") and _is_text(head):
        words = head[2:].split(b"\n", 1)[0].split()
        program = posixpath.basename(words[-1] if words and words[0].endswith(b"/env") else
                                     (words[0] if words else b"")).decode("utf-8", "replace")
        return f"{program or 'a'} script, text executable"
    if path.endswith(".py") and b"\x00" not in head:
        return "Python script text"
    if _is_text(head):
        return "ASCII text" if head.isascii() else "UTF-8 text"
    return None


def describe(fs, path: str) -> tuple[str, bool]:
    try:
        with fs.open(path) as fh:
            head = fh.read(HEAD)
    except OSError:
        return "unreadable", False
    if not head:
        return "empty", False
    text = sniff(path, head)
    if text is None:
        try:
            text = _magic().from_buffer(head)
        except Exception:  # libmagic errors are reported, not fatal
            text = "data"
    return sys.intern(text), is_elf(head)  # a few dozen descriptions, one string each, however many files


def classify_until_stable(gb, keep_elf, facts=None) -> None:
    """Every kept file gets its magic; ELF files kept as plain files get their own DT_NEEDED closure.
    `facts` (scancache.FileFacts): descriptions cached by content."""
    done: set[str] = set()
    while True:
        todo = [p for p in gb.kept_files() if p not in done]
        if not todo:
            return
        for path in todo:
            done.add(path)
            known = facts.get(FACT, path) if facts is not None else None
            if known:
                magic_text, elf = sys.intern(known[0]), known[1]  # one string per description, as describe's
            else:
                magic_text, elf = describe(gb.fs, path)
                if facts is not None and magic_text != "unreadable":
                    facts.put(FACT, path, [magic_text, elf])
            gb.graph.nodes[fnode(path)]["magic"] = magic_text
            if elf:
                keep_elf(path, fnode(path), "ELF")
