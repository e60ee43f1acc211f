"""Plugins loaded through entry points (`entry_points(group="myapp.plugins")`, then `ep.load()`).

A group counts when the app's code, a kept library's code or a hook names it: every module a distribution lists
in that group is kept, with that distribution's metadata (importlib.metadata finds the entry points there).
"""

from __future__ import annotations

import posixpath
from typing import Mapping

from faktory.analyzers.keeper import Keeper

LAUNCHER_GROUPS = {"console_scripts", "gui_scripts"}  # read by installers, not by the running app


def parse_entry_points(text: str) -> list[tuple[str, str]]:
    """(group, module) pairs of an entry_points.txt: `[group]` then `name = module.path[:attr] [extras]`."""
    pairs, group = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            continue
        if group is None or "=" not in line:
            continue
        value = line.split("=", 1)[1].split("[", 1)[0].strip()
        module = value.split(":", 1)[0].strip()
        if module and all(part.isidentifier() for part in module.split(".")):
            pairs.append((group, module))
    return pairs


def keep_entry_point_plugins(keeper: Keeper, meta_dirs: Mapping[str, str], groups: Mapping[str, str]) -> None:
    """`groups`: each group named -> the node naming it, which keeps its plugins."""
    wanted = {g: src for g, src in groups.items() if g not in LAUNCHER_GROUPS}
    if not wanted:
        return
    for _dist, meta in sorted(meta_dirs.items()):
        path = posixpath.join(meta, "entry_points.txt")
        text = keeper.read_text(path)
        if text is None:
            continue
        for group, module in parse_entry_points(text):
            if group in wanted:
                keeper.keep_tree(meta, wanted[group], "entry-point")
                keeper.keep_module(module, wanted[group], "entry-point", f"{group} in {path}", optional=True)
