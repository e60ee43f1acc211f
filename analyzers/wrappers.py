"""Import wrappers: a library's own function around the import machinery, called elsewhere with a literal name.

pandas' `import_optional_dependency("tabulate")` calls `importlib.import_module(name)`; Django's
`import_string("pkg.mod.Attr")` splits its argument and imports the module part. A module's scan records the
wrappers it defines (wrapperscan.Wrapper: function, parameter, template such as "pkg.backends.{}") and the calls it
makes with module-like literals; here a call is matched to the wrapper it names — through an import of the
wrapper's module (or of a package re-exporting it), an attribute of its alias, or in the same module — and the module the literal names (the
longest importable prefix of "pkg.mod.Attr" / "pkg.mod:Attr") is kept, `imported-by-wrapper` with file:line. A
name the image lacks keeps nothing: an optional dependency that is not installed.
"""

from __future__ import annotations

from typing import Callable, Iterator

from faktory.analyzers import startup
from faktory.analyzers.finder import Finder, ModuleSpec
from faktory.analyzers.imports import ModuleScan, absolute
from faktory.analyzers.wrapperscan import Wrapper
from faktory.analyzers.keeper import Keeper

REASON = "imported-by-wrapper"
REEXPORT_HOPS = 2  # `from .x import f` chains followed from the module a call names to the one defining f


class WrapperCalls:
    def __init__(self, keeper: Keeper, finder: Finder, builtins, in_stdlib: Callable[[str], bool],
                 scan_of: Callable[[str, ModuleSpec], ModuleScan | None]) -> None:
        self._k, self._finder, self._builtins, self._in_stdlib = keeper, finder, builtins, in_stdlib
        self._scan_of = scan_of
        # module -> (function -> its wrappers, the module's scan, its spec)
        self._wrappers: dict[str, tuple[dict[str, list[Wrapper]], ModuleScan | None, ModuleSpec | None]] = {}

    def follow(self, name: str, is_package: bool, node: str, scan: ModuleScan, where: str, depth: int,
               library: bool) -> None:
        """Keep what the module's literal calls of wrappers name."""
        for callee, argument, value, lineno, lazy in scan.calls:
            for module, function in self._callees(name, is_package, callee):
                own = self._by_function(scan.wrappers).get(function, []) if module == name else \
                    self._named(module, function)
                for wrapper in own:
                    if argument in (wrapper.index, wrapper.param):
                        child = depth + 1 if lazy and library else depth
                        self._keep(wrapper.template.replace("{}", value), node, f"{where}:{lineno}", child)

    def _callees(self, name: str, is_package: bool, callee: str) -> Iterator[tuple[str, str]]:
        """(module, function) a recorded callee may be: "=f" in this module, ".mod.f" relative, "pkg.mod.f"."""
        if callee.startswith("="):
            yield name, callee[1:]
            return
        level = len(callee) - len(callee.lstrip("."))
        module, _, function = callee[level:].rpartition(".")
        if level:
            base = absolute(name, is_package, module, level)
            if base:
                yield base, function
        elif module:
            yield module, function

    def _named(self, module: str, function: str, hops: int = REEXPORT_HOPS) -> list[Wrapper]:
        """The wrappers `module.function` is: its own, or those of the module it re-exports the name from
        (`from pkg.compat._optional import import_optional_dependency` in `pkg/compat/__init__.py`)."""
        own, scan, spec = self._of(module)
        if function in own or scan is None or hops == 0:
            return own.get(function, [])
        for ref in scan.imports:
            if function in ref.names and not ref.lazy:
                source = absolute(module, spec.is_package, ref.module, ref.level)
                found = self._named(source, function, hops - 1) if source and source != module else []
                if found:
                    return found
        return []

    def _of(self, module: str) -> tuple[dict[str, list[Wrapper]], ModuleScan | None, ModuleSpec | None]:
        found = self._wrappers.get(module)
        if found is None:
            found = ({}, None, None)
            spec = self._finder.find(module)
            # the stdlib's own computed imports have hooks of their own; only source has a scan
            if spec is not None and spec.kind == "source" and spec.origin and not self._in_stdlib(spec.origin):
                scan = self._scan_of(module, spec)
                if scan is not None:
                    found = (self._by_function(scan.wrappers), scan, spec)
            self._wrappers[module] = found
        return found

    @staticmethod
    def _by_function(wrappers: list[Wrapper]) -> dict[str, list[Wrapper]]:
        out: dict[str, list[Wrapper]] = {}
        for wrapper in wrappers:
            out.setdefault(wrapper.function, []).append(wrapper)
        return out

    def _keep(self, text: str, node: str, detail: str, depth: int) -> None:
        """The longest importable prefix of the name ("pkg.mod.Attr", "pkg.mod:Attr"); nothing when even its
        top-level package is not in the image."""
        parts = text.partition(":")[0].split(".")
        if not all(p.isidentifier() for p in parts) or parts[0] in startup.DEV_ONLY:
            return
        for cut in range(len(parts), 0, -1):
            candidate = ".".join(parts[:cut])
            if candidate in self._builtins or self._finder.find(candidate) is not None:
                self._k.keep_module(candidate, node, REASON, detail, optional=True, depth=depth)
                return
