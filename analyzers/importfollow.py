"""Imports as a contributor: what a scanned module imports (relative names resolved, `except ImportError:`
fallbacks weighed, function-level imports of libraries followed one level, computed `import_module(f"pkg.{x}")`
as the package's tree), what its source says beyond imports (sourcemine.py), the dotted strings of a library,
ctypes libraries, and what the scan could not resolve (computed names) as findings."""

from __future__ import annotations

import re

import posixpath
from dataclasses import dataclass
from typing import Callable, Protocol

from faktory.analyzers import (codecnames, envdirs, libcalls, nativecode, pluginloaders, sourcemine, startup,
                               strings, stubs)
from faktory.analyzers.lazyattrs import LazyAttributes, Waiting
from faktory.analyzers.appfiles import AppFiles
from faktory.analyzers.dists import DistIndex, requirements
from faktory.analyzers.finder import Finder, ModuleSpec
from faktory.analyzers.graphbuild import ENTRY, mnode
from faktory.analyzers.imports import ATTRIBUTE_TREE, CALLER_NAMED, PACKAGE_TREE, READ_ATTRIBUTE, TABLE_NAMED, \
    CodeFact, ImportRef, ModuleScan, absolute, literal_binding, read_names, scan_source
from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import INFO, WARNING, Finding
from faktory.analyzers.scancache import ScanCache
from faktory.analyzers.wrappers import WrapperCalls

MAIN = "__main__"


@dataclass(frozen=True)
class Places:
    """Where code lives: the stdlib, an installed distribution's site dir, or the app's own."""
    stdlib_dir: str
    site_dirs: tuple[str, ...]

    def in_stdlib(self, path: str) -> bool:
        """Under the stdlib dir but not in a site dir (prefix site-packages lives inside lib/python3.X)."""
        return path.startswith(self.stdlib_dir + "/") and not any(path.startswith(d + "/") for d in self.site_dirs)

    def is_own_code(self, path: str) -> bool:
        """The app's own code: neither the stdlib nor an installed distribution's site dir."""
        return not any(path.startswith(d + "/") for d in (self.stdlib_dir, *self.site_dirs))

    def is_app(self, spec: ModuleSpec) -> bool:
        if spec.kind == "builtin":
            return False
        origin = spec.origin or (spec.search[0] if spec.search else "")
        return not self.in_stdlib(origin)


class ImportKeeper(Keeper, Protocol):
    def mark_import(self, src: str, module: str, detail: str, how: str) -> None: ...  # "guarded" | "lazy"
    def mark_fallback(self, origin: str, module: str) -> None: ...  # the extension a fallback stands in for
    def is_kept(self, path: str) -> bool: ...
    def excluded_imports(self, name: str) -> set[str]: ...  # what the module's hooks exclude
    def library_dirs(self) -> list[str]: ...  # the loader's search dirs, for ctypes
    # the cache key of a file's content (of `data` when the image has no layer digests)
    def content_key(self, path: str, data: bytes | None = None) -> str | None: ...
    def submodules(self, package: str) -> list[str]: ...  # the direct submodules the image has
    def kept(self, name: str) -> ModuleSpec | None: ...


RELATIVE_NAME_STRING = re.compile(r"""(["'])\.[\w.]*\1""")  # "._figure.Figure": a name a lazy package serves


