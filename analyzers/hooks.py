"""The hook table: run-time needs no import statement shows, kept as data in hooks/*.yaml (like PyInstaller)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

KEYS = {"module", "hiddenimports", "excludedimports", "datas", "binaries", "sysfiles", "all_dist_info", "app_from_args",
        "string_imports", "entry_points"}


@dataclass(frozen=True)
class Hook:
    module: str
    hiddenimports: tuple[str, ...] = ()
    excludedimports: tuple[str, ...] = ()  # imports of this module not followed (function-level, known rare)
    datas: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()
    sysfiles: tuple[str, ...] = ()
    all_dist_info: bool = False
    app_from_args: bool = False
    string_imports: bool = False  # the module's quoted dotted names are imports (settings defaults, loaders)
    entry_points: tuple[str, ...] = ()  # entry point groups the module loads plugins from


def parse_hooks(text: str, source: str = "<hooks>") -> list[Hook]:
    # libyaml's loader when PyYAML was built with it: the table is read at every start
    items = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or []
    hooks = []
    for item in items:
        unknown = set(item) - KEYS
        if unknown or "module" not in item:
            raise ValueError(f"{source}: bad hook entry {item!r} (unknown keys {sorted(unknown)})")
        hooks.append(Hook(
            module=item["module"],
            hiddenimports=tuple(item.get("hiddenimports", ())),
            excludedimports=tuple(item.get("excludedimports", ())),
            datas=tuple(item.get("datas", ())),
            binaries=tuple(item.get("binaries", ())),
            sysfiles=tuple(item.get("sysfiles", ())),
            all_dist_info=bool(item.get("all_dist_info", False)),
            app_from_args=bool(item.get("app_from_args", False)),
            string_imports=bool(item.get("string_imports", False)),
            entry_points=tuple(item.get("entry_points", ())),
        ))
    return hooks


@lru_cache(maxsize=1)
def hook_table() -> dict[str, tuple[Hook, ...]]:
    """module name -> hooks, from every hooks/*.yaml shipped with the package."""
    table: dict[str, list[Hook]] = {}
    folder = resources.files("faktory.analyzers") / "hooks"
    for res in sorted(folder.iterdir(), key=lambda r: r.name):
        if res.name.endswith(".yaml"):
            for hook in parse_hooks(res.read_text(encoding="utf-8"), res.name):
                table.setdefault(hook.module, []).append(hook)
    return {k: tuple(v) for k, v in table.items()}
