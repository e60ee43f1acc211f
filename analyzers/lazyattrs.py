"""Lazily attached submodules: a package whose module-level `__getattr__` imports a submodule on first attribute
access (lazy_loader's `attach_stub(__name__, __file__)` over the package's `__init__.pyi`, scipy's
`import_module(f"scipy.{name}")`, plotly's `relative_import(__name__, …)` whose names only an `if TYPE_CHECKING:`
body states as imports) loads `pkg.sub` only when some code reads `pkg.sub`, or a name the stub
re-exports from it (`from ._gaussian import gaussian`: reading `gaussian` loads `_gaussian`).

Such a submodule waits here until a kept module that names the package's top name (imports it, is part of it,
quotes it) could read its name: an attribute `.name` anywhere, a quoted `"name"`, a from-import of it
(imports.read_names, a cheap over-approximation read from the source only once that package turns out lazy), a
name in an extension's string tables or a sourceless module's marshalled names; code whose source cannot be read
(`python -c`) reads every name. The reads of every module the analysis keeps join in as the worklist drains, so
what a kept submodule reads keeps more (a fixpoint). A wholesale read (`from pkg import *`, `getattr(pkg, name)`
with a computed name, `inspect.getmembers(pkg)`) keeps every waiting submodule of pkg.
What still waits at the end is left out and said (a `lazy-submodule-left-out` note naming each, so a user can
`--hidden-import` it); a computed `getattr` in the app's own code on something not known to be a module makes
that note a warning that names the line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from faktory.analyzers.finder import ModuleSpec
from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import INFO, WARNING, Finding

LEFT_OUT = "lazy-submodule-left-out"


@dataclass(frozen=True)
class Waiting:
    """A submodule the package imports when `attr` is read: kept below `src` with the stub's line."""
    module: str
    package: str
    attr: str
    src: str
    detail: str
    optional: bool
    depth: int


class _Reader:
    """A followed module: what it reads, read from its source at most once and only when asked."""

    def __init__(self, names: Callable[[], frozenset[str] | None], tops: frozenset[str], node: str) -> None:
        self._names, self.tops, self.node = names, tops, node
        self._read: tuple[frozenset[str] | None] | None = None

    def names(self) -> frozenset[str] | None:
        if self._read is None:
            self._read = (self._names(),)
        return self._read[0]


class LazyKeeper(Keeper, Protocol):
    def kept(self, name: str) -> ModuleSpec | None: ...


class LazyAttributes:
    def __init__(self, keeper: LazyKeeper) -> None:
        self._k = keeper
        self._modules: list[_Reader] = []  # every module followed, with the top names it knows
        self._blind: set[str] = set()  # top names code with no readable source knows: read whole
        self._readers: dict[str, dict[str, str]] = {}  # lazy package's top name -> read name -> first reader
        self._waiting: dict[str, list[Waiting]] = {}  # attribute -> submodules it loads
        self._wholesale: set[str] = set()  # packages read whole
        self._uncertain: list[str] = []  # file:line of the app's computed getattr on an unknown object

    def wait(self, item: Waiting) -> None:
        top = item.package.partition(".")[0]
        readers = self._readers_of(top)
        if item.package in self._wholesale or top in self._blind:
            self._keep(item, "every attribute is read")
        elif item.attr in readers:
            self._keep(item, f"`{item.attr}` read by {readers[item.attr]}")
        else:
            self._waiting.setdefault(item.attr, []).append(item)

    def read(self, names: Callable[[], frozenset[str] | None], tops: frozenset[str], node: str) -> None:
        """What code at `node` may read (`names`, asked only once a package it names is lazy; None: anything),
        on the packages of the top names it knows (imports, its own, quoted): code that never names a package
        gets none of its modules (numpy's `.window` is not skimage's). Keeps the submodules waiting on those."""
        item = _Reader(names, tops, node)
        self._modules.append(item)
        for top in tops & self._readers.keys():
            self._add(top, item)

    def _readers_of(self, top: str) -> dict[str, str]:
        if top not in self._readers:
            self._readers[top] = {}
            for item in self._modules:
                if top in item.tops:
                    self._add(top, item)
        return self._readers[top]

    def _add(self, top: str, reader: _Reader) -> None:
        names = reader.names()
        if names is None:  # no source to read: every lazy package it names is read whole
            for package in {i.package for items in self._waiting.values() for i in items
                            if i.package.partition(".")[0] == top}:
                self.read_all(package, reader.node, "code whose source is not read")
            self._blind.add(top)
            return
        readers = self._readers[top]
        fresh = names.difference(readers)
        for name in fresh:
            readers[name] = reader.node
        for name in fresh & self._waiting.keys():
            keep = [i for i in self._waiting[name] if i.package.partition(".")[0] == top]
            if not keep:
                continue
            rest = [i for i in self._waiting[name] if i.package.partition(".")[0] != top]
            if rest:
                self._waiting[name] = rest
            else:
                del self._waiting[name]
            for item in keep:
                self._keep(item, f"`{name}` read by {reader.node}")

    def read_all(self, package: str, node: str, detail: str) -> None:
        """`from pkg import *`, a computed getattr on pkg: any of its lazy submodules may load."""
        if package in self._wholesale:
            return
        self._wholesale.add(package)
        for attr in [a for a, items in self._waiting.items() if any(i.package == package for i in items)]:
            keep = [i for i in self._waiting[attr] if i.package == package]
            self._waiting[attr] = [i for i in self._waiting[attr] if i.package != package]
            if not self._waiting[attr]:
                del self._waiting[attr]
            for item in keep:
                self._keep(item, f"every attribute read by {node} ({detail})")

    def uncertain(self, where: str) -> None:
        self._uncertain.append(where)

    def _keep(self, item: Waiting, why: str) -> None:
        self._k.keep_module(item.module, item.src, "lazy-attribute", f"{item.detail}; {why}", item.optional,
                            item.depth)

    def findings(self) -> list[Finding]:
        """One note per package with submodules left out (those the image has)."""
        left: dict[str, list[Waiting]] = {}
        for items in self._waiting.values():
            for item in items:
                if self._k.kept(item.module) is None and self._k.find(item.module) is not None:
                    left.setdefault(item.package, []).append(item)
        out = []
        for package, items in sorted(left.items()):
            names = ", ".join(sorted({i.module for i in items}))
            severity, where = (WARNING, self._uncertain[0]) if self._uncertain else (INFO, items[0].detail)
            doubt = f"; {where} reads attributes by a computed name" if self._uncertain else ""
            out.append(Finding(LEFT_OUT, f"{package} attaches submodules lazily that no kept code reads, left out: "
                                         f"{names} (--hidden-import to keep one){doubt}", severity, where))
        return out
