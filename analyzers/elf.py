"""ELF facts (analyzers/elfread.py) and the dynamic loader's search, done inside the image (never ldd).

Search order follows ld.so(8): DT_RPATH (only when there is no DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH,
/etc/ld.so.conf(.d) of the image, then the default dirs. `$ORIGIN` is the directory of the object.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import struct
from dataclasses import dataclass

from faktory.analyzers.elfread import (DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME, ElfFormatError, ElfView,
                                       open_view)

ELF_MAGIC = b"\x7fELF"
DEFAULT_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")


@dataclass(frozen=True)
class ElfInfo:
    path: str
    elfclass: int
    machine: str
    etype: str  # ET_EXEC | ET_DYN | ...
    interp: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    soname: str | None

    @property
    def pie(self) -> bool:
        return self.etype == "ET_DYN"


def is_elf(head: bytes) -> bool:
    return head[:4] == ELF_MAGIC


def parse_elf(path: str, data) -> ElfInfo | None:
    """None when `data` (bytes, a seekable binary stream or an ElfView) is not a readable ELF object.

    Reads the program headers and the dynamic entries (PT_INTERP, PT_DYNAMIC); the section table only to find
    the dynamic string table.
    """
    elf = data if isinstance(data, ElfView) else open_view(data)
    if elf is None:
        return None
    try:
        interp = elf.interp()
        strings = elf.dynamic_strings()
    except (ElfFormatError, struct.error, UnicodeDecodeError, OSError):
        return None
    rpath = tuple(p for value in strings.get(DT_RPATH, ()) for p in value.split(":") if p)
    runpath = tuple(p for value in strings.get(DT_RUNPATH, ()) for p in value.split(":") if p)
    soname = strings[DT_SONAME][-1] if DT_SONAME in strings else None
    return ElfInfo(path, elf.elfclass, elf.machine, elf.etype, interp, tuple(strings.get(DT_NEEDED, ())), rpath,
                   runpath, soname)


def info_to_json(info: ElfInfo) -> list:
    return [info.path, info.elfclass, info.machine, info.etype, info.interp, list(info.needed), list(info.rpath),
            list(info.runpath), info.soname]


def info_from_json(value: list) -> ElfInfo:
    path, elfclass, machine, etype, interp, needed, rpath, runpath, soname = value
    return ElfInfo(path, elfclass, machine, etype, interp, tuple(needed), tuple(rpath), tuple(runpath), soname)


def expand_origin(entry: str, origin: str) -> str:
    entry = re.sub(r"\$(ORIGIN|\{ORIGIN\})", origin, entry)
    entry = re.sub(r"\$(LIB|\{LIB\})", "lib64", entry)
    entry = re.sub(r"\$(PLATFORM|\{PLATFORM\})", "x86_64", entry)
    return posixpath.normpath(entry) if entry.startswith("/") else entry


def ld_so_conf_dirs(listdir, read_text, conf: str = "/etc/ld.so.conf", _seen: set | None = None) -> list[str]:
    """Directories named by the image's ld.so.conf, following `include` globs."""
    seen = _seen if _seen is not None else set()
    if conf in seen:
        return []
    seen.add(conf)
    text = read_text(conf)
    if text is None:
        return []
    dirs: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include"):
            for pattern in line.split()[1:]:
                pattern = pattern if pattern.startswith("/") else posixpath.join(posixpath.dirname(conf), pattern)
                base, glob = posixpath.split(pattern)
                for name in sorted(listdir(base)):
                    if fnmatch.fnmatch(name, glob):
                        dirs.extend(ld_so_conf_dirs(listdir, read_text, posixpath.join(base, name), seen))
        elif line.startswith("/"):
            dirs.append(posixpath.normpath(line))
    return dirs
