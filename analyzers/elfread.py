"""A small ELF reader: the file header, program headers, section headers and dynamic entries, with struct.

pyelftools builds every header through construct, tens of microseconds a struct, and finding the dynamic string
table walks the whole section table; an image has hundreds of ELF objects with thousands of sections, so that was
most of a cold analysis' ELF time. This reader takes the few fields the analysis uses. `tests/test_elfread.py`
checks it against pyelftools on every ELF object of fixture images.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE

MAGIC = b"\x7fELF"
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
SHT_DYNAMIC, SHT_NOBITS = 6, 8
SHN_XINDEX = 0xFFFF
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
MAX_HEADERS = 1 << 16  # e_phnum/e_shnum are 16-bit; an extended count past this is a hostile file
MACHINE_NAMES = {v: k for k, v in ENUM_E_MACHINE.items() if not k.startswith("_")}  # pyelftools' spelling
TYPE_NAMES = {v: k for k, v in ENUM_E_TYPE.items() if not k.startswith("_")}


class ElfFormatError(ValueError):
    """Not ELF, or a header that points outside the file."""


@dataclass(frozen=True)
class Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int
    align: int


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    offset: int
    size: int
    link: int


class _Bytes:
    def __init__(self, data) -> None:
        self.data = memoryview(data)
        self.size = len(data)

    def read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise ElfFormatError("header points outside the file")
        return bytes(self.data[offset:offset + size])


class _Stream:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        stream.seek(0, 2)
        self.size = stream.tell()

    def read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise ElfFormatError("header points outside the file")
        self.stream.seek(offset)
        return self.stream.read(size)


class ElfView:
    """`data`: bytes, or a seekable binary stream (read in place: only the headers and the tables asked for)."""

    def __init__(self, data) -> None:
        self._src = _Bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else _Stream(data)
        ident = self._src.read(0, 16) if self._src.size >= 16 else b""
        if ident[:4] != MAGIC or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ElfFormatError("not an ELF object")
        self.elfclass = 32 if ident[4] == 1 else 64
        self._end = "<" if ident[5] == 1 else ">"
        word = "I" if self.elfclass == 32 else "Q"
        header = f"{self._end}HHI{word}{word}{word}IHHHHHH"
        (etype, machine, _version, _entry, self._phoff, self._shoff, _flags, _ehsize, self._phentsize,
         self._phnum, self._shentsize, self._shnum, self._shstrndx) = struct.unpack(
            header, self._src.read(16, struct.calcsize(header)))
        self.etype: str | int = TYPE_NAMES.get(etype, etype)
        self.machine: str | int = MACHINE_NAMES.get(machine, machine)
        self._segments: list[Segment] | None = None
        self._sections: list[Section] | None = None

    # ---------------------------------------------------------------------------------------------- segments

    def segments(self) -> list[Segment]:
        if self._segments is None:
            if self.elfclass == 64:
                fmt, pick = f"{self._end}IIQQQQQQ", (0, 2, 3, 5, 7)
            else:
                fmt, pick = f"{self._end}IIIIIIII", (0, 1, 2, 4, 7)
            size = struct.calcsize(fmt)
            if self._phnum and self._phentsize < size:
                raise ElfFormatError("program header entries too small")
            table = self._src.read(self._phoff, self._phnum * self._phentsize) if self._phnum else b""
            out = []
            for i in range(self._phnum):
                fields = struct.unpack_from(fmt, table, i * self._phentsize)
                out.append(Segment(*(fields[k] for k in pick)))
            self._segments = out
        return self._segments

    def interp(self) -> str | None:
        for seg in self.segments():
            if seg.type == PT_INTERP:
                return self._src.read(seg.offset, seg.filesz).split(b"\0", 1)[0].decode("utf-8")
        return None

    def dynamic(self) -> list[tuple[int, int]]:
        """(d_tag, d_val) up to DT_NULL, from PT_DYNAMIC."""
        seg = next((s for s in self.segments() if s.type == PT_DYNAMIC), None)
        if seg is None:
            return []
        fmt = f"{self._end}qQ" if self.elfclass == 64 else f"{self._end}iI"
        step = struct.calcsize(fmt)
        table = self._src.read(seg.offset, seg.filesz - seg.filesz % step)
        out = []
        for tag, value in struct.iter_unpack(fmt, table):
            if tag == DT_NULL:
                break
            out.append((tag, value))
        return out

    def file_offset(self, vaddr: int) -> int | None:
        """Where the loadable segment holding `vaddr` keeps it in the file."""
        for seg in self.segments():
            if seg.type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return vaddr - seg.vaddr + seg.offset
        return None

    def dynamic_strings(self) -> dict[int, list[str]]:
        """The string-valued dynamic entries (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) by tag, in order."""
        entries = self.dynamic()
        wanted = [(t, v) for t, v in entries if t in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH)]
        if not wanted:
            return {}
        strtab = self._dynstr_offset(entries)
        if strtab is None:
            raise ElfFormatError("dynamic string table not found")
        out: dict[int, list[str]] = {}
        for tag, value in wanted:
            out.setdefault(tag, []).append(self._cstring(strtab + value))
        return out

    def _dynstr_offset(self, entries: list[tuple[int, int]]) -> int | None:
        # As pyelftools: the section linked from the dynamic section at PT_DYNAMIC's offset, else the file offset
        # of DT_STRTAB's address (what ld.so reads; the same bytes in a well-formed file)
        at = next(s.offset for s in self.segments() if s.type == PT_DYNAMIC)
        sections = self.sections()
        dynamic = next((s for s in sections if s.type == SHT_DYNAMIC and s.offset == at), None)
        if dynamic is not None and 0 < dynamic.link < len(sections):
            return sections[dynamic.link].offset
        address = next((v for t, v in entries if t == DT_STRTAB), None)
        return None if address is None else self.file_offset(address)

    def _cstring(self, offset: int, limit: int = 4096) -> str:
        chunk = self._src.read(offset, min(limit, self._src.size - offset))
        end = chunk.find(b"\0")
        if end < 0:
            raise ElfFormatError("unterminated string")
        return chunk[:end].decode("utf-8")

    # ---------------------------------------------------------------------------------------------- sections

    def sections(self) -> list[Section]:
        if self._sections is None:
            self._sections = self._read_sections()
        return self._sections

    def _read_sections(self) -> list[Section]:
        if self._shoff == 0:
            return []
        if self.elfclass == 64:
            fmt, pick = f"{self._end}IIQQQQIIQQ", (0, 1, 4, 5, 6)
        else:
            fmt, pick = f"{self._end}IIIIIIIIII", (0, 1, 4, 5, 6)
        size = struct.calcsize(fmt)
        if self._shentsize < size:
            raise ElfFormatError("section header entries too small")
        first = struct.unpack(fmt, self._src.read(self._shoff, size))
        count = self._shnum or first[5]  # an extended count lives in section 0's sh_size
        strndx = first[6] if self._shstrndx == SHN_XINDEX else self._shstrndx
        if count > MAX_HEADERS:
            raise ElfFormatError("too many sections")
        table = self._src.read(self._shoff, count * self._shentsize)
        raw = [tuple(struct.unpack_from(fmt, table, i * self._shentsize)[k] for k in pick) for i in range(count)]
        names = b""
        if 0 < strndx < count:
            _n, _t, offset, length, _l = raw[strndx]
            names = self._src.read(offset, length)
        out = []
        for name, kind, offset, length, link in raw:
            end = names.find(b"\0", name)
            text = names[name:end if end >= 0 else len(names)].decode("utf-8", "replace") if name < len(names) else ""
            out.append(Section(text, kind, offset, length, link))
        return out

    def section_data(self, section: Section) -> bytes:
        if section.type == SHT_NOBITS:
            return b""
        return self._src.read(section.offset, section.size)

    def segment_data(self, segment: Segment) -> bytes:
        return self._src.read(segment.offset, segment.filesz)


def open_view(data) -> ElfView | None:
    try:
        return ElfView(data)
    except (ElfFormatError, struct.error):
        return None


# every non-printable byte made NUL: the runs between NULs are a string table's whole strings
_NUL_UNPRINTABLE = bytes(b if 0x20 <= b <= 0x7e else 0 for b in range(256))


def printable_runs(chunk) -> set[bytes]:
    """The distinct runs of printable ASCII in `chunk`, each bounded by non-printable bytes (NUL, a length byte)."""
    return set(bytes(chunk).translate(_NUL_UNPRINTABLE).split(b"\0"))
