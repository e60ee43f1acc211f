"""The community's PyInstaller hooks as faktory Hooks: located in the installed `pyinstaller` and
`pyinstaller-hooks-contrib` distributions (through their metadata, never by importing them), read by
hookread.py, translated once per module and process.

Precedence, as PyInstaller's own: a hook the image's package ships (`<pkg>/_pyinstaller/hook-X.py`) over the
contrib's, over PyInstaller's built-in ones; faktory's YAML hooks replace, per key, what any of them says
(hooks.overridden). All 1050 hook files parse in ~0.09 s of CPU, so there is no cache on disk: a run reads
only the hook files of the modules it keeps.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import posixpath
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Protocol

from faktory.analyzers.hookread import Reading, read_hook
from faktory.analyzers.hookrules import DataFiles, DynamicLibs, EntryPoints, Metadata, MypycModules, Submodules, SystemPath
from faktory.analyzers.hooks import Hook, overridden

# (distribution, folder of its hook-<module>.py files), lowest precedence first
HOOK_DIRS = (("pyinstaller", "PyInstaller/hooks"), ("pyinstaller-hooks-contrib", "_pyinstaller_hooks_contrib/stdhooks"))


@dataclass(frozen=True)
class HookFile:
    module: str
    dist: str
    version: str
    relpath: str  # inside the distribution: PyInstaller/hooks/hook-pygments.py
    path: str  # on this machine

    @property
    def label(self) -> str:
        return f"{self.relpath} ({self.dist} {self.version})"


def _files_of(dist_name: str, folder: str) -> list[HookFile]:
    """The distribution's hook files, by listing its folder (reading RECORD costs ~10x more)."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return []
    root = Path(str(dist.locate_file(folder)))
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    label, version = dist.metadata["Name"], dist.version  # each access parses METADATA again
    return [HookFile(name[5:-3], label, version, f"{folder}/{name}", str(root / name))
            for name in names if name.startswith("hook-") and name.endswith(".py")]


@lru_cache(maxsize=1)
def all_hook_files() -> tuple[HookFile, ...]:
    return tuple(f for dist, folder in HOOK_DIRS for f in _files_of(dist, folder))


@lru_cache(maxsize=1)
def hook_index() -> dict[str, HookFile]:
    """module -> the hook file PyInstaller would use for it (the contrib's over the built-in one)."""
    return {f.module: f for f in all_hook_files()}


@lru_cache(maxsize=None)
def reading(path: str, module: str) -> Reading:
    return read_hook(Path(path).read_bytes(), module)


@lru_cache(maxsize=None)
def community_hook(module: str) -> Hook | None:
    """The translated community hook for `module`, or None when the community has none."""
    found = hook_index().get(module)
    if found is None:
        return None
    return translate(reading(found.path, module), found.label)


def translate(read: Reading, source: str, kind: str = "pyinstaller") -> Hook:
    """A hook file's reading as a Hook: module names stay names, collect_* calls become rules."""
    hidden, trees, mypyc, excluded, datas, meta, sysfiles, dyn, groups = ([] for _ in range(9))
    lines: dict[str, int] = {}

    def add(bucket: list, value, line: int, key: object = None) -> None:
        if value not in bucket:
            bucket.append(value)
            label = key if key is not None else value
            lines.setdefault(label if isinstance(label, str) else repr(label), line)

    for output, items in read.outputs.items():
        for item in items:
            rule, line = item.value, item.line
            if output == "excludedimports":
                add(excluded, rule, line)
            elif isinstance(rule, str):
                add(hidden, rule, line)
            elif isinstance(rule, Submodules):
                if rule.filter:
                    add(trees, rule, line)
                else:
                    add(hidden, f"{rule.package}.**", line)
            elif isinstance(rule, MypycModules):
                add(mypyc, rule.dist, line, f"mypyc:{rule.dist}")
            elif isinstance(rule, EntryPoints):
                add(groups, rule.group, line, f"entry_points:{rule.group}")
            elif isinstance(rule, DataFiles):
                add(datas, rule, line)
            elif isinstance(rule, Metadata):
                add(meta, rule, line)
            elif isinstance(rule, DynamicLibs):
                add(dyn, rule.package, line, f"dynamic_libs:{rule.package}")
            elif isinstance(rule, SystemPath):
                add(sysfiles, rule.path.rstrip("/"), line)
    return Hook(
        module=read.module, hiddenimports=tuple(hidden), excludedimports=tuple(excluded), sysfiles=tuple(sysfiles),
        entry_points=tuple(groups), submodules=tuple(trees), package_datas=tuple(datas), metadata=tuple(meta),
        dynamic_libs=tuple(dyn), mypyc_dists=tuple(mypyc), source=source, lines=tuple(lines.items()), kind=kind,
    )


