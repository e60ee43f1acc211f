"""User hints as a contributor: what the user (`--include`, `--hidden-import`, `--collect`, `--exclude`, `--hooks`),
the image's author (labels `dev.faktory.<kind>=a,b`) or the service's rules say the app needs, or does not.

The contributor sees a HintKeeper (keep a module, a package, a path; report a finding), never the analysis
itself. A hint that names nothing is a finding, not an error: the image is data, and may lack what a label says.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from faktory.analyzers.dists import DistIndex
from faktory.analyzers.globs import glob_regex
from faktory.analyzers.graphbuild import ENTRY
from faktory.analyzers.hooks import Hook
from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import INFO, WARNING, Finding
from faktory.analyzers.options import HINT_KINDS, AnalyzeOptions, Hint, OptionError, hint
from faktory.distinfo import canonical_name
from faktory.image import DIR

LABEL_PREFIX = "dev.faktory."
MAGIC = re.compile(r"[*?\[]")
SHOWN = 8  # paths named in a finding's message


@dataclass(frozen=True)
class HintKeeper:
    """What hints may do to the closure. Each keep_* answers whether the image had what was named."""

    fs: object  # the image's FileSystem, to expand globs
    keep_module: Callable[[str, str, str], bool]  # (module, reason, detail)
    keep_package: Callable[[str, str, str], bool]  # (package, reason, detail): the package tree, data included
    keep_submodules: Callable[[str, str, str], bool]  # MOD.*: the package and its direct submodules
    keep_path: Callable[[str, str, str], bool]  # a file, a symlink, or a directory with all below it
    dist_files: Callable[[str], tuple[str, ...] | None]  # a distribution's metadata dir + installed files
    finding: Callable[[Finding], None]


def keeper_for(keeper: Keeper, fs, dists: DistIndex, finding: Callable[[Finding], None]) -> HintKeeper:
    """The HintKeeper over the analysis' narrow keeper and its distribution index."""
    def module(name, reason, detail):
        return keeper.keep_module(name, ENTRY, reason, detail, optional=True) is not None

    def package(name, reason, detail):
        spec = keeper.find(name)
        if spec is None or not spec.is_package:
            return module(name, reason, detail)
        keeper.keep_package_tree(name, ENTRY, reason, detail)
        return True

    def submodules(name, reason, detail):
        spec = keeper.find(name)
        if spec is None or not spec.is_package:
            return module(name, reason, detail)
        keeper.keep_submodules(name, ENTRY, reason)
        return True

    def path(p, reason, detail):
        if keeper.is_dir(p):
            keeper.keep_tree(p, ENTRY, reason)
            return True
        return keeper.keep_path(p, ENTRY, reason, detail) is not None

    def dist_files(name):
        dist = canonical_name(name)
        meta = dists.meta_dir.get(dist)
        if meta is None:
            return None
        return (meta, *sorted(p for p, d in dists.by_file.items() if d == dist))

    return HintKeeper(fs, module, package, submodules, path, dist_files, finding)


def from_labels(labels: Mapping[str, str]) -> tuple[tuple[Hint, ...], list[Finding]]:
    """`dev.faktory.include=/a,/b` and friends; a malformed value is a finding (the image author's slip)."""
    hints, bad = [], []
    for kind in HINT_KINDS:
        key = LABEL_PREFIX + kind
        for value in (v.strip() for v in str(labels.get(key, "")).split(",")):
            if not value:
                continue
            try:
                hints.append(hint(kind, value, f"label:{key}"))
            except OptionError as exc:
                bad.append(Finding("hint-malformed", str(exc), WARNING))
    return tuple(hints), bad


def all_hints(options: AnalyzeOptions, labels: Mapping[str, str]) -> tuple[tuple[Hint, ...], list[Finding]]:
    found, bad = from_labels(labels) if options.labels else ((), [])
    return found + options.hints, bad


def with_user_hooks(table: Mapping[str, tuple[Hook, ...]], hooks: Iterable[Hook]) -> dict[str, tuple[Hook, ...]]:
    """The hook table with the user's hooks added: both apply to a module (the user's after the project's)."""
    merged = dict(table)
    for item in hooks:
        merged[item.module] = (*merged.get(item.module, ()), item)
    return merged


def apply(hints: Iterable[Hint], keeper: HintKeeper) -> None:
    """Every keeping hint (exclusions wait for the finished closure: see exclude())."""
    for item in hints:
        detail = item.value
        if item.kind == "hidden-import":
            name = item.value
            if name.endswith(".**"):
                ok = keeper.keep_package(name[:-3], item.reason, detail)
            elif name.endswith(".*"):
                ok = keeper.keep_submodules(name[:-2], item.reason, detail)
            else:
                ok = keeper.keep_module(name, item.reason, detail)
            if not ok:
                keeper.finding(Finding("hint-unresolved", f"{item.reason} {name}: no such module in the image",
                                       WARNING))
        elif item.kind == "collect":
            _collect(item, keeper)
        elif item.kind == "include":
            matches = expand(keeper.fs, item.value)
            for path in matches:
                keeper.keep_path(path, item.reason, detail)
            if not matches:
                keeper.finding(Finding("hint-unmatched", f"{item.reason} {item.value}: matches nothing in the image",
                                       WARNING))


