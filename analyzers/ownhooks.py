"""What a Hook means for the closure, as a contributor with a narrow keeper: its hidden imports (`pkg.**`,
`pkg.*`, globs), package datas, binaries by soname, system files, all dist-info, app modules named by the
command line, entry point groups, start-up facts and string imports. The PyInstaller rules a community or
shipped hook carries (collect_submodules, …) are evaluated by hookapply.py against the image's files."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Protocol

from faktory.analyzers import hookapply
from faktory.analyzers.finder import ModuleSpec
from faktory.analyzers.hookapply import apply_rules
from faktory.analyzers.hooks import Hook
from faktory.analyzers.keeper import Keeper


class HookKeeper(Keeper, Protocol):
    """The Keeper plus what only a hook asks for."""

    def link(self, src: str, dst: str, reason: str, detail: str | None = None) -> None: ...
    def kept(self, name: str) -> ModuleSpec | None: ...  # the spec of a module already kept
    def keep_matching_modules(self, pattern: str, src: str, reason: str, depth: int = 0) -> None: ...
    def keep_glob(self, pattern: str, src: str, reason: str) -> None: ...
    def find_library(self, soname: str) -> str | None: ...
    def dist_metas(self) -> dict[str, str]: ...  # distribution -> its dist-info dir
    def keep_strings_of(self, path: str, src: str, depth: int) -> None: ...  # the dotted names its source quotes


@dataclass
class HookEffects:
    """What hooks said that later steps of the analysis read."""
    all_dist_info: bool = False
    app_from_args: bool = False
    entry_point_groups: set[str] = field(default_factory=set)
    start_facts: dict[tuple[str, str], str] = field(default_factory=dict)  # (fact kind, module) -> the hook


def apply_hook(hook: Hook, keeper: HookKeeper, rules: hookapply.Keeper, effects: HookEffects, node: str,
               depth: int = 0) -> None:
    reason = f"hook:{hook.module}"
    shipped = hook.kind == "shipped"
    hook_node = f"hook:{hook.module}@image" if shipped else f"hook:{hook.module}"
    keeper.link(node, hook_node, "shipped-hook" if shipped else "hook", hook.source)
    for name in hook.hiddenimports:
        where = hook.where(name)
        if name.endswith(".**"):
            keeper.keep_package_tree(name[:-3], hook_node, reason, where, depth)
        elif name.endswith(".*"):
            keeper.keep_submodules(name[:-2], hook_node, reason, depth)
        elif "*" in name:
            keeper.keep_matching_modules(name, hook_node, reason, depth)
        else:
            keeper.keep_module(name, hook_node, reason, where, optional=True, depth=depth)
    spec = keeper.kept(hook.module)
    if hook.datas and spec and spec.is_package and spec.search:
        for pattern in hook.datas:
            for base in spec.search:
                keeper.keep_glob(posixpath.join(base, pattern), hook_node, reason)
    for soname in hook.binaries:
        found = keeper.find_library(soname)
        if found:
            keeper.keep_elf(found, hook_node, reason, soname)
    for pattern in hook.sysfiles:
        keeper.keep_glob(pattern, hook_node, reason)
        if keeper.is_dir(pattern):  # a directory a PyInstaller hook names in its datas
            keeper.keep_tree(pattern, hook_node, reason)
    apply_rules(hook, rules, hook_node, reason, depth)
    if hook.all_dist_info and not effects.all_dist_info:
        effects.all_dist_info = True
        for _dist, meta in sorted(keeper.dist_metas().items()):
            keeper.keep_tree(meta, hook_node, "dist-info")
    if hook.app_from_args:
        effects.app_from_args = True
    effects.entry_point_groups.update(hook.entry_points)
    if depth == 0:  # imported on the start-up path, not by a function that may never run
        for kind in hook.start_facts:
            effects.start_facts.setdefault((kind, hook.module), hook.source or reason)
    if hook.string_imports and spec and spec.origin and spec.kind == "source":
        keeper.keep_strings_of(spec.origin, hook_node, depth)