# --- coverage --------------------------------------------------------------------------------------------
def problem_kind(reason: str) -> str:
    """A reason without the output it was found in: `datas: call of GiModuleInfo()` -> `call of GiModuleInfo()`."""
    head, sep, tail = reason.partition(": ")
    text = tail if sep and head in ("hiddenimports", "datas", "binaries", "excludedimports") else reason
    return text[len("test on "):] if text.startswith("test on ") else text


def coverage() -> dict:
    """Per distribution: hook files understood fully, partly, not at all; the reasons, by how many files."""
    doc: dict = {"distributions": {}, "total": Counter(), "reasons": Counter()}
    for f in all_hook_files():
        read = reading(f.path, f.module)
        entry = doc["distributions"].setdefault(f.dist, {"version": f.version, "files": 0, "full": 0, "partial": 0,
                                                         "none": 0, "reasons": Counter()})
        entry["files"] += 1
        entry[read.status] += 1
        doc["total"][read.status] += 1
        for kind in {problem_kind(reason) for reason, _ in read.problems}:
            entry["reasons"][kind] += 1
            doc["reasons"][kind] += 1
    return doc


class ImageFiles(Protocol):
    def listdir(self, path: str) -> frozenset[str]: ...
    def read_bytes(self, path: str) -> bytes: ...


class HookChoice:
    """Which hooks apply to a module of one image: faktory's own (and the user's), then one PyInstaller hook —
    the one the image's package ships for its own version, else the community's without the keys the own ones
    set."""

    def __init__(self, own: Mapping[str, tuple[Hook, ...]], files: ImageFiles) -> None:
        self.own, self._files = own, files
        self._shipped: dict[str, Hook] = {}  # module -> the hook its own package ships (`_pyinstaller/hook-X.py`)
        self._hooks_of: dict[str, tuple[Hook, ...]] = {}

    def hooks_for(self, name: str) -> tuple[Hook, ...]:
        found = self._hooks_of.get(name)
        if found is None:
            own = self.own.get(name, ())
            shipped = self._shipped.get(name)
            other = shipped or (overridden(community_hook(name), own) if community_hook(name) else None)
            found = own + ((other,) if other else ())
            self._hooks_of[name] = found
        return found

    def read_shipped(self, name: str, search: Iterable[str]) -> None:
        """Libraries that ship hooks for PyInstaller (`<pkg>/_pyinstaller/hook-X.py`) say what X needs, for
        the version in the image: read like the community's, they take the community's place for X."""
        for location in search:
            for sub in ("_pyinstaller", "__pyinstaller"):
                hook_dir = posixpath.join(location, sub)
                for entry in sorted(self._files.listdir(hook_dir)):
                    target = entry[5:-3]
                    if not (entry.startswith("hook-") and entry.endswith(".py")) or \
                            not (target == name or target.startswith(name + ".")) or target in self._shipped:
                        continue
                    path = posixpath.join(hook_dir, entry)
                    self._shipped[target] = translate(read_hook(self._files.read_bytes(path), target), path, "shipped")
                    self._hooks_of.pop(target, None)
