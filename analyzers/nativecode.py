"""Native code as a contributor: what an extension module imports through the C API (its string tables, cached
by content) and the shared libraries Python code loads with ctypes (`CDLL("libz.so.1")`, `find_library("z")`),
found on the loader's search path."""

from __future__ import annotations

import posixpath
from typing import Callable, Iterable

from faktory.analyzers import strings
from faktory.analyzers.finder import ModuleSpec
from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import WARNING, Finding
from faktory.analyzers.scancache import ScanCache


def mine_extension(keeper: Keeper, cache: ScanCache, content_key: str | None, name: str, spec: ModuleSpec,
                   depth: int, app: bool, stdlib: Callable[[ModuleSpec], bool] | None,
                   mined: list[str] | None = None) -> list[str]:
    """An extension imports through the C API what no source names (mypyc's `<hex>__mypyc` runtime, Cython's
    and pybind11's imports): the names its string sections hold. `stdlib` tells the stdlib's modules, the only
    ones a stdlib extension's names may keep (None: any). `mined`: the names read with its headers, if any.
    Returns the names (none when unreadable)."""
    origin = spec.origin
    key = content_key and f"elf-strings-{strings.NATIVE_FORMAT}:{content_key}"
    names = cache.get_names(key) if key else None
    fresh = names is None
    if names is None:
        names = mined
    if names is None:
        try:
            names = strings.elf_string_names(keeper.read_bytes(origin))
        except OSError:
            names = None
        if names is None and not app:
            return []
        if names is None:
            keeper.finding(Finding("unreadable-extension", f"{name} ({origin}) cannot be read as ELF: what it "
                                                           "imports from native code is unknown", WARNING, origin))
            return []
    if fresh and key:
        cache.put_names(key, names)
    strings.keep_native_names(keeper, name, origin, names, depth, spec.is_package, stdlib)
    return names


def keep_ctypes_library(keeper: Keeper, search_dirs: Iterable[str], node: str, lib: str, detail: str) -> None:
    """The first library of the name in the loader's search dirs (`lib{name}.so`, then its versioned names)."""
    candidates = [lib] if (".so" in lib or "/" in lib) else [f"lib{lib}.so", f"lib{lib}.so.1", f"lib{lib}.so.6",
                                                               f"lib{lib}.so.2", f"lib{lib}.so.0"]
    for dirname in search_dirs:
        names = keeper.listdir(dirname)
        for cand in candidates:
            if "/" in cand:
                if keeper.keep_elf(cand, node, "ctypes", detail):
                    return
                continue
            if cand in names:
                keeper.keep_elf(posixpath.join(dirname, cand), node, "ctypes", detail)
                return
        # find_library("x") matches the versioned name too (libx.so.N)
        if "/" not in lib and ".so" not in lib:
            for entry in sorted(names):
                if entry.startswith(f"lib{lib}.so."):
                    keeper.keep_elf(posixpath.join(dirname, entry), node, "ctypes", detail)
                    return
