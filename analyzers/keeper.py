"""The narrow surface a contributor gets to change the analysis (PyInstaller's PostGraphAPI idea): keep a module,
a file, an ELF object, a tree; say a finding; ask the image's finder and files. Never the whole Analysis."""

from __future__ import annotations

from typing import Protocol

from faktory.analyzers.finder import ModuleSpec
from faktory.analyzers.model import Finding


class Keeper(Protocol):
    def keep_module(self, name: str, src: str, reason: str, detail: str | None = None, optional: bool = False,
                    depth: int = 0) -> object | None: ...

    def keep_named(self, text: str, src: str, reason: str, detail: str, depth: int = 0) -> None:
        """A dotted name a framework imports by string: its module, or the whole package it names."""

    def keep_package_tree(self, package: str, src: str, reason: str, detail: str | None, depth: int = 0) -> None:
        """The package and every module under it (`pkg.**`)."""

    def keep_submodules(self, package: str, src: str, reason: str, depth: int = 0) -> None:
        """The package and its direct submodules (`pkg.*`)."""

    def keep_path(self, path: str, src: str, reason: str, detail: str | None = None) -> str | None: ...

    def keep_tree(self, path: str, src: str, reason: str) -> None: ...

    def keep_elf(self, path: str, src: str, reason: str, detail: str | None = None) -> object | None: ...

    def finding(self, finding: Finding) -> None: ...

    def finding_unless_kept(self, path: str, finding: Finding) -> None: ...  # said only if `path` ends up unkept

    def find(self, name: str) -> ModuleSpec | None: ...

    def read_text(self, path: str) -> str | None: ...

    def read_bytes(self, path: str) -> bytes: ...  # OSError when unreadable

    def listdir(self, path: str) -> frozenset[str]: ...

    def is_dir(self, path: str) -> bool: ...
