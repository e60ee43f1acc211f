"""Native code closure: an ELF's PT_INTERP and DT_NEEDED libraries, recursively, found like ld.so would."""

from __future__ import annotations

import posixpath

from faktory.analyzers.elf import (DEFAULT_DIRS, ElfInfo, expand_origin, info_from_json, info_to_json, ld_so_conf_dirs,
                                   parse_elf)
from faktory.analyzers import libdata
from faktory.analyzers.elfread import open_view
from faktory.analyzers.graphbuild import GraphBuilder, fnode
from faktory.analyzers.scancache import FileFacts
from faktory.analyzers.strings import elf_string_names


ELF_FACT = "elf-1"  # bump when ElfInfo changes


class NativeResolver:
    def __init__(self, gb: GraphBuilder, env: dict[str, str], facts: FileFacts | None = None) -> None:
        self.gb = gb
        self.facts = facts  # ELF headers cached by content
        self._want_strings: set[str] = set()
        self._strings: dict[str, list[str] | None] = {}
        self.ld_library_path = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
        self.conf_dirs = ld_so_conf_dirs(lambda d: gb.listdir(d), self._read_text)
        self._info: dict[str, ElfInfo | None] = {}
        self._done: set[str] = set()
        self.unresolved: list[tuple[str, str]] = []  # (object, soname)

    def _read_text(self, path: str) -> str | None:
        if not self.gb.is_file(path):
            return None
        return self.gb.fs.read_bytes(path).decode("utf-8", "replace")

    def want_strings(self, path: str) -> None:
        """Mine `path`'s string tables in the same read as its headers (an extension module's)."""
        self._want_strings.add(self.gb.realpath(path))

    def strings_of(self, path: str) -> list[str] | None:
        """The names mined from `path` when its headers were read, or None (not asked, not read yet)."""
        return self._strings.pop(self.gb.realpath(path), None)

    def info(self, path: str) -> ElfInfo | None:
        real = self.gb.realpath(path)
        if real not in self._info:
            known = self.facts.get(ELF_FACT, real) if self.facts else None
            if known is not None:
                self._info[real] = info_from_json(known) if known else None
                return self._info[real]
            info = None
            entry = self.gb.fs.stat(real)
            if entry is not None and entry.is_file:
                try:
                    info = self._read(real)
                except OSError:
                    info = None
            self._info[real] = info
            if self.facts:
                self.facts.put(ELF_FACT, real, info_to_json(info) if info else [])
        return self._info[real]

    def _read(self, real: str) -> ElfInfo | None:
        """One open: the headers, and the string tables when they are wanted. Read in place from the layer, so a
        large library costs its headers, not its size."""
        with self.gb.fs.open(real) as stream:
            elf = open_view(stream)
            if elf is None:
                return None
            if real in self._want_strings:
                self._strings[real] = elf_string_names(elf)
            return parse_elf(real, elf)

    def keep_elf(self, path: str, src: str, reason: str, detail: str | None = None,
                 inherited: tuple[str, ...] = ()) -> ElfInfo | None:
        """Keep an ELF object, its loader and its DT_NEEDED closure. None if `path` is missing or not ELF.

        `inherited`: DT_RPATH dirs (already expanded) of the objects that loaded this one; ld.so searches
        them too unless the object has DT_RUNPATH (this is how manylinux `.libs/` reach nested needs).
        """
        real = self.gb.keep_path(path, src, reason, detail)
        if real is None:
            return None
        info = self.info(real)
        if info is None or real in self._done:
            return info
        self._done.add(real)
        node = fnode(real)
        libdata.keep_library_data(self.gb, real, node)
        if info.interp:
            self.keep_elf(info.interp, node, "PT_INTERP", info.interp)
        origin = posixpath.dirname(real)
        # DT_RPATH (own, then the loaders') applies only when the object has no DT_RUNPATH.
        rpath = () if info.runpath else tuple(expand_origin(d, origin) for d in info.rpath) + inherited
        for soname in info.needed:
            found = self.find_library(soname, info, origin, rpath)
            if found is None:
                self.unresolved.append((real, soname))
                continue
            self.keep_elf(found, node, "DT_NEEDED", soname, rpath)
        return info

    def search_dirs(self, info: ElfInfo | None, origin: str, rpath: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """(dir, how it was found) in ld.so's order."""
        dirs: list[tuple[str, str]] = []
        dirs += [(expand_origin(d, origin), "RPATH") for d in rpath]
        dirs += [(d, "LD_LIBRARY_PATH") for d in self.ld_library_path]
        if info is not None:
            dirs += [(expand_origin(d, origin), "RUNPATH") for d in info.runpath]
        dirs += [(d, "ld.so.conf") for d in self.conf_dirs]
        dirs += [(d, "default-dir") for d in DEFAULT_DIRS]
        return dirs

    def find_library(self, soname: str, requester: ElfInfo | None, origin: str, rpath: tuple[str, ...] = ()) -> str | None:
        if "/" in soname:
            return soname if self.gb.exists(soname) else None
        for directory, _how in self.search_dirs(requester, origin, rpath):
            if not directory.startswith("/"):
                continue
            candidate = posixpath.join(directory, soname)
            if soname not in self.gb.listdir(directory):
                continue
            found = self.info(candidate)
            if found is None:
                continue
            if requester is not None and (found.elfclass, found.machine) != (requester.elfclass, requester.machine):
                continue  # a 32-bit or foreign library of the same name: ld.so skips it too
            return candidate
        return None
