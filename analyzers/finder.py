"""Module resolution as CPython's PathFinder/FileFinder do it, over the image's files.

Per sys.path entry: a package dir with `__init__` (extension, .py, .pyc — the loaders' order), then
`name<ext-suffix>`, `name.py`, `name.pyc`; a dir without `__init__` is a namespace portion and the search
goes on. Zip files on sys.path are searched by their member names.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from dataclasses import dataclass

from faktory.analyzers.graphbuild import GraphBuilder


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    kind: str  # "extension" | "source" | "bytecode" | "namespace" | "zip"
    origin: str | None  # the file to load (None for namespace packages)
    is_package: bool
    search: tuple[str, ...] = ()  # submodule search locations
    cached: str | None = None  # __pycache__ file the interpreter would read
    zip_member: str | None = None  # member inside `origin` when kind == "zip"


class Finder:
    def __init__(self, gb: GraphBuilder, entries: list[str], abi_tag: str, cache_tag: str, optimize: int = 0) -> None:
        self.gb = gb
        self.entries = list(entries)
        self.ext_suffixes = [f".{abi_tag}.so", ".abi3.so", ".so"]
        self._suffixes = (*self.ext_suffixes, ".py", ".pyc")
        self._stems_of: dict[str, frozenset[str]] = {}
        self.cache_tag = cache_tag
        self.opt = "" if optimize == 0 else f".opt-{optimize}"
        self._specs: dict[str, ModuleSpec | None] = {}
        self._zips: dict[str, frozenset[str] | None] = {}
        self._zip_of: dict[str, tuple[str | None, str]] = {}
        # Files named exactly like a module (console scripts next to a script on sys.path[0]): FileFinder
        # stats them while looking for a package dir, so the interpreter touches them.
        self.probed: set[str] = set()

    def add_entry(self, path: str) -> bool:
        """A directory appended to sys.path at run time (by a library's import): names not found before may
        be found now, so the misses are forgotten."""
        if path in self.entries or not self.gb.is_dir(path):
            return False
        self.entries.append(path)
        self._specs = {name: spec for name, spec in self._specs.items() if spec is not None}
        return True

    def find(self, name: str) -> ModuleSpec | None:
        if name in self._specs:
            return self._specs[name]
        self._specs[name] = None  # guards recursion on odd names
        parent, _, tail = name.rpartition(".")
        if parent:
            pspec = self.find(parent)
            locations = pspec.search if pspec and pspec.is_package else ()
        else:
            locations = tuple(self.entries)
        spec = self._search(name, tail, locations) if tail else None
        self._specs[name] = spec
        return spec

    def _search(self, fullname: str, tail: str, locations) -> ModuleSpec | None:
        portions: list[str] = []
        for entry in locations:
            names = self.gb.listdir(entry)
            if not names:
                if self._split_zip(entry)[0]:
                    spec = self._search_zip(fullname, tail, entry)
                    if spec:
                        return spec
                continue
            if tail not in self._stems(entry, names):
                continue  # the common miss (most names probed are not modules), without building a path
            base = posixpath.join(entry, tail)
            if tail in names and self.gb.is_dir(base):
                inner = self.gb.listdir(base)
                for suffix, kind in self._loaders():
                    init = "__init__" + suffix
                    if init in inner and self.gb.is_file(posixpath.join(base, init)):
                        origin = posixpath.join(base, init)
                        return ModuleSpec(fullname, kind, origin, True, (base,), self._cached(origin, kind))
                portions.append(base)
            elif tail in names:
                self.probed.add(base)
            for suffix, kind in self._loaders():
                if tail + suffix in names:
                    origin = posixpath.join(entry, tail + suffix)
                    if self.gb.is_file(origin):
                        return ModuleSpec(fullname, kind, origin, False, (), self._cached(origin, kind))
        if portions:
            return ModuleSpec(fullname, "namespace", None, True, tuple(portions))
        return None

    def _stems(self, entry: str, names) -> frozenset[str]:
        """A directory's names, and its module files' names without their suffixes."""
        stems = self._stems_of.get(entry)
        if stems is None:
            found = set(names)
            for name in names:
                for suffix in self._suffixes:
                    if name.endswith(suffix):
                        found.add(name[:-len(suffix)])
            stems = self._stems_of[entry] = frozenset(found)
        return stems

    def _loaders(self):
        for suffix in self.ext_suffixes:
            yield suffix, "extension"
        yield ".py", "source"
        yield ".pyc", "bytecode"

    def _cached(self, origin: str, kind: str) -> str | None:
        if kind != "source":
            return None
        directory, filename = posixpath.split(origin)
        cached = posixpath.join(directory, "__pycache__", f"{filename[:-3]}.{self.cache_tag}{self.opt}.pyc")
        return cached if posixpath.basename(cached) in self.gb.listdir(posixpath.dirname(cached)) else None

    def _zip_names(self, path: str) -> frozenset[str] | None:
        if path not in self._zips:
            try:
                with zipfile.ZipFile(io.BytesIO(self.gb.fs.read_bytes(path))) as zf:
                    self._zips[path] = frozenset(zf.namelist())
            except (zipfile.BadZipFile, OSError, ValueError):
                self._zips[path] = None
        return self._zips[path]

    def _search_zip(self, fullname: str, tail: str, entry: str) -> ModuleSpec | None:
        zip_path, inner = self._split_zip(entry)
        names = self._zip_names(zip_path) if zip_path else None
        if not names:
            return None
        prefix = f"{inner}/" if inner else ""
        for suffix in ("/__init__.py", "/__init__.pyc", ".py", ".pyc"):
            member = prefix + tail + suffix
            if member in names:
                package = suffix.startswith("/")
                search = (posixpath.join(entry, tail),) if package else ()
                return ModuleSpec(fullname, "zip", zip_path, package, search, None, member)
        return None

    def _split_zip(self, entry: str) -> tuple[str | None, str]:
        """`/x/app.zip/pkg` -> (`/x/app.zip`, `pkg`)."""
        if entry not in self._zip_of:
            self._zip_of[entry] = self._split_zip_uncached(entry)
        return self._zip_of[entry]

    def _split_zip_uncached(self, entry: str) -> tuple[str | None, str]:
        path = entry
        inner: list[str] = []
        while path not in ("/", ""):
            if self.gb.is_file(path):
                return (path, "/".join(reversed(inner))) if self._zip_names(path) else (None, "")
            path, tail = posixpath.split(path)
            inner.append(tail)
        return None, ""

    def read_source(self, spec: ModuleSpec) -> bytes | None:
        if spec.kind == "source" and spec.origin:
            return self.gb.fs.read_bytes(spec.origin)
        if spec.kind == "zip" and spec.origin and spec.zip_member and spec.zip_member.endswith(".py"):
            with zipfile.ZipFile(io.BytesIO(self.gb.fs.read_bytes(spec.origin))) as zf:
                return zf.read(spec.zip_member)
        return None
