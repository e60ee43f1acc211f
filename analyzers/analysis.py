"""Image -> Closure: the worklist that ties the analyzers together over one graph.

Order: entrypoint -> interpreter (ELF closure, prefix landmark, lib-dynload) -> sys.path -> startup modules
and the app's main code -> imports, hooks, package data, distributions, ctypes libraries, until nothing new
is reached -> system files -> classification of every kept file (an ELF found late gets its own closure).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections import deque
from dataclasses import dataclass, field

from faktory.analyzers import classify, findings as findings_mod, hints, observed, startup, syspath, sysfiles
from faktory.analyzers.dists import build_index
from faktory.analyzers.entrypoint import EntrypointResolver, PythonCommand
from faktory.analyzers.finder import Finder, ModuleSpec
from faktory.analyzers.graphbuild import ENTRY, GraphBuilder, fnode, mnode
from faktory.analyzers.communityhooks import community_hook, translate
from faktory.analyzers.hookapply import ImageKeeper, apply_rules
from faktory.analyzers.hookread import read_hook
from faktory.analyzers.hooks import Hook, hook_table, overridden
from faktory.analyzers.imports import PACKAGE_TREE, CodeFact, ModuleScan, scan_source
from faktory.analyzers.interpreter import builtin_modules, identify
from faktory.analyzers.model import Closure, Launch
from faktory.analyzers.options import AnalyzeOptions
from faktory.analyzers.native import NativeResolver
from faktory.analyzers.scancache import content_key, default_scan_cache
from faktory.image import DIR, Image

APP_ARG = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):[A-Za-z_][\w.]*(?:\(.*\))?$")
# Not package data at run time: code (kept as modules, or not at all), C sources, gettext sources (.mo is read)
DEV_ONLY_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi", ".pxd", ".pyx", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp", ".a",
                     ".o", ".lib", ".po", ".pot")
MAIN = "__main__"
# marshal's short ASCII strings (TYPE_SHORT_ASCII[_INTERNED], with or without FLAG_REF): length byte, then text
MARSHAL_SHORT = re.compile(rb"[\x5a\xda\x7a\xfa]([\x01-\x50])")
DOTTED_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


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


def marshal_names(data: bytes) -> set[str]:
    """Identifier-like short strings of a marshalled code object (a .pyc body)."""
    names = set()
    for m in MARSHAL_SHORT.finditer(data):
        text = data[m.end(): m.end() + m.group(1)[0]]
        if DOTTED_NAME.fullmatch(text):
            names.add(text.decode("ascii"))
    return names
CSTRING_NAME = re.compile(rb"(?<=\x00)([A-Za-z_][A-Za-z0-9_]{1,40}(?:\.[A-Za-z_][A-Za-z0-9_]{0,40}){0,4})(?=\x00)")
SYSTEM_DIRS = frozenset({"/", "/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/usr/local", "/usr/local/bin",
                         "/usr/local/sbin", "/root", "/home", "/tmp", "/etc", "/var", "/opt", "/srv", "/usr/lib",
                         "/usr/local/lib", "/usr/share"})
SYSTEM_PREFIXES = ("/usr/lib/", "/usr/share/", "/proc/", "/sys/", "/dev/", "/etc/")
# A quoted dotted name: "mysite.settings", 'django.db.backends.sqlite3', "logging.StreamHandler"
DOTTED_LITERAL = re.compile(rb"""(["'])([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\1""")
# A quoted bare name ("polls" in INSTALLED_APPS): counted only when it names a module of the app's own code
WORD_LITERAL = re.compile(rb"""(["'])([A-Za-z_][A-Za-z0-9_]*)\1""")
PACKAGE_TREE_LIMIT = 3000  # modules one named package may add: a guard against a string naming a whole framework
PATH_LITERAL = re.compile(rb"""(["'])(/[A-Za-z0-9_.+@-]+(?:/[A-Za-z0-9_.+@-]+)*)\1""")


@dataclass
class ModuleRecord:
    spec: ModuleSpec
    scan: ModuleScan | None = None
    app: bool = False  # outside the stdlib: its code facts become findings
    # Lazy depth: how many function-level imports of library code lead here (the least over all paths).
    # A stdlib module reached lazily does not have its own function-level imports followed.
    depth: int = 0


@dataclass
class Analysis:
    image: Image
    options: AnalyzeOptions = field(default_factory=AnalyzeOptions)
    gb: GraphBuilder = field(init=False)

    def __post_init__(self) -> None:
        self.gb = GraphBuilder(self.image.fs)
        self.modules: dict[str, ModuleRecord] = {}
        self.missing: dict[str, tuple[str, bool]] = {}  # module -> (first requester, optional)
        self.queue: deque[str] = deque()
        self.facts: list[tuple[str, CodeFact]] = []  # (file, fact)
        self.ctypes_libs: list[tuple[str, str, int]] = []
        self.all_dist_info = False
        self.app_from_args = False
        self.hooks = hook_table()
        self._shipped: dict[str, Hook] = {}  # module -> the hook its own package ships (`_pyinstaller/hook-X.py`)
        self._hooks_of: dict[str, tuple[Hook, ...]] = {}
        self._keeper: ImageKeeper | None = None
        self.kept_dists: set[str] = set()
        self._literal_scanned: set[str] = set()
        self._trees: set[str] = set()  # packages kept whole (named by a string)
        self.resolver: EntrypointResolver | None = None  # set by run(): finds programs on the launch PATH
        self.unresolved_main: str | None = None  # the module `python -m` runs, when the image does not have it
        self.shell_skipped: tuple[str, ...] = ()  # commands a `sh -c` chain runs before the app
        self._own_strings: set[str] = set()  # quoted names in the app's own code (entry point groups among them)
        self._entry_point_groups: set[str] = set()  # groups hooks say a library loads plugins from
        self._stdlib_names: frozenset[str] | None = None
        self._scans: dict[str, ModuleScan] = {}
        self.cache = default_scan_cache()

    # --- modules -------------------------------------------------------------------------------------
    def keep_module(self, name: str, src: str, reason: str, detail: str | None = None, optional: bool = False,
                    depth: int = 0) -> ModuleRecord | None:
        if name in self.modules:
            self.gb.edge(src, mnode(name), reason, detail)
            record = self.modules[name]
            if depth < record.depth:
                record.depth = depth
                parent = name.rpartition(".")[0]
                if parent:
                    self.keep_module(parent, mnode(name), "parent-package", depth=depth)
                if record.scan is not None:
                    self.queue.append(name)  # follow its imports again, now less lazily
            return record
        spec = self.finder.find(name)
        if spec is None and name in self.builtins:
            spec = ModuleSpec(name, "builtin", None, False)  # compiled into the interpreter: hooks still apply
        if spec is None:
            if name not in self.missing:
                self.missing[name] = (detail or src, optional)
            return None
        record = ModuleRecord(spec, app=self._is_app(spec), depth=depth)
        self.modules[name] = record
        node = mnode(name)
        self.gb.graph.add_node(node, kind=spec.kind, path=spec.origin or "", package=spec.is_package)
        self.gb.edge(src, node, reason, detail)
        parent = name.rpartition(".")[0]
        if parent:
            self.keep_module(parent, node, "parent-package", depth=depth)
        self._keep_module_files(node, spec)
        self.queue.append(name)
        return record

    def _in_stdlib(self, path: str) -> bool:
        """Under the stdlib dir but not in a site dir (prefix site-packages lives inside lib/python3.X)."""
        return path.startswith(self.interp.stdlib_dir + "/") and not any(
            path.startswith(d + "/") for d in self.sys.site_dirs)

    def _is_own_code(self, path: str) -> bool:
        """The app's own code: neither the stdlib nor an installed distribution's site dir."""
        return not any(path.startswith(d + "/") for d in (self.interp.stdlib_dir, *self.sys.site_dirs))

    def _is_app(self, spec: ModuleSpec) -> bool:
        if spec.kind == "builtin":
            return False
        origin = spec.origin or (spec.search[0] if spec.search else "")
        return not self._in_stdlib(origin)

    def _keep_module_files(self, node: str, spec: ModuleSpec) -> None:
        if spec.kind == "builtin":
            return
        if spec.kind == "namespace":
            for portion in spec.search:
                self.gb.keep_path(portion, node, "namespace-portion")
            return
        if spec.kind == "extension":
            self.native.keep_elf(spec.origin, node, "module-file")
        else:
            self.gb.keep_path(spec.origin, node, "module-file")
        if spec.cached:
            self.gb.keep_path(spec.cached, node, "bytecode-cache")
        if spec.is_package and spec.kind != "zip":
            self._keep_package_data(node, spec.search[0])
        self._note_distribution(node, spec.origin)

    def _keep_package_data(self, node: str, pkg_dir: str) -> None:
        """Non-code files of a kept package, down into data dirs but not into subpackages."""
        stack = [pkg_dir]
        while stack:
            directory = stack.pop()
            for name in sorted(self.gb.listdir(directory)):
                path = posixpath.join(directory, name)
                if name == "__pycache__":
                    continue
                if self.gb.is_dir(path):
                    inner = self.gb.listdir(path)
                    if not any(n.startswith("__init__.") for n in inner):
                        stack.append(path)
                    continue
                if name.endswith(DEV_ONLY_SUFFIXES) or self._is_extension_name(name):
                    continue
                self.gb.keep_path(path, node, "package-data")

    def _is_extension_name(self, name: str) -> bool:
        return name.endswith(".so") and (".cpython-" in name or name.endswith(".abi3.so") or "." not in name[:-3])

    def _note_distribution(self, node: str, origin: str | None) -> None:
        if not origin:
            return
        dist = self.dists.dist_of(origin, self.sys.site_dirs)
        if not dist:
            return
        self.gb.edge(node, f"dist:{dist}", "distribution")
        if dist not in self.kept_dists:
            self.kept_dists.add(dist)
            meta = self.dists.meta_dir.get(dist)
            if meta:
                self.gb.keep_tree(meta, f"dist:{dist}", "dist-info")

    # --- scanning ------------------------------------------------------------------------------------
    def drain(self) -> None:
        while self.queue:
            name = self.queue.popleft()
            record = self.modules[name]
            if record.scan is None:
                if record.spec.is_package and "." not in name:
                    self._read_shipped_hooks(name, record)
                for hook in self.hooks_for(name):
                    self.apply_hook(hook, mnode(name), record.depth)
                if record.spec.kind == "extension" and record.app:
                    self._scan_extension_strings(name, record.spec.origin)
                if record.spec.kind == "bytecode":
                    self._scan_bytecode_names(name, record.spec)
                record.scan = self._scan_of(name, spec=record.spec)
                if record.scan is None:
                    continue
            self._follow_scan(name, record.spec, record.scan, record.app, record.spec.origin or name, record.depth)

    def hooks_for(self, name: str) -> tuple[Hook, ...]:
        """faktory's own hooks for the module, then the PyInstaller hook: the one the package ships for its own
        version as it is, else the community's without the keys faktory's own ones set."""
        found = self._hooks_of.get(name)
        if found is None:
            own = self.hooks.get(name, ())
            shipped = self._shipped.get(name)
            other = shipped or (overridden(community_hook(name), own) if community_hook(name) else None)
            found = own + ((other,) if other else ())
            self._hooks_of[name] = found
        return found

    def _read_shipped_hooks(self, name: str, record: ModuleRecord) -> None:
        """Libraries that ship hooks for PyInstaller (`<pkg>/_pyinstaller/hook-X.py`) say what X needs, for
        the version in the image: read like the community's, they take the community's place for X."""
        for location in record.spec.search:
            for sub in ("_pyinstaller", "__pyinstaller"):
                hook_dir = posixpath.join(location, sub)
                for entry in sorted(self.gb.listdir(hook_dir)):
                    target = entry[5:-3]
                    if not (entry.startswith("hook-") and entry.endswith(".py")) or \
                            not (target == name or target.startswith(name + ".")) or target in self._shipped:
                        continue
                    path = posixpath.join(hook_dir, entry)
                    self._shipped[target] = translate(read_hook(self.gb.fs.read_bytes(path), target), path, "shipped")
                    self._hooks_of.pop(target, None)

    def _scan_extension_strings(self, name: str, origin: str) -> None:
        """Cython modules keep the names they import as plain strings: stdlib modules and modules of the
        extension's own package named there are kept (optional), since no source says so."""
        try:
            data = self.gb.fs.read_bytes(origin)
        except OSError:
            return
        if b"__pyx_" not in data and b"Cython" not in data:
            return
        top = name.split(".")[0]
        package = name.rpartition(".")[0]
        stdlib = self._stdlib_top_names()
        for raw in set(CSTRING_NAME.findall(data)):
            candidate = raw.decode("ascii")
            head = candidate.split(".")[0]
            if candidate in stdlib or (head == top and "." in candidate and self.finder.find(candidate)):
                self.keep_module(candidate, mnode(name), "extension-string", origin, optional=True)
            elif package and "." not in candidate and self.finder.find(f"{package}.{candidate}"):
                self.keep_module(f"{package}.{candidate}", mnode(name), "extension-string", origin, optional=True)

    def _scan_bytecode_names(self, name: str, spec: ModuleSpec) -> None:
        """A sourceless module: its code object cannot be unmarshalled across versions, but the names it
        imports are marshalled short ASCII strings; those that resolve as modules are kept (optional)."""
        try:
            data = self.gb.fs.read_bytes(spec.origin)
        except OSError:
            return
        node = mnode(name)
        for candidate in marshal_names(data[16:]):
            if candidate.split(".")[0] in startup.DEV_ONLY or candidate in ("__main__", name):
                continue
            if candidate in self.builtins or self.finder.find(candidate) is not None:
                self.keep_module(candidate, node, "bytecode-name", spec.origin, optional=True)
            elif spec.is_package or "." in name:
                package = name if spec.is_package else name.rpartition(".")[0]
                if "." not in candidate and self.finder.find(f"{package}.{candidate}") is not None:
                    self.keep_module(f"{package}.{candidate}", node, "bytecode-name", spec.origin, optional=True)

    def _stdlib_top_names(self) -> frozenset[str]:
        if self._stdlib_names is None:
            names = set()
            for directory in (self.interp.stdlib_dir, self.interp.dynload_dir or ""):
                for entry in self.gb.listdir(directory):
                    if entry.endswith(".py"):
                        names.add(entry[:-3])
                    elif entry.endswith(".so"):
                        names.add(entry.split(".")[0])
                    elif "." not in entry and "__init__.py" in self.gb.listdir(posixpath.join(directory, entry)):
                        names.add(entry)
            self._stdlib_names = frozenset(n for n in names if n.isidentifier() and n not in startup.DEV_ONLY
                                           and n not in ("this", "antigravity", "__phello__"))
        return self._stdlib_names

    def _follow_scan(self, name: str, spec: ModuleSpec | None, scan: ModuleScan, app: bool, where: str,
                     depth: int = 0) -> None:
        node = mnode(name) if name != MAIN else ENTRY
        is_package = bool(spec and spec.is_package)
        library = bool(spec and spec.origin and not self._is_own_code(spec.origin))
        stdlib = bool(spec and spec.origin and self._in_stdlib(spec.origin))
        excluded = {x for hook in self.hooks_for(name) for x in hook.excludedimports}
        for ref in scan.imports:
            detail = f"{where}:{ref.lineno}"
            base = self._absolute(name, is_package, ref.module, ref.level)
            if not base:
                continue
            if ref.fallback_for and self._all_resolve(name, is_package, ref.fallback_for):
                continue  # `except ImportError:` stand-in for imports the image has
            if excluded and ref.lazy and any(base == x or base.startswith(x + ".") for x in excluded):
                continue
            if PACKAGE_TREE in ref.names:  # import_module(f"pkg.{name}"): any module of pkg
                if not stdlib:  # the stdlib's computed imports (encodings by name, …) have hooks of their own
                    self._keep_package_tree(base, node, "dynamic-import", detail, depth)
                continue
            child = depth
            if ref.lazy and library:
                # Function-level imports of library code are followed one level deeper each time; a stdlib
                # module reached that way does not get its own followed (they serve rarely used functions).
                if base.split(".")[0] in startup.DEV_ONLY or (stdlib and depth >= 1):
                    continue
                child = depth + 1
            self.keep_module(base, node, "imports", detail, ref.optional, child)
            for attr in ref.names:
                sub = f"{base}.{attr}"
                if attr != "*" and self.finder.find(sub) is not None:
                    self.keep_module(sub, node, "imports", detail, True, child)
        for lib, lineno in scan.libraries:
            self.ctypes_libs.append((node, lib, lineno))
            self._keep_ctypes_library(node, lib, f"{where}:{lineno}")
        # a module the scan gave up on is named wherever it is: its imports are unknown
        self.facts.extend((where, fact) for fact in scan.facts if app or fact.kind == "not-scanned")
        if app and not library:
            for program, lineno in scan.programs:
                self._keep_program(program, node, f"{where}:{lineno}")
        own = where if where.startswith("/") else None
        if own and self._is_own_code(own) and own not in self._literal_scanned:
            self._literal_scanned.add(own)
            try:
                source = self.gb.fs.read_bytes(own)
            except OSError:
                source = b""
            self._keep_path_literals(node, source, own)
            self._keep_dotted_literals(node, source, own)

    def _all_resolve(self, name: str, is_package: bool, refs) -> bool:
        for module, level in refs:
            base = self._absolute(name, is_package, module, level)
            if not base or not self._importable(base):
                return False
        return True

    def _importable(self, name: str) -> bool:
        """Found in the image, and so are its own module-level imports (one level: a module that imports
        an absent package raises ImportError too, and its `except ImportError:` fallback then runs)."""
        if name in self.builtins:
            return True
        spec = self.finder.find(name)
        if spec is None:
            return False
        scan = self._scan_of(name, spec=spec)
        if scan is None:
            return True
        for ref in scan.imports:
            if ref.lazy or ref.optional or ref.fallback_for:
                continue
            base = self._absolute(name, spec.is_package, ref.module, ref.level)
            if base and base not in self.builtins and self.finder.find(base) is None:
                return False
        return True

    def _scan_of(self, name: str, source: bytes | None = None, spec: ModuleSpec | None = None) -> ModuleScan | None:
        """The module's scan: from this run, from the content-keyed cache, or parsed now."""
        scan = self._scans.get(name)
        if scan is not None:
            return scan
        spec = spec or self.finder.find(name)
        key = None
        if spec is not None and spec.kind == "source" and spec.origin:
            key = content_key(self.image, spec.origin)
            scan = self.cache.get(key) if key else None
        if scan is None:
            source = source if source is not None else (self.finder.read_source(spec) if spec else None)
            if source is None:
                return None
            scan = scan_source(source)
            if key:
                self.cache.put(key, scan)
        self._scans[name] = scan
        return scan

    @staticmethod
    def _absolute(name: str, is_package: bool, module: str, level: int) -> str | None:
        if level == 0:
            return module
        package = name if is_package else name.rpartition(".")[0]
        parts = package.split(".") if package else []
        if level - 1 > len(parts):
            return None
        parts = parts[: len(parts) - (level - 1)]
        base = ".".join(parts)
        if module:
            base = f"{base}.{module}" if base else module
        return base or None

    def _keep_ctypes_library(self, node: str, lib: str, detail: str) -> None:
        candidates = [lib] if (".so" in lib or "/" in lib) else [f"lib{lib}.so", f"lib{lib}.so.1", f"lib{lib}.so.6",
                                                                   f"lib{lib}.so.2", f"lib{lib}.so.0"]
        for dirname, _how in self.native.search_dirs(None, "/"):
            names = self.gb.listdir(dirname)
            for cand in candidates:
                if "/" in cand:
                    if self.native.keep_elf(cand, node, "ctypes", detail):
                        return
                    continue
                if cand in names:
                    self.native.keep_elf(posixpath.join(dirname, cand), node, "ctypes", detail)
                    return
            # find_library("x") matches the versioned name too (libx.so.N)
            if "/" not in lib and ".so" not in lib:
                for entry in sorted(names):
                    if entry.startswith(f"lib{lib}.so."):
                        self.native.keep_elf(posixpath.join(dirname, entry), node, "ctypes", detail)
                        return

    # --- hooks ---------------------------------------------------------------------------------------
    def apply_hook(self, hook: Hook, node: str, depth: int = 0) -> None:
        reason = f"hook:{hook.module}"
        shipped = hook.kind == "shipped"
        hook_node = f"hook:{hook.module}@image" if shipped else f"hook:{hook.module}"
        self.gb.edge(node, hook_node, "shipped-hook" if shipped else "hook", hook.source)
        for name in hook.hiddenimports:
            where = hook.where(name)
            if name.endswith(".**"):
                self._keep_package_tree(name[:-3], hook_node, reason, where, depth)
            elif name.endswith(".*"):
                self._keep_submodules(name[:-2], hook_node, reason, depth)
            elif "*" in name:
                self._keep_matching_modules(name, hook_node, reason, depth)
            else:
                self.keep_module(name, hook_node, reason, where, optional=True, depth=depth)
        record = self.modules.get(hook.module)
        if hook.datas and record and record.spec.is_package and record.spec.search:
            for pattern in hook.datas:
                for base in record.spec.search:
                    sysfiles.keep_glob(self.gb, posixpath.join(base, pattern), hook_node, reason)
        for soname in hook.binaries:
            found = self.native.find_library(soname, None, "/")
            if found:
                self.native.keep_elf(found, hook_node, reason, soname)
        for pattern in hook.sysfiles:
            sysfiles.keep_glob(self.gb, pattern, hook_node, reason)
            if self.gb.is_dir(pattern):  # a directory a PyInstaller hook names in its datas
                self.gb.keep_tree(pattern, hook_node, reason)
        if self._keeper is None:
            self._keeper = ImageKeeper(self.gb, self.finder, self.dists, self.sys.site_dirs, self.keep_module,
                                       self.native.keep_elf, self._submodules)
        apply_rules(hook, self._keeper, hook_node, reason, depth)
        if hook.all_dist_info and not self.all_dist_info:
            self.all_dist_info = True
            for dist, meta in sorted(self.dists.meta_dir.items()):
                self.gb.keep_tree(meta, hook_node, "dist-info")
        if hook.app_from_args:
            self.app_from_args = True
        self._entry_point_groups.update(hook.entry_points)
        if hook.string_imports and record and record.spec.origin and record.spec.kind == "source":
            try:
                self._keep_dotted_literals(hook_node, self.gb.fs.read_bytes(record.spec.origin), record.spec.origin,
                                           depth, own_words=False)
            except OSError:
                pass

    def keep_named(self, text: str, src: str, reason: str, detail: str, depth: int = 0) -> None:
        """A dotted name some framework imports by string: the module it names, or the module holding the
        attribute it names (`pkg.mod.Class`, `pkg.mod.Class.method`). A name that is itself a package keeps
        the whole package: an app or plugin package gets imported piece by piece (apps, models, tags, …)."""
        parts = text.split(".")
        if not parts[0].isidentifier() or self.finder.find(parts[0]) is None:
            return  # "index.html", "example.com", "v1.api": not importable, not looked at further
        for cut in range(len(parts), max(len(parts) - 3, 0), -1):
            name = ".".join(parts[:cut])
            spec = self.finder.find(name)
            if spec is None:
                continue
            if cut == len(parts) and spec.is_package:
                self._keep_package_tree(name, src, reason, detail, depth)
            else:
                self.keep_module(name, src, reason, detail, optional=True, depth=depth)
            return

    def _keep_package_tree(self, package: str, src: str, reason: str, detail: str, depth: int = 0) -> None:
        if package in self._trees:
            self.keep_module(package, src, reason, detail, optional=True, depth=depth)
            return
        self._trees.add(package)
        pending, kept = [package], 0
        while pending and kept < PACKAGE_TREE_LIMIT:
            name = pending.pop()
            self.keep_module(name, src, reason, detail, optional=True, depth=depth)
            kept += 1
            for sub in self._submodules(name):
                record = self.keep_module(sub, src, reason, detail, optional=True, depth=depth)
                kept += 1
                if record is not None and record.spec.is_package and sub not in self._trees:
                    self._trees.add(sub)
                    pending.append(sub)

    def _keep_dotted_literals(self, node: str, source: bytes, where: str, depth: int = 0,
                              own_words: bool = True) -> None:
        """Strings naming modules of the image: settings, plugin lists, dictConfig classes, task paths.
        A bare word counts when it names one of the app's own modules or packages ("polls", "settings");
        in the stdlib or site-packages a bare word ("json", "email", "test") is too often just a word."""
        dotted = {m.group(2).decode("ascii") for m in DOTTED_LITERAL.finditer(source)}
        for text in sorted(dotted):
            self.keep_named(text, node, "dotted-name", where, depth)
        if not own_words:
            return
        words = {m.group(2).decode("ascii") for m in WORD_LITERAL.finditer(source)}
        self._own_strings |= dotted | words
        for word in sorted(words):
            spec = self.finder.find(word)
            origin = spec and (spec.origin or (spec.search[0] if spec.search else None))
            if origin and spec.kind != "builtin" and self._is_own_code(origin):
                self.keep_named(word, node, "dotted-name", where, depth)

    def _keep_matching_modules(self, pattern: str, src: str, reason: str, depth: int = 0) -> None:
        """`_sysconfigdata_*`, `pkg.backend_*`: modules whose last name matches a glob."""
        parent, _, tail = pattern.rpartition(".")
        if parent:
            spec = self.finder.find(parent)
            locations = spec.search if spec and spec.is_package else ()
        else:
            locations = tuple(self.finder.entries)
        suffixes = tuple(self.finder.ext_suffixes) + (".py", ".pyc")
        for location in locations:
            for entry in sorted(self.gb.listdir(location)):
                for suffix in suffixes:
                    if entry.endswith(suffix):
                        name = entry[: -len(suffix)]
                        if fnmatch.fnmatchcase(name, tail) and "." not in name:
                            self.keep_module(f"{parent}.{name}" if parent else name, src, reason, optional=True,
                                             depth=depth)
                        break

    def _keep_submodules(self, package: str, src: str, reason: str, depth: int = 0) -> None:
        spec = self.finder.find(package)
        if spec is None or not spec.is_package:
            return
        self.keep_module(package, src, reason, optional=True, depth=depth)
        for sub in self._submodules(package):
            self.keep_module(sub, src, reason, optional=True, depth=depth)

    def _submodules(self, package: str) -> list[str]:
        """The direct submodules of a package the image has (files and subpackages), by dotted name."""
        spec = self.finder.find(package)
        if spec is None or not spec.is_package:
            return []
        suffixes = tuple(self.finder.ext_suffixes) + (".py", ".pyc")
        found: list[str] = []
        for location in spec.search:
            for entry in sorted(self.gb.listdir(location)):
                if entry.startswith("__"):
                    continue
                sub = None
                for suffix in suffixes:
                    if entry.endswith(suffix):
                        sub = entry[: -len(suffix)]
                        break
                if sub is None and self.gb.is_dir(posixpath.join(location, entry)):
                    sub = entry
                name = f"{package}.{sub}" if sub else ""
                if sub and sub.isidentifier() and name not in found and self.finder.find(name) is not None:
                    found.append(name)
        return found

    # --- the whole run -------------------------------------------------------------------------------
    def run(self) -> Closure:
        image, gb = self.image, self.gb
        cfg = image.config
        hinted, self.extra_findings = hints.all_hints(self.options, cfg.labels)
        self.hooks = hints.with_user_hooks(self.hooks, self.options.hooks)
        self.resolver = EntrypointResolver(gb, cfg.argv, cfg.env_map, cfg.working_dir)
        ep = self.resolver.resolve()  # afterwards its env and PATH lookups are the launch's
        self.shell_skipped = ep.skipped
        self.native = NativeResolver(gb, ep.env)
        for path, reason in ep.hops:  # shells, env, init shims, wrapper scripts on the way to python
            self.native.keep_elf(path, ENTRY, reason)
        info = self.native.keep_elf(ep.interpreter, ENTRY, "interpreter")
        self.interp = interp = identify(gb, self.native, ep.interpreter, info)
        inode = fnode(interp.real_path)
        gb.keep_path(posixpath.join(interp.stdlib_dir, "os.py"), inode, "landmark")
        if interp.dynload_dir:
            gb.keep_path(interp.dynload_dir, inode, "lib-dynload")
        sysfiles.keep_runtime_files(gb, inode, ep.env, interp.libc)

        cmd = ep.python
        self.sys = sp = syspath.compute(gb, interp, cmd, ep.env, ep.workdir)
        if sp.venv_cfg:
            gb.keep_path(sp.venv_cfg, inode, "pyvenv.cfg")
        for pth in sp.pth_files:
            gb.keep_path(pth, inode, "pth")
        entries = list(sp.entries)
        if any(APP_ARG.match(a) for a in cmd.args) and ep.workdir not in entries:
            entries.insert(0, ep.workdir)  # servers (uvicorn, gunicorn) put the cwd first to import `mod:app`
        major, minor, _ = interp.version
        optimize = 2 if "-OO" in cmd.flags or cmd.flags.count("-O") >= 2 else (1 if "-O" in cmd.flags else 0)
        self.finder = Finder(gb, entries, interp.abi_tag, f"cpython-{major}{minor}", optimize)
        self.dists = build_index(gb, sp.site_dirs)
        self.builtins = builtin_modules(gb, interp)

        for name in startup.startup_modules(interp.version, sp.no_site):
            self.keep_module(name, inode, "startup")
        if not sp.no_site:
            for name in startup.OPTIONAL_CUSTOMIZE:
                self.keep_module(name, inode, "startup", optional=True)
            for pth, lineno, line in sp.pth_imports:  # site exec()s these lines
                for ref in scan_source(line.encode()).imports:
                    if ref.level == 0 and ref.module:
                        self.keep_module(ref.module, fnode(pth), "pth-import", f"{pth}:{lineno}", optional=True)
        script = self._keep_main(cmd, ep.workdir)
        self.drain()
        if self.app_from_args:
            for arg in cmd.args:
                m = APP_ARG.match(arg)
                if m:
                    self.keep_module(m.group(1), ENTRY, "app-argument", arg, optional=True)
            self.drain()
        if ep.workdir and ep.workdir != "/":
            gb.keep_path(ep.workdir, ENTRY, "workdir")
        self._keep_app_root(script, ep.workdir)
        self._keep_env_paths(ep.env)
        self._keep_argument_paths(cmd.args, ep.workdir)
        self.drain()
        self._keep_entry_point_plugins()
        self.drain()
        hints.apply(hinted, hints.keeper_for(self))
        self.drain()
        for path in sorted(self.finder.probed):
            gb.keep_path(path, ENTRY, "finder-probe")
        self._classify_until_stable()
        observation, found = observed.contribute(gb, image, self.options.observe)  # None unless asked
        if observation is not None:
            self.extra_findings += found
            self._classify_until_stable()
        self.extra_findings += hints.exclude(gb.graph, hinted)

        launch = self._launch(ep, cmd, script, sp)
        closure = Closure(
            image_ref=image.ref, image_digest=image.digest, interpreter=interp, launch=launch, graph=gb.graph,
            sys_path=tuple(sp.entries), observation=observation,
        )
        closure.findings = findings_mod.collect(self, closure, image) + self.extra_findings
        self.cache.flush()
        return closure

    def _keep_main(self, cmd: PythonCommand, workdir: str) -> str | None:
        if cmd.module:
            self.keep_module("runpy", ENTRY, "python -m")
            record = self.keep_module(cmd.module, ENTRY, "python -m", cmd.module)
            if record is None:
                self.unresolved_main = f"python -m {cmd.module}: no sys.path entry provides {cmd.module}"
                self.missing.pop(cmd.module, None)  # said once, as the entrypoint's problem
            if record and record.spec.is_package:
                self.keep_module(f"{cmd.module}.__main__", ENTRY, "python -m", cmd.module)
            return None
        if cmd.command is not None:
            self._follow_scan(MAIN, None, scan_source(cmd.command.encode()), True, "<-c>")
            return None
        if cmd.script:
            path = cmd.script if cmd.script.startswith("/") else posixpath.normpath(posixpath.join(workdir, cmd.script))
            if self.gb.is_dir(path):
                self.gb.keep_path(path, ENTRY, "script")
                self.keep_module("runpy", ENTRY, "python DIR")
                self.keep_module("__main__", ENTRY, "python DIR", path)  # sys.path[0] is the dir
                return path
            real = self.gb.keep_path(path, ENTRY, "script")
            if real is None:
                from faktory.analyzers.entrypoint import UnsupportedEntrypoint

                raise UnsupportedEntrypoint(f"the entrypoint's script {path} is not in the image")
            source = self.gb.fs.read_bytes(real)
            if source[:4] == b"PK\x03\x04":
                self.keep_module("runpy", ENTRY, "python ZIP")
                self.keep_module("__main__", ENTRY, "python ZIP", path)  # sys.path[0] is the zip
                return path
            self._follow_scan(MAIN, None, scan_source(source), True, path)
            return path
        return None

    def _keep_app_root(self, script: str | None, workdir: str) -> None:
        """The app's own directory (the script's, else the working dir) is kept whole: templates, config,
        plugins loaded by file name. Not when it is a system dir, the stdlib or a site dir."""
        root = posixpath.dirname(script) if script else workdir
        if not root or root in SYSTEM_DIRS or root.startswith(SYSTEM_PREFIXES) or not self._is_own_code(root + "/x"):
            return
        real = self.gb.keep_path(root, ENTRY, "app-root")
        if real is None:
            return
        for entry in self.gb.fs.walk(real):
            parts = entry.path[len(real):].split("/")
            # Hidden directories (.git, .cache, .venv of a dev machine) are not the app; hidden files are kept
            # (`.env` read by python-dotenv or pydantic-settings), bar VCS and editor droppings.
            if any(p.startswith(".") and p not in (".", "") for p in parts[:-1]) or "__pycache__" in parts:
                continue
            if parts[-1].startswith((".git", ".DS_Store", ".dockerignore", ".coverage")):
                continue
            if entry.path != real and entry.kind != DIR:
                self.gb.keep_path(entry.path, fnode(real), "app-root")
                if entry.path.endswith(".py"):
                    self._keep_sibling_pyc(entry.path)

    def _keep_sibling_pyc(self, path: str) -> None:
        major, minor, _ = self.interp.version
        directory, filename = posixpath.split(path)
        cached = posixpath.join(directory, "__pycache__", f"{filename[:-3]}.cpython-{major}{minor}.pyc")
        if self.gb.is_file(cached):
            self.gb.keep_path(cached, fnode(path), "bytecode-cache")

    def _keep_entry_point_plugins(self) -> None:
        """Plugins loaded through entry points (`entry_points(group="myapp.plugins")`): for a group the app's
        code names, or a hook says its library reads, every module a distribution lists there is kept, with
        that distribution's metadata (importlib.metadata finds the entry points there)."""
        wanted = (self._own_strings | self._entry_point_groups) - LAUNCHER_GROUPS
        if not wanted:
            return
        for dist, meta in sorted(self.dists.meta_dir.items()):
            path = posixpath.join(meta, "entry_points.txt")
            if not self.gb.is_file(path):
                continue
            for group, module in parse_entry_points(self.gb.fs.read_bytes(path).decode("utf-8", "replace")):
                if group in wanted:
                    self.gb.keep_tree(meta, ENTRY, "entry-point")
                    self.keep_module(module, ENTRY, "entry-point", f"{group} in {path}", optional=True)

    def _keep_program(self, program: str, node: str, detail: str, seen: frozenset[str] = frozenset()) -> None:
        """A program the app's own code starts by name (`subprocess.run(["git", …])`): it and its libraries are
        kept, found on the launch PATH as the shell would; a shell command line keeps the shell too."""
        assert self.resolver is not None
        for name in program.split():  # "sh git": the shell, then the program
            path = self.resolver.which(name)
            if path is None or path in seen:
                continue
            info = self.native.keep_elf(path, node, "subprocess", detail)
            if info is None and self.gb.keep_path(path, node, "subprocess", detail):
                head = self.gb.fs.read_bytes(path)[:256]
                if head.startswith(b"#!"):  # a script: its interpreter runs it
                    interp = head[2:].split(b"\n", 1)[0].split()
                    if interp:
                        self._keep_program(interp[0].decode("utf-8", "replace"), node, detail, seen | {path})

    def _keep_argument_paths(self, args, workdir: str) -> None:
        """Files the command line names (`--config /etc/app/config.yaml`, `--rules=rules.yaml`)."""
        for arg in args:
            value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
            if not value or value.startswith("-") or "\0" in value:
                continue
            path = value if value.startswith("/") else posixpath.normpath(posixpath.join(workdir or "/", value))
            if self.gb.is_file(path):
                self.gb.keep_path(path, ENTRY, "argument", arg)

    def _keep_env_paths(self, env: dict[str, str]) -> None:
        """An Env value naming a file of the image (CONFIG=/etc/app.yaml) is kept, and so is one naming a
        module (DJANGO_SETTINGS_MODULE=mysite.settings, a CELERY_CONFIG_MODULE): frameworks import those."""
        for key, value in sorted(env.items()):
            if value.startswith("/") and ":" not in value and self.gb.is_file(value):
                self.gb.keep_path(value, ENTRY, f"env:{key}")
            elif DOTTED_LITERAL.fullmatch(f'"{value}"'.encode("utf-8", "replace")):
                self.keep_named(value, ENTRY, f"env:{key}", f"{key}={value}")

    def _keep_path_literals(self, node: str, source: bytes, where: str) -> None:
        """Absolute paths written in the app's own code that name files of the image."""
        for m in PATH_LITERAL.finditer(source):
            path = m.group(2).decode("utf-8", "replace")
            if path.startswith(("/proc/", "/sys/", "/dev/", "/tmp/")) or path in ("/", "/tmp"):
                continue
            if self.gb.is_file(path):
                self.gb.keep_path(path, node, "path-literal", where)

    def _classify_until_stable(self) -> None:
        """Every kept file gets its magic; ELF files kept as plain files get their own DT_NEEDED closure."""
        done: set[str] = set()
        while True:
            todo = [p for p in self.gb.kept_files() if p not in done]
            if not todo:
                return
            for path in todo:
                done.add(path)
                magic_text, is_elf = classify.describe(self.gb.fs, path)
                node = self.gb.graph.nodes[fnode(path)]
                node["magic"] = magic_text
                if is_elf:
                    self.native.keep_elf(path, fnode(path), "ELF")

    def _launch(self, ep, cmd: PythonCommand, script: str | None, sp) -> Launch:
        # The path the image runs it by (a symlink like /usr/bin/python3 is kept): sys.executable and a venv's
        # pyvenv.cfg lookup stay as in the container.
        exe = self.interp.path
        argv = [exe, *cmd.flags]
        for x in cmd.xoptions:
            argv += ["-X", x]
        if cmd.module:
            argv += ["-m", cmd.module]
        elif cmd.command is not None:
            argv += ["-c", cmd.command]
        elif script:
            argv.append(script)
        argv += list(cmd.args)
        return Launch(argv=tuple(argv), env=dict(ep.env), workdir=ep.workdir or "/", script=script,
                      module=cmd.module, flags=tuple(cmd.flags))


def analyze(image: Image, options: AnalyzeOptions | None = None) -> Closure:
    return Analysis(image, options or AnalyzeOptions()).run()
