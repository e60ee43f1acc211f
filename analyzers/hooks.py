"""The hook table: run-time needs no import statement shows, kept as data in hooks/*.yaml (like PyInstaller)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from importlib import resources

import yaml

from faktory.analyzers.hookrules import DataFiles, Metadata, Submodules

KEYS = {"module", "hiddenimports", "excludedimports", "datas", "binaries", "sysfiles", "all_dist_info", "app_from_args",
        "string_imports", "entry_points", "start_facts"}


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
    # What the module always does once it runs as the app's server, whatever the app's code: gunicorn's arbiter
    # forks its workers. Facts (subprocess, fork, ...) with no file:line, so a target without them is blocked.
    start_facts: tuple[str, ...] = ()
    # From PyInstaller hook files (hookread.py rules, evaluated against the image's files):
    submodules: tuple[Submodules, ...] = ()  # collect_submodules with a filter (without one it is `pkg.**`)
    package_datas: tuple[DataFiles, ...] = ()  # collect_data_files: files of a package's tree
    metadata: tuple[Metadata, ...] = ()  # copy_metadata: a distribution's dist-info
    dynamic_libs: tuple[str, ...] = ()  # collect_dynamic_libs: shared libraries inside these packages
    mypyc_dists: tuple[str, ...] = ()  # the `<hash>__mypyc` runtime modules these distributions install
    source: str = ""  # where the hook comes from: a YAML file, or a hook-<module>.py and its distribution
    lines: tuple[tuple[str, int], ...] = ()  # repr(item) -> line of the hook file that asked for it
    kind: str = "faktory"  # "faktory" (YAML) | "pyinstaller" (community hook file) | "shipped" (by the package)
    given: tuple[str, ...] = ()  # the keys a YAML entry sets (`datas: []` too): they replace the community's

    def where(self, item: object) -> str:
        """`hook-pygments.py:9` for an item of a hook file, else the hook's source."""
        key = item if isinstance(item, str) else repr(item)
        for known, line in self.lines:
            if known == key:
                return f"{self.source.rsplit('/', 1)[-1].split(' ', 1)[0]}:{line}"
        return self.source


# A YAML key replaces, for the same module, every field a PyInstaller hook fills from the same variable.
FAMILIES = {
    "hiddenimports": ("hiddenimports", "submodules", "mypyc_dists"),
    "datas": ("datas", "package_datas", "metadata", "sysfiles"),
    "sysfiles": ("sysfiles",),
    "binaries": ("binaries", "dynamic_libs"),
    "excludedimports": ("excludedimports",),
    "entry_points": ("entry_points",),
}


def overridden(community: Hook, own: tuple[Hook, ...]) -> Hook:
    """The community hook without what faktory's own hooks for the module say instead (per key)."""
    defaults = {f.name: f.default for f in fields(Hook)}
    cleared = {}
    for hook in own:
        for key in hook.given:
            cleared.update({name: defaults[name] for name in FAMILIES.get(key, ())})
    return replace(community, **cleared) if cleared else community


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
            start_facts=tuple(item.get("start_facts", ())),
            source=source,
            given=tuple(k for k in item if k != "module"),
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
