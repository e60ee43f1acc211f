"""Modules a package's own config files name (Sphinx's `theme.conf`: `pygments_style = alabaster.support.Alabaster`):
the package's code reads the file and imports the name. Only names of the same top-level package count, and
only in small config-like files kept as its package data."""

from __future__ import annotations

import re

from faktory.analyzers.keeper import Keeper

CONFIG_SUFFIXES = (".conf", ".cfg", ".ini", ".toml", ".yaml", ".yml")
# Build and tool configuration shipped inside a package (pandas' pyproject.toml names pandas.conftest for its
# linters): the package never imports what these name, installers and linters read them.
TOOL_CONFIGS = frozenset({"pyproject.toml", "setup.cfg", "tox.ini", "pytest.ini", "mypy.ini", ".flake8",
                          ".pre-commit-config.yaml", ".readthedocs.yaml", ".readthedocs.yml", "codecov.yml"})
MAX_CONFIG_BYTES = 64 << 10
DOTTED_WORD = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w.])")


def is_config(name: str, size: int) -> bool:
    return name.endswith(CONFIG_SUFFIXES) and name not in TOOL_CONFIGS and size <= MAX_CONFIG_BYTES


def keep_config_names(keeper: Keeper, package: str, path: str, text: str, src: str, depth: int = 0) -> None:
    """Each dotted word naming a module of `package`'s top-level package, or the module of `mod.Attr`."""
    top = package.split(".")[0]
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in DOTTED_WORD.finditer(line):
            name = m.group(1)
            if name.split(".")[0] != top:
                continue
            for candidate in (name, name.rpartition(".")[0]):
                if "." in candidate and keeper.find(candidate) is not None:
                    keeper.keep_module(candidate, src, "named-by-string", f"{path}:{lineno}", optional=True,
                                       depth=depth)
                    break
