"""A PyInstaller hook's rules evaluated against the image's files, through a narrow keeper (as PyInstaller
gives its hooks a PostGraphAPI, not the module graph): `collect_submodules("x")` is every module of x the
image has, `collect_data_files("x")` the non-code files of x's tree in the image, `copy_metadata("d")` d's
dist-info in the image, `collect_dynamic_libs("x")` the `lib*.so` files inside x, and the mypyc runtime of a
distribution the module its RECORD lists.
"""

from __future__ import annotations

import posixpath
from typing import Protocol

from faktory.analyzers.globs import glob_regex
from faktory.analyzers.dists import REQUIRES
from faktory.distinfo import canonical_name
from faktory.analyzers.hookrules import DataFiles, Metadata, Submodules, filter_predicate
from faktory.analyzers.hooks import Hook

TREE_LIMIT = 3000  # modules one filtered collection may add
# collect_data_files leaves out what the import system loads (importlib.machinery.all_suffixes()) and caches
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".so")
# ... and faktory leaves out build-time files PyInstaller would copy: stubs, C sources, gettext sources
BUILD_ONLY = (".pyi", ".pxd", ".pyx", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp", ".a", ".o", ".po", ".pot")


class Keeper(Protocol):
    """What hook rules may ask and keep; the analysis provides it."""

    def find_package_dirs(self, name: str) -> tuple[str, ...] | None: ...  # None: not a package of the image
    def submodules(self, package: str) -> list[str]: ...
    def keep_module(self, name: str, src: str, reason: str, detail: str, depth: int) -> bool: ...  # a package?
    def keep_file(self, path: str, src: str, reason: str, detail: str) -> None: ...
    def keep_elf(self, path: str, src: str, reason: str, detail: str) -> None: ...
    def listdir(self, path: str) -> frozenset[str]: ...
    def is_dir(self, path: str) -> bool: ...
    def realpath(self, path: str) -> str: ...
    def read_text(self, path: str) -> str | None: ...
    def dist_meta(self, dist: str) -> str | None: ...
    def dist_modules(self, dist: str) -> list[str]: ...  # dotted names of the modules its RECORD lists


def apply_rules(hook: Hook, keeper: Keeper, node: str, reason: str, depth: int = 0) -> None:
    for rule in hook.submodules:
        keep_filtered_tree(rule, keeper, node, reason, hook.where(rule), depth)
    for rule in hook.package_datas:
        keep_data_files(rule, keeper, node, reason, hook.where(rule))
    for rule in hook.metadata:
        keep_metadata(rule, keeper, node, reason, hook.where(rule))
    for package in hook.dynamic_libs:
        keep_dynamic_libs(package, keeper, node, reason, hook.where(f"dynamic_libs:{package}"))
    for dist in hook.mypyc_dists:
        detail = hook.where(f"mypyc:{dist}")
        for name in keeper.dist_modules(dist):
            if "__mypyc" in name.rpartition(".")[2]:
                keeper.keep_module(name, node, reason, detail, depth)


def keep_filtered_tree(rule: Submodules, keeper: Keeper, node: str, reason: str, detail: str, depth: int) -> None:
    """The package and its modules the filter accepts; a package it rejects is not walked into (PyInstaller)."""
    accept = filter_predicate(rule.filter)
    if not accept(rule.package):
        return
    pending, kept = [rule.package], 0
    while pending and kept < TREE_LIMIT:
        name = pending.pop()
        keeper.keep_module(name, node, reason, detail, depth)
        kept += 1
        for sub in keeper.submodules(name):
            if accept(sub):
                kept += 1
                if keeper.keep_module(sub, node, reason, detail, depth):
                    pending.append(sub)


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    """rel, or a directory above it, matches one of the patterns (a matched directory takes its contents)."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(glob_regex(p).match(prefix) for p in patterns for prefix in prefixes)


def _walk(keeper: Keeper, top: str):
    """(path, path relative to top) of the files below `top`; a symlinked dir is walked once, so a link back up
    (`loop -> .`) in an image ends the walk instead of recursing for ever."""
    stack, seen = [(top, "")], set()
    while stack:
        here, rel = stack.pop()
        real = keeper.realpath(here)
        if real in seen:
            continue
        seen.add(real)
        for name in sorted(keeper.listdir(here), reverse=True):
            path, sub = posixpath.join(here, name), f"{rel}/{name}" if rel else name
            if keeper.is_dir(path):
                stack.append((path, sub))
            else:
                yield path, sub


def keep_data_files(rule: DataFiles, keeper: Keeper, node: str, reason: str, detail: str) -> None:
    for base in keeper.find_package_dirs(rule.package) or ():
        top = posixpath.normpath(posixpath.join(base, rule.subdir)) if rule.subdir else base
        if not keeper.is_dir(top):
            if rule.subdir and posixpath.basename(top) in keeper.listdir(posixpath.dirname(top)):
                keeper.keep_file(top, node, reason, detail)  # a single file named by a package path
            continue
        for path, rel in _walk(keeper, top):
            name = rel.rpartition("/")[2]
            if "__pycache__" in rel.split("/") or name.endswith((".pyc", ".pyo")):
                continue
            if name.endswith(BUILD_ONLY) or (name.endswith(CODE_SUFFIXES) and
                                              not (rule.include_py_files and name.endswith(".py"))):
                continue
            if rule.includes and not _matches(rel, rule.includes):
                continue
            if rule.excludes and _matches(rel, rule.excludes):
                continue
            keeper.keep_file(path, node, reason, detail)


def keep_metadata(rule: Metadata, keeper: Keeper, node: str, reason: str, detail: str,
                  seen: set[str] | None = None) -> None:
    seen = set() if seen is None else seen
    dist = canonical_name(rule.dist)
    if dist in seen:
        return
    seen.add(dist)
    meta = keeper.dist_meta(dist)
    if meta is None:
        return
    keeper.keep_file(meta, node, reason, detail)
    if not rule.recursive:
        return
    text = keeper.read_text(posixpath.join(meta, "METADATA")) or keeper.read_text(posixpath.join(meta, "PKG-INFO"))
    for m in REQUIRES.finditer(text or ""):
        if m.group(3) and "extra" in m.group(3):
            continue  # an optional extra: not what the distribution needs
        keep_metadata(Metadata(m.group(1), True), keeper, node, reason, detail, seen)


def keep_dynamic_libs(package: str, keeper: Keeper, node: str, reason: str, detail: str) -> None:
    for base in keeper.find_package_dirs(package) or ():
        for path, rel in _walk(keeper, base):
            name = rel.rpartition("/")[2]
            if name.startswith("lib") and (name.endswith(".so") or ".so." in name) and ".cpython-" not in name \
                    and not name.endswith(".abi3.so"):
                keeper.keep_elf(path, node, reason, detail)


class ImageKeeper:
    """The Keeper over one analysis: its graph, finder, distribution index and module keeper."""

    def __init__(self, gb, finder, dists, site_dirs, keep_module, keep_elf, submodules) -> None:
        self.gb, self.finder, self.dists, self.site_dirs = gb, finder, dists, site_dirs
        self._keep_module, self._keep_elf, self.submodules = keep_module, keep_elf, submodules

    def find_package_dirs(self, name: str) -> tuple[str, ...] | None:
        spec = self.finder.find(name)
        return tuple(spec.search) if spec is not None and spec.is_package and spec.kind != "zip" else None

    def keep_module(self, name: str, src: str, reason: str, detail: str, depth: int) -> bool:
        record = self._keep_module(name, src, reason, detail, optional=True, depth=depth)
        return bool(record is not None and record.spec.is_package)

    def keep_file(self, path: str, src: str, reason: str, detail: str) -> None:
        self.gb.keep_path(path, src, reason, detail)  # first: its edge carries the hook file and line
        if self.gb.is_dir(path):
            self.gb.keep_tree(path, src, reason)

    def keep_elf(self, path: str, src: str, reason: str, detail: str) -> None:
        self._keep_elf(path, src, reason, detail)

    def listdir(self, path: str) -> frozenset[str]:
        return self.gb.listdir(path)

    def is_dir(self, path: str) -> bool:
        return self.gb.is_dir(path)

    def realpath(self, path: str) -> str:
        try:
            return self.gb.realpath(path)
        except Exception:  # a loop the resolver gives up on
            return path

    def read_text(self, path: str) -> str | None:
        if not self.gb.is_file(path):
            return None
        return self.gb.fs.read_bytes(path).decode("utf-8", "replace")

    def dist_meta(self, dist: str) -> str | None:
        return self.dists.meta_dir.get(canonical_name(dist))

    def dist_modules(self, dist: str) -> list[str]:
        want, names = canonical_name(dist), []
        for path, owner in self.dists.by_file.items():
            if owner != want:
                continue
            for site in self.site_dirs:
                if path.startswith(site + "/"):
                    rel = path[len(site) + 1:]
                    stem = rel.split("/")[-1].split(".")[0]
                    parts = rel.split("/")[:-1] + [stem]
                    if all(p.isidentifier() for p in parts) and stem != "__init__":
                        names.append(".".join(parts))
        return sorted(set(names))
