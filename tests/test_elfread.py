"""The struct ELF reader against pyelftools, the reference, on real ELF objects: the host's libraries and programs,
every ELF object of a fixture image (auditwheel-patched wheels, mypyc and Cython extensions), and broken files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from faktory.analyzers.elf import parse_elf
from faktory.analyzers.elfread import ElfView, open_view
from faktory.analyzers.strings import (MAX_PACKED_RUN, NATIVE_NAME, NATIVE_SECTIONS, PACKED, PACKED_RUN, _is_name,
                                      elf_string_names)

HOST_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/bin", "/usr/sbin", "/usr/lib/python3/dist-packages")


def reference_info(data: bytes):
    """What the analysis read with pyelftools before the struct reader: (class, machine, type, interp, needed,
    rpath, runpath, soname), or None."""
    try:
        elf = ELFFile(io.BytesIO(data))
        interp, needed, rpath, runpath, soname = None, [], [], [], None
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_INTERP":
                interp = seg.get_interp_name()
            elif seg["p_type"] == "PT_DYNAMIC":
                for tag in seg.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif tag.entry.d_tag == "DT_RPATH":
                        rpath.extend(p for p in tag.rpath.split(":") if p)
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        runpath.extend(p for p in tag.runpath.split(":") if p)
                    elif tag.entry.d_tag == "DT_SONAME":
                        soname = tag.soname
        return (elf.elfclass, elf["e_machine"], elf["e_type"], interp, tuple(needed), tuple(rpath), tuple(runpath),
                soname)
    except (ELFError, ValueError, KeyError, AttributeError, IndexError, UnicodeDecodeError, OSError):
        return None


def reference_names(data: bytes):
    try:
        elf = ELFFile(io.BytesIO(data))
        chunks = []
        for section in elf.iter_sections():
            if section["sh_type"] == "SHT_NOBITS":
                continue
            if section.name in NATIVE_SECTIONS or section.name.startswith(".rodata."):
                chunks.append((section.data(), True))
            elif section.name == ".dynstr":
                chunks.append((section.data(), False))
        if not chunks:
            chunks = [(seg.data(), True) for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
    except (ELFError, ValueError, KeyError, AttributeError, IndexError, OSError):
        return None
    names = set()
    for chunk, bare in chunks:
        for m in NATIVE_NAME.finditer(chunk):
            text = m.group(1).decode("ascii")
            if ("." in text or (bare and len(text) > 1)) and _is_name(text):
                names.add(text)
        if bare:  # runs of packed literals (Rust), marked
            names.update(PACKED + m.group().decode("ascii") for m in PACKED_RUN.finditer(chunk)
                         if len(m.group()) <= MAX_PACKED_RUN)
    return sorted(names)


def _info_tuple(info):
    return None if info is None else (info.elfclass, info.machine, info.etype, info.interp, info.needed, info.rpath,
                                      info.runpath, info.soname)


def _host_elves(limit: int = 400) -> list[Path]:
    found = []
    for top in HOST_DIRS:
        for root, _dirs, files in os.walk(top):
            for name in sorted(files):
                path = Path(root, name)
                if path.is_symlink() or not path.is_file():
                    continue
                with open(path, "rb") as fh:
                    if fh.read(4) == b"\x7fELF":
                        found.append(path)
                if len(found) >= limit:
                    return found
    return found


def _assert_same(label: str, data: bytes, strings: bool = True) -> None:
    assert _info_tuple(parse_elf(label, data)) == reference_info(data), label
    assert _info_tuple(parse_elf(label, io.BytesIO(data))) == reference_info(data), label  # the stream view
    if strings:
        assert elf_string_names(data) == reference_names(data), label


def test_host_objects_read_the_same_as_pyelftools():
    elves = _host_elves()
    assert len(elves) > 100  # libc, python3, coreutils: the machine has them
    for path in elves:
        _assert_same(str(path), path.read_bytes(), strings=path.stat().st_size < 4 << 20)


def test_every_elf_object_of_a_fixture_image_reads_the_same(fixture_images):
    from faktory import api

    image = api.load_image(fixture_images["black"].tag)  # mypyc extensions, manylinux libraries
    seen = 0
    for entry in image.fs.walk("/usr/local/lib"):
        if not entry.is_file or entry.size < 64:
            continue
        data = image.fs.read_bytes(entry.path)
        if data[:4] != b"\x7fELF":
            continue
        seen += 1
        _assert_same(entry.path, data, strings=entry.path.endswith(".so"))
    assert seen > 20


@pytest.mark.parametrize("cut", [4, 16, 40, 64, 200, 1000])
def test_a_truncated_object_is_no_elf_not_an_error(cut):
    data = Path("/bin/true").read_bytes()[:cut]
    assert parse_elf("t", data) is None
    assert elf_string_names(data) is None or elf_string_names(data) == []
    assert reference_info(data) is None


def test_headers_pointing_outside_the_file_are_refused():
    data = bytearray(Path("/bin/true").read_bytes())
    data[0x20:0x28] = (len(data) + 4096).to_bytes(8, "little")  # e_phoff past the end
    assert parse_elf("t", bytes(data)) is None
    assert open_view(b"not elf at all") is None
    assert isinstance(open_view(Path("/bin/true").read_bytes()), ElfView)


def test_mutated_headers_never_raise():
    """Image contents are untrusted: any byte of the headers may lie. Each mutant reads as an object or as
    none, never an exception, and agrees with pyelftools whenever pyelftools reads it too."""
    import random

    original = Path("/bin/true").read_bytes()
    shoff = int.from_bytes(original[0x28:0x30], "little")
    spans = [(0, 64 + 56 * 16), (shoff, len(original))]  # file and program headers; the section table
    rng = random.Random(7)
    agreed = 0
    for _ in range(400):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            start, end = rng.choice(spans)
            data[rng.randrange(start, end)] = rng.randrange(256)
        mutant = bytes(data)
        info = parse_elf("m", mutant)  # must not raise
        elf_string_names(mutant)
        if info is not None and reference_info(mutant) is not None:
            assert _info_tuple(info)[:3] == reference_info(mutant)[:3]
            agreed += 1
    assert agreed > 50  # most single-byte lies still read
