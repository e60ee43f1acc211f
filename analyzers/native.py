"""Native code closure: an ELF's PT_INTERP and DT_NEEDED libraries, recursively, found like ld.so would."""

from __future__ import annotations

import posixpath

from faktory.analyzers.elf import DEFAULT_DIRS, ElfInfo, expand_origin, ld_so_conf_dirs, parse_elf
from faktory.analyzers.graphbuild import GraphBuilder, fnode


SMALL_ELF = 8 << 20


class NativeResolver:
    def __init__(self, gb: GraphBuilder, env: dict[str, str]) -> None:
        self.gb = gb
        self.ld_library_path = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
        self.conf_dirs = ld_so_conf_dirs(lambda d: gb.listdir(d), self._read_text)
        self._info: dict[str, ElfInfo | None] = {}
        self._done: set[str] = set()
        self.unresolved: list[tuple[str, str]] = []  # (object, soname)

    def _read_text(self, path: str) -> str | None:
        if not self.gb.is_file(path):
            return None
        return self.gb.fs.read_bytes(path).decode("utf-8", "replace")

    def info(self, path: str) -> ElfInfo | None:
        real = self.gb.realpath(path)
        if real not in self._info:
            info = None
            entry = self.gb.fs.stat(real)
            if entry is not None and entry.is_file:
                try:
                    if entry.size <= SMALL_ELF:  # pyelftools reads in small pieces: cheaper from memory
                        info = parse_elf(real, self.gb.fs.read_bytes(real))
                    else:
                        with self.gb.fs.open(real) as stream:
                            info = parse_elf(real, stream)
                except OSError:
                    info = None
            self._info[real] = info
        return self._info[real]

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