class Imports:
    def __init__(self, keeper: ImportKeeper, fs, finder: Finder, builtins, places: Places, dists: DistIndex,
                 cache: ScanCache, app: AppFiles) -> None:
        self._k, self._fs, self._finder, self._builtins, self._places = keeper, fs, finder, builtins, places
        self._dists, self._cache, self._app = dists, cache, app
        self.facts: list[tuple[str, CodeFact]] = []  # (file, fact)
        # quoted dotted names in kept libraries (entry point groups among them) -> the first module naming each
        self.library_strings: dict[str, str] = {}
        self._requires: dict[str | None, frozenset[str]] = {}  # distribution -> what it requires
        self._scans: dict[str, ModuleScan] = {}
        self._started: set[tuple[str, str]] = set()  # (module, function) the app calls as it runs, followed
        self.lazy = LazyAttributes(keeper)  # submodules a lazy package loads on attribute access
        self._tables: dict[tuple[str, str], tuple[str, ...] | None] = {}  # (module, name) -> its literal strings
        self._wrapper_calls = WrapperCalls(keeper, finder, builtins, places.in_stdlib,
                                           lambda module, spec: self.scan_of(module, spec=spec))

    def follow_main(self, scan: ModuleScan, where: str) -> None:
        self.follow(MAIN, None, scan, True, where)

    def keep_bytecode_names(self, name: str, spec: ModuleSpec) -> None:
        try:
            data = self._k.read_bytes(spec.origin)
        except OSError:
            return
        strings.keep_bytecode_names(self._k, name, spec, data, self._builtins)
        self.read_native_names(strings.marshal_names(data[16:]), mnode(name))

    def read_native_names(self, names, node: str) -> None:
        """Names in code with no source (marshalled, an extension's string tables) that it may read."""
        parts = frozenset(part for text in names for part in text.split("."))
        self.lazy.read(lambda: parts, parts | {node.rpartition(":")[2].partition(".")[0]}, node)

    def follow(self, name: str, spec: ModuleSpec | None, scan: ModuleScan, app: bool, where: str,
               depth: int = 0) -> None:
        node = mnode(name) if name != MAIN else ENTRY
        is_package = bool(spec and spec.is_package)
        library = bool(spec and spec.origin and not self._places.is_own_code(spec.origin))
        stdlib = bool(spec and spec.origin and self._places.in_stdlib(spec.origin))
        excluded = self._k.excluded_imports(name)
        if spec and spec.kind == "source" and spec.origin and not stdlib:
            self._mine_source(node, spec.origin, depth)
        self._note_reads(name, is_package, node, scan, where, not library and not stdlib,
                         self._lazy_itself(spec, scan, where, stdlib))
        if scan.serves_lazily and not stdlib:
            for ref in scan.typing_imports:
                self._wait_for_typing_import(name, is_package, node, ref, where, depth)
        for ref in scan.imports:
            detail = f"{where}:{ref.lineno}"
            base = absolute(name, is_package, ref.module, ref.level)
            if not base:
                continue
            if ref.fallback_for and self._all_resolve(name, is_package, ref.fallback_for):
                # `except ImportError:` stand-in for imports the image has; kept when what it stands in for is an
                # extension, which a target that cannot load extensions replaces by this fallback
                extensions = self._tried_extensions(name, is_package, ref.fallback_for)
                if extensions and self._k.keep_module(base, node, "import-fallback", detail, True, depth):
                    for origin in extensions:
                        self._k.mark_fallback(origin, base)
                continue
            if excluded and ref.lazy and any(base == x or base.startswith(x + ".") for x in excluded):
                continue
            if ATTRIBUTE_TREE in ref.names and base == name and not stdlib:  # `__getattr__` imports f"pkg.{name}"
                for sub in self._k.submodules(base):
                    self.lazy.wait(Waiting(sub, base, sub.rpartition(".")[2], node, detail, True, depth))
                continue
            if ref.lazy and library and CALLER_NAMED in ref.names:
                # a library function importing what its caller names: its literal calls keep those (wrappers.py)
                self._k.finding(Finding("lazy-computed-import", f"{base}.*: a library function imports the module "
                                        "its caller names; the callers' literal names are kept, not the package "
                                        "tree", INFO, detail))
                continue
            table = next((n[len(TABLE_NAMED):] for n in ref.names if n.startswith(TABLE_NAMED)), None)
            values = self._table_values(name, is_package, table) if table and not stdlib else None
            if values is not None:  # `for plugin in _plugins` over another module's literal list: those modules
                for value in values:
                    if value.isidentifier():
                        self._k.keep_module(f"{base}.{value}", node, "dynamic-import", detail, True, depth)
                continue
            if PACKAGE_TREE in ref.names or ATTRIBUTE_TREE in ref.names:  # import_module(f"pkg.{name}"): any module
                if not stdlib:  # the stdlib's computed imports (encodings by name, …) have hooks of their own
                    self._k.keep_package_tree(base, node, "dynamic-import", detail, depth)
                continue
            child = depth
            if ref.lazy and library:
                # Function-level imports of library code are followed one level deeper each time; a stdlib
                # module reached that way does not get its own followed (they serve rarely used functions).
                # A dev tool's lazy import is skipped unless an installed dev tool (pytest, not the stdlib's
                # unittest) imports it: kept at all, that tool is what the app runs, and pytest_configure's
                # `import pdb` always runs.
                tool = name.split(".")[0] in startup.DEV_ONLY and not stdlib
                if (base.split(".")[0] in startup.DEV_ONLY and not tool) or (stdlib and depth >= 1):
                    continue
                child = depth + 1
            self._k.keep_module(base, node, "imports", detail, ref.optional, child)
            # `try: import x except ImportError:` says the code runs without it; a library function runs only when
            # something calls it. `from x import sub` in either way imports the submodule just as optionally.
            how = "guarded" if ref.guarded else ("lazy" if child > depth else None)
            if how:
                self._k.mark_import(node, base, detail, how)
            for attr in ref.names:
                sub = f"{base}.{attr}"
                if attr != "*" and self._finder.find(sub) is not None:
                    self._k.keep_module(sub, node, "imports", detail, True, child)
                    if how:
                        self._k.mark_import(node, sub, detail, how)
        if not stdlib and scan.calls:
            self._wrapper_calls.follow(name, is_package, node, scan, where, depth, library)
        for lib, lineno in scan.libraries:
            nativecode.keep_ctypes_library(self._k, self._k.library_dirs(), node, lib, f"{where}:{lineno}")
        if not stdlib:
            for group, _ in scan.groups:
                self.library_strings.setdefault(group, node)
            for group in self._named_groups(name, is_package, scan, where):
                self.library_strings.setdefault(group, node)
        computed_loads = [fact for fact in scan.facts if fact.kind == libcalls.FACT]
        if computed_loads and not stdlib and where.startswith("/"):
            libcalls.keep_computed(self._k, self._k.library_dirs(), node, where, computed_loads, library)
        if not stdlib and where.startswith("/"):
            if library:
                strings.keep_same_package_strings(self._k, name, scan.strings, where, depth,
                                                  self._related_to(spec.origin))
                for text, _ in scan.strings:
                    self.library_strings.setdefault(text, node)
            on_self = {lineno for text, lineno, _ in scan.computed if "(self." in text}
            explained = pluginloaders.keep_listed_packages(self._k, node, where, on_self, depth) if on_self else set()
            for text, lineno, in_function in scan.computed:
                if lineno in explained:
                    continue  # a plugin loader's package, kept whole
                if in_function and library:  # runs only if the app calls that function, like a library's fork
                    self._k.finding(Finding("lazy-computed-import", f"{text}: the module name is computed at run "
                                            "time, inside a library function", INFO, f"{where}:{lineno}"))
                else:
                    self._k.finding(Finding("computed-import", f"{text}: the module name is computed at run time",
                                            WARNING, f"{where}:{lineno}"))
        # a module the scan gave up on is named wherever it is: its imports are unknown
        self.facts.extend((where, fact) for fact in scan.facts
                          if (app or fact.kind == "not-scanned") and fact.kind != libcalls.FACT)
        if app and not library:
            for program, lineno in scan.programs:
                self._app.keep_program(program, node, f"{where}:{lineno}")
            for called, lineno in scan.started:
                self._follow_started(called, node, f"{where}:{lineno}", depth)
        for prefix, lineno in scan.program_prefixes:  # library code too: a launcher's subcommands
            self._app.keep_programs_named(prefix, node, f"{where}:{lineno}")
        if scan.program_names and any(fact.kind == "subprocess" for fact in scan.facts):
            for program, lineno in scan.program_names:  # code that starts processes names its program in a constant
                self._app.keep_program_constant(program, node, f"{where}:{lineno}")
        self._app.own_source(node, where)
        stub = stubs.stub_read_by(self._k, where) if spec and spec.kind == "source" and where == spec.origin \
            and not stdlib else None
        if stub is not None and self._k.keep_path(stub, node, "lazy-stub", where):
            try:
                stub_scan = self.scan_file(stub, self._k.read_bytes(stub))
            except OSError:
                return
            refs = stub_scan.imports
            if stubs.attaches_stub(self._k, where):
                refs = [ref for ref in refs if not self._wait_for_attribute(name, node, ref, stub, depth)]
            self.follow(name, spec, ModuleScan(imports=refs), app, stub, depth)

    def _follow_started(self, called: str, node: str, detail: str, depth: int) -> None:
        """A function the app calls as it runs (IPython's console script calls `start_ipython()`, which imports
        the terminal app) runs for sure: its function-level imports are followed as the caller's, not lazily."""
        module, _, function = called.rpartition(".")
        spec = self._finder.find(module) if module and (module, function) not in self._started else None
        if spec is None or spec.kind != "source":
            return
        self._started.add((module, function))
        scan = self.scan_of(module, spec=spec)
        for ref in scan.imports if scan is not None else ():
            base = absolute(module, spec.is_package, ref.module, ref.level) if ref.function == function else None
            if not base:
                continue
            self._k.keep_module(base, node, "started-import", detail, ref.optional, depth)
            for attr in ref.names:
                if attr != "*" and self._finder.find(f"{base}.{attr}") is not None:
                    self._k.keep_module(f"{base}.{attr}", node, "started-import", detail, True, depth)

    def _table_values(self, name: str, is_package: bool, source: str) -> tuple[str, ...] | None:
        """The strings of a module-level literal list/tuple another module binds once (`_plugins = [...]` in
        PIL/__init__.py), named as this module imported it ("._plugins"); None when it is not such a literal."""
        level = len(source) - len(source.lstrip("."))
        owner_part, _, attr = source[level:].rpartition(".")
        owner = absolute(name, is_package, owner_part, level) if level else owner_part
        spec = self._finder.find(owner) if owner else None
        if spec is None or spec.kind != "source" or not spec.origin or self._finder.find(f"{owner}.{attr}"):
            return None
        if (owner, attr) not in self._tables:
            self._tables[(owner, attr)] = literal_binding(self._finder.read_source(spec), attr)
        return self._tables[(owner, attr)]

    def _wait_for_attribute(self, package: str, node: str, ref: ImportRef, stub: str, depth: int) -> bool:
        """A stub line lazy_loader attaches (`from . import sub`, `from .sub import name`): its submodule waits for
        a read of its name; False for a line it would not take (it raises on those), followed as an import."""
        if ref.level != 1 or "*" in ref.names or not ref.names:
            return False
        detail = f"{stub}:{ref.lineno}"
        for attr in ref.names:
            module = f"{package}.{ref.module}" if ref.module else f"{package}.{attr}"
            self.lazy.wait(Waiting(module, package, attr, node, detail, ref.optional, depth))
        return True

    def _wait_for_typing_import(self, name: str, is_package: bool, node: str, ref: ImportRef, where: str,
                                depth: int) -> None:
        """An `if TYPE_CHECKING:` import of a module that serves attributes lazily, from its own package: what it
        names loads when read (`from ._figure import Figure` waits for a read of `Figure`, `from ..graph_objs import
        Bar` for one of `Bar`); an import of another package is an annotation's, not something it serves."""
        base = absolute(name, is_package, ref.module, ref.level)
        if not base or "*" in ref.names or base.partition(".")[0] != name.partition(".")[0]:
            return
        for attr in ref.names:
            sub = f"{base}.{attr}"
            module = sub if self._finder.find(sub) is not None else base
            self.lazy.wait(Waiting(module, name, attr, node, f"{where}:{ref.lineno}", True, depth))

    def _lazy_itself(self, spec: ModuleSpec | None, scan: ModuleScan, where: str, stdlib: bool) -> bool:
        """A package that attaches its submodules lazily: its own quoted names (`__all__`, scipy's `submodules`
        list) are the names it serves, not ones it reads."""
        if stdlib or spec is None or not spec.is_package or where != spec.origin:
            return False
        if any(ATTRIBUTE_TREE in ref.names for ref in scan.imports) or (scan.serves_lazily and scan.typing_imports):
            return True
        return stubs.stub_read_by(self._k, where) is not None and stubs.attaches_stub(self._k, where)

    def _note_reads(self, name: str, is_package: bool, node: str, scan: ModuleScan, where: str, own: bool,
                    lazy_itself: bool) -> None:
        """What this module may read (lazyattrs.py), on the packages it names: its attributes, quoted names and
        from-imports, read from its source only once a package it names turns out lazy (code with no source to
        read, `python -c`, reads everything); a computed getattr on a module, or `from pkg import *`, reads all of
        that module's attributes."""
        if where.endswith(".pyi"):
            return
        tops = {name.partition(".")[0]}
        tops.update(ref.module.partition(".")[0] for ref in scan.imports if ref.level == 0)
        tops.update(text.partition(".")[0] for text, _ in scan.strings)

        def reads() -> frozenset[str] | None:
            text = self._k.read_text(where) if where.startswith("/") else None
            if text is None:
                return None
            # a lazy package's own relative names (`relative_import(__name__, ["._bar.Bar"])`) are what it serves
            found = frozenset(READ_ATTRIBUTE.findall(RELATIVE_NAME_STRING.sub("", text))) if lazy_itself \
                else read_names(text)
            return found.union(n for ref in scan.imports for n in ref.names)
        self.lazy.read(reads, frozenset(tops), node)
        for ref in scan.imports:
            if "*" in ref.names:
                base = absolute(name, is_package, ref.module, ref.level)
                if base:
                    self.lazy.read_all(base, node, f"{where}:{ref.lineno}")
        for target, lineno in scan.wholesale:
            if not target:
                if own:
                    self.lazy.uncertain(f"{where}:{lineno}")
                continue
            level = len(target) - len(target.lstrip("."))
            base = absolute(name, is_package, target[level:], level)
            if base:
                self.lazy.read_all(base, node, f"{where}:{lineno}")

    def _mine_source(self, node: str, origin: str, depth: int) -> None:
        """Codecs the source names by a literal; directories it puts on sys.path become entries (with the
        metadata of the distributions vendored there), before its own imports are followed."""
        key = sourcemine.cache_key(self._k.content_key(origin))
        items = self._cache.get_names(key) if key else None
        if items is None:
            try:
                items = sourcemine.encode(self._k.read_bytes(origin), origin)
            except OSError:
                return
            if key:
                self._cache.put_names(key, items)
        facts = sourcemine.decode(items, origin)
        codecnames.keep_codecs(self._k, node, facts.codecs, origin, depth)
        for directory in facts.data_dirs:  # a search root a library names: kept when small, else said
            if self._k.is_dir(directory):
                envdirs.keep_named_data_dir(self._k, self._fs, directory, node, origin)
        self._keep_quoted_files(node, origin, facts.file_names, depth)
        for directory in facts.sys_path_dirs:
            if self._finder.add_entry(directory):
                self._k.keep_path(directory, node, "sys-path-entry", origin)
                for entry in sorted(self._k.listdir(directory)):
                    if entry.endswith(".dist-info"):
                        self._k.keep_tree(posixpath.join(directory, entry), node, "dist-info")

    def _keep_quoted_files(self, node: str, origin: str, names: tuple[tuple[str, int], ...], depth: int) -> None:
        """A file of the module's own directory that its source quotes by name (`yield "activate_this.py"`, read
        with `files(__name__) / name`, or `Path(__file__).parent / "_virtualenv.py"` copied into a new venv) is
        kept, though it is a `.py` no import names or a source file package data leaves out. A module of the
        package is kept as one, its imports followed as optional."""
        if not names:
            return
        here = posixpath.dirname(origin)
        package = node[len("module:"):] if node.startswith("module:") else ""
        if not origin.endswith("/__init__.py"):
            package = package.rpartition(".")[0]
        listing = self._k.listdir(here)
        for name, lineno in names:
            path = posixpath.join(here, name)
            if name not in listing or self._k.is_kept(path) or self._k.is_dir(path):
                continue
            detail = f"{origin}:{lineno}"
            stem, _, suffix = name.rpartition(".")
            module = f"{package}.{stem}" if package and suffix == "py" and stem.isidentifier() else ""
            spec = self._finder.find(module) if module else None
            if spec is not None and spec.origin == path:
                self._k.keep_module(module, node, "named-by-string", detail, optional=True, depth=depth + 1)
            else:
                self._k.keep_path(path, node, "named-by-string", detail)

    def _related_to(self, origin: str) -> Callable[[ModuleSpec], bool] | None:
        """Whether a module belongs to a distribution that `origin`'s distribution requires."""
        site_dirs = self._places.site_dirs
        requires = self._requirements(self._dists.dist_of(origin, site_dirs))
        if not requires:
            return None

        def related(spec: ModuleSpec) -> bool:
            where = spec.origin or (spec.search[0] + "/__init__.py" if spec.search else "")
            return self._dists.dist_of(where, site_dirs) in requires
        return related

    def _requirements(self, dist: str | None) -> frozenset[str]:
        if dist not in self._requires:
            meta = self._dists.meta_dir.get(dist) if dist else None
            text = meta and (self._k.read_text(posixpath.join(meta, "METADATA"))
                             or self._k.read_text(posixpath.join(meta, "PKG-INFO")))
            self._requires[dist] = requirements(text) if text else frozenset()
        return self._requires[dist]

    def _tried_extensions(self, name: str, is_package: bool, refs) -> list[str]:
        """The non-stdlib extension files among the imports a fallback stands in for."""
        out = []
        for module, level, _names in refs:
            spec = self._finder.find(absolute(name, is_package, module, level) or "")
            if spec and spec.kind == "extension" and spec.origin and not self._places.in_stdlib(spec.origin) \
                    and self._k.is_kept(spec.origin):
                out.append(spec.origin)
        return out

    def _all_resolve(self, name: str, is_package: bool, refs) -> bool:
        for module, level, names in refs:
            base = absolute(name, is_package, module, level)
            if not base or not self._importable(base) or not self._names_resolve(base, names):
                return False
        return True

    def _names_resolve(self, package: str, names: tuple[str, ...]) -> bool:
        """`from pkg import x` raises ImportError unless x is a submodule or a name the package defines
        (`try: from . import _vendored except ImportError: import vendored`): a name that is neither a module
        in the image nor a word of the package's `__init__` does not resolve."""
        spec = self._finder.find(package)
        if spec is None or not spec.is_package or spec.kind != "source" or not spec.origin:
            return True
        source: bytes | None = None
        for item in names:
            if not item.isidentifier() or self._importable(f"{package}.{item}"):
                continue
            if source is None:
                try:
                    source = self._k.read_bytes(spec.origin)
                except OSError:
                    return True
            if not re.search(rb"\b%s\b" % re.escape(item.encode()), source):
                return False
        return True

    def _importable(self, name: str) -> bool:
        """Found in the image, and so are its own module-level imports (one level: a module that imports
        an absent package raises ImportError too, and its `except ImportError:` fallback then runs)."""
        if name in self._builtins:
            return True
        spec = self._finder.find(name)
        if spec is None:
            return False
        scan = self.scan_of(name, spec=spec)
        if scan is None:
            return True
        for ref in scan.imports:
            if ref.lazy or ref.optional or ref.fallback_for:
                continue
            base = absolute(name, spec.is_package, ref.module, ref.level)
            if base and base not in self._builtins and self._finder.find(base) is None:
                return False
        return True

    def _named_groups(self, name: str, is_package: bool, scan: ModuleScan, where: str) -> list[str]:
        """The strings behind the names an entry point's group is compared with: a constant of this module or
        one it imports by name (`from pkg.plugin import project_name`). An imported one with no literal value is
        a finding; any other name is a local or a parameter, which the callers' literals name."""
        found = []
        for ident, lineno in scan.group_names:
            value = scan.constants.get(ident)
            imported = [ref for ref in scan.imports if ident in ref.names] if value is None else []
            for ref in imported:
                base = absolute(name, is_package, ref.module, ref.level)
                other = self.scan_of(base) if base and self._finder.find(base) is not None else None
                value = other.constants.get(ident) if other is not None else None
                if value is not None:
                    break
            if value is not None:
                found.append(value)
            elif imported:
                self._k.finding(Finding("computed-entry-point-group", f"entry points are filtered by the group in "
                                        f"`{ident}`, whose value is not a literal here: their plugins are not "
                                        "kept", WARNING, f"{where}:{lineno}"))
        return found

    def scan_of(self, name: str, source: bytes | None = None, spec: ModuleSpec | None = None) -> ModuleScan | None:
        """The module's scan: from this run, from the content-keyed cache, or parsed now."""
        scan = self._scans.get(name)
        if scan is not None:
            return scan
        spec = spec or self._finder.find(name)
        key = self._k.content_key(spec.origin) if spec is not None and spec.kind == "source" and spec.origin \
            else None
        scan = self._cached_scan(key, lambda: source if source is not None else
                                 (self._finder.read_source(spec) if spec else None))
        if scan is not None:
            self._scans[name] = scan
        return scan

    def scan_file(self, path: str, source: bytes) -> ModuleScan:
        """The scan of a file run by its path (a data script, a .py the command line names), cached as module
        scans are; keyed by its bytes when the image has no layer digests."""
        return self._cached_scan(self._k.content_key(path, source), lambda: source)

    def _cached_scan(self, key: str | None, read: Callable[[], bytes | None]) -> ModuleScan | None:
        scan = self._cache.get(key) if key else None
        if scan is None:
            source = read()
            if source is None:
                return None
            scan = scan_source(source)
            if key:
                self._cache.put(key, scan)
        return scan