def _collect(item: Hint, keeper: HintKeeper) -> None:
    """PyInstaller's --collect-all: the package tree (its data and its distribution's metadata come with it);
    a distribution name without such a package keeps the distribution's files."""
    name = item.value
    if name.replace("-", "_").isidentifier() and keeper.keep_package(name, item.reason, name):
        keeper.keep_module(f"{name}.__main__", item.reason, name)  # `python -m PKG`; not a submodule for the tree
        return
    files = keeper.dist_files(name)
    if files is None:
        keeper.finding(Finding("hint-unresolved", f"{item.reason} {name}: no such package or distribution in the "
                                                  "image", WARNING))
        return
    for path in files:
        keeper.keep_path(path, item.reason, name)


def expand(fs, pattern: str) -> list[str]:
    """An absolute path or glob over the image (`*`, `?`, `[..]` within a name, `**` across directories)."""
    parts = [p for p in pattern.split("/") if p and p != "."]
    found: list[str] = []

    def kind(path: str):
        try:
            entry = fs.entry(path)
        except Exception:
            return None
        return entry.kind if entry is not None else None

    def names(path: str) -> list[str]:
        try:
            return fs.listdir(path)
        except (OSError, ValueError):
            return []

    def walk(base: str, i: int) -> None:
        if i == len(parts):
            if base not in found:
                found.append(base)
            return
        part = parts[i]
        if part == "**":
            walk(base, i + 1)
            for name in names(base):
                child = posixpath.join(base, name)
                if kind(child) == DIR:  # not through symlinks: no loops
                    walk(child, i)
        elif MAGIC.search(part):
            for name in names(base):
                if fnmatch.fnmatchcase(name, part):
                    walk(posixpath.join(base, name), i + 1)
        else:
            child = posixpath.join(base, part)
            if kind(child) is not None:
                walk(child, i + 1)

    walk("/", 0)
    return [p for p in found if p != "/"]


def exclude(graph, hints: Iterable[Hint]) -> list[Finding]:
    """Remove the kept paths an exclude hint matches, and everything below them, then what only they kept (the
    modules, libraries and data nothing else leads to: `--exclude pandas/**` takes pyarrow and numpy's bundled
    BLAS along when nothing else imports them); one finding per hint, one for what went with them."""
    roots = [n for n in graph if graph.in_degree(n) == 0]
    out = []
    for item in hints:
        if item.kind != "exclude":
            continue
        match = glob_regex(item.value)
        doomed = []
        for node, data in graph.nodes(data=True):
            path = data.get("path") or ""
            if not node.startswith(("file:", "module:")) or not path:
                continue
            parts = path.split("/")
            if any(match.match("/".join(parts[:n]) or "/") for n in range(2, len(parts) + 1)):
                doomed.append((node, path))
        if not doomed:
            out.append(Finding("hint-unmatched", f"{item.reason} {item.value}: matches nothing in the closure",
                               WARNING))
            continue
        graph.remove_nodes_from(node for node, _ in doomed)
        files = sorted({p for n, p in doomed if n.startswith("file:")})
        shown = ", ".join(files[:SHOWN]) + (f" and {len(files) - SHOWN} more" if len(files) > SHOWN else "")
        out.append(Finding("excluded", f"{item.reason} {item.value} removed {len(files)} path(s): {shown}", INFO))
    if any(f.kind == "excluded" for f in out):
        out += _prune_orphans(graph, roots)
    return out


def _prune_orphans(graph, roots: list[str]) -> list[Finding]:
    """Remove what no remaining root leads to any more."""
    seen = {r for r in roots if r in graph}
    stack = list(seen)
    while stack:
        for succ in graph.successors(stack.pop()):
            if succ not in seen:
                seen.add(succ)
                stack.append(succ)
    orphans = [n for n in graph if n not in seen]
    if not orphans:
        return []
    files = sorted(graph.nodes[n]["path"] for n in orphans if n.startswith("file:") and graph.nodes[n].get("path"))
    graph.remove_nodes_from(orphans)
    shown = ", ".join(files[:SHOWN]) + (f" and {len(files) - SHOWN} more" if len(files) > SHOWN else "")
    return [Finding("excluded", f"{len(files)} path(s) only the excluded ones kept went with them"
                    + (f": {shown}" if files else ""), INFO)]
