"""Modules named by something other than an import statement: a dotted name a framework imports by string, a
whole package (`pkg.**`, a hint's `--collect`), a package's direct submodules (`pkg.*`), a glob over last names
(`_sysconfigdata_*`). Every contributor that names modules so goes through one ModuleNames."""

from __future__ import annotations

import fnmatch
import posixpath
import re

from faktory.analyzers.finder import Finder
from faktory.analyzers.keeper import Keeper

PACKAGE_TREE_LIMIT = 3000  # modules one named package may add: a guard against a string naming a whole framework


IMPORTABLE = re.compile(r"[A-Za-z0-9_][\w-]*")  # a module file name import_module can load


class ModuleNames:
    def __init__(self, keeper: Keeper, finder: Finder) -> None:
        self._keeper, self._finder = keeper, finder
        self._trees: set[str] = set()  # packages kept whole

    def keep_named(self, text: str, src: str, reason: str, detail: str, depth: int = 0) -> None:
        """A dotted name some framework imports by string: the module it names, or the module holding the
        attribute it names (`pkg.mod.Class`, `pkg.mod.Class.method`). A name that is itself a package keeps
        the whole package: an app or plugin package gets imported piece by piece (apps, models, tags, …)."""
        parts = text.split(".")
        if not parts[0].isidentifier() or self._finder.find(parts[0]) is None:
            return  # "index.html", "example.com", "v1.api": not importable, not looked at further
        for cut in range(len(parts), max(len(parts) - 3, 0), -1):
            name = ".".join(parts[:cut])
            spec = self._finder.find(name)
            if spec is None:
                continue
            if cut == len(parts) and spec.is_package:
                self.keep_package_tree(name, src, reason, detail, depth)
            else:
                self._keeper.keep_module(name, src, reason, detail, optional=True, depth=depth)
            return

    def keep_package_tree(self, package: str, src: str, reason: str, detail: str | None, depth: int = 0) -> None:
        keep = self._keeper.keep_module
        if package in self._trees:
            keep(package, src, reason, detail, optional=True, depth=depth)
            return
        self._trees.add(package)
        pending, kept = [package], 0
        while pending and kept < PACKAGE_TREE_LIMIT:
            name = pending.pop()
            keep(name, src, reason, detail, optional=True, depth=depth)
            kept += 1
            for sub in self.submodules(name):
                record = keep(sub, src, reason, detail, optional=True, depth=depth)
                kept += 1
                if record is not None and record.spec.is_package and sub not in self._trees:
                    self._trees.add(sub)
                    pending.append(sub)

    def keep_matching_modules(self, pattern: str, src: str, reason: str, depth: int = 0) -> None:
        """`_sysconfigdata_*`, `pkg.backend_*`: modules whose last name matches a glob."""
        parent, _, tail = pattern.rpartition(".")
        if parent:
            spec = self._finder.find(parent)
            locations = spec.search if spec and spec.is_package else ()
        else:
            locations = tuple(self._finder.entries)
        suffixes = tuple(self._finder.ext_suffixes) + (".py", ".pyc")
        for location in locations:
            for entry in sorted(self._keeper.listdir(location)):
                for suffix in suffixes:
                    if entry.endswith(suffix):
                        name = entry[: -len(suffix)]
                        if fnmatch.fnmatchcase(name, tail) and "." not in name:
                            self._keeper.keep_module(f"{parent}.{name}" if parent else name, src, reason,
                                                     optional=True, depth=depth)
                        break

    def keep_submodules(self, package: str, src: str, reason: str, depth: int = 0) -> None:
        spec = self._finder.find(package)
        if spec is None or not spec.is_package:
            return
        self._keeper.keep_module(package, src, reason, optional=True, depth=depth)
        for sub in self.submodules(package):
            self._keeper.keep_module(sub, src, reason, optional=True, depth=depth)

    def submodules(self, package: str) -> list[str]:
        """The direct submodules of a package the image has (files and subpackages), by dotted name."""
        spec = self._finder.find(package)
        if spec is None or not spec.is_package:
            return []
        suffixes = tuple(self._finder.ext_suffixes) + (".py", ".pyc")
        found: list[str] = []
        for location in spec.search:
            for entry in sorted(self._keeper.listdir(location)):
                if entry.startswith("__"):
                    continue
                sub = None
                for suffix in suffixes:
                    if entry.endswith(suffix):
                        sub = entry[: -len(suffix)]
                        break
                if sub is None and self._keeper.is_dir(posixpath.join(location, entry)):
                    sub = entry
                name = f"{package}.{sub}" if sub else ""
                # import_module takes any file name, not only identifiers (rich's `unicode17-0-0.py` tables)
                if sub and IMPORTABLE.fullmatch(sub) and name not in found and self._finder.find(name) is not None:
                    found.append(name)
        return found
