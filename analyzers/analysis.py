"""Image -> Closure: a worklist of modules over one graph, and the contributors that feed it.

The worklist keeps a module (its files, bytecode, package data, distribution) and queues it; draining the
queue hands each module to the contributors. Each contributor changes the analysis only through the narrow
keeper at the bottom of this file (keeper.Keeper and the few extra calls some of them declare):

- interpreter (interpreter.keep_interpreter, syspath.keep_sys_path_files, startup.keep_startup);
- imports (importfollow.Imports), module names by string (modnames.ModuleNames);
- native code (nativecode: extension string tables, ctypes libraries);
- own and community hooks (ownhooks.apply_hook over communityhooks.HookChoice, hookapply for their rules);
- the app (appfiles.AppFiles: what the command runs, its root, argument and Env paths, programs);
- entry-point plugins (plugins), user hints (hints), observation (observed);
- system files (sysfiles, the finder's probes, classify.classify_until_stable: an ELF found late gets its
  own closure).

Order: entrypoint -> interpreter -> sys.path -> startup modules and the app's main code -> drain -> app
arguments, root, Env and argument paths -> drain -> plugins -> hints -> system files -> observation.
"""

from __future__ import annotations

import dataclasses

import posixpath
import shlex
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from faktory.analyzers import bundledwheels, classify, datanames, findings as findings_mod, hints, localedata, \
    nativecode, observed, plugins, runas, sourcemine, startup, syspath, sysfiles
from faktory.analyzers.dists import build_index
from faktory.analyzers.appfiles import AppFiles, needs_cwd_on_path
from faktory.analyzers.entrypoint import SHELL_BUILTINS, EntrypointResolver, UnsupportedEntrypoint
from faktory.analyzers.finder import Finder, ModuleSpec
from faktory.analyzers.graphbuild import ENTRY, GraphBuilder, fnode, mnode
from faktory.analyzers.communityhooks import HookChoice
from faktory.analyzers.hookapply import ImageKeeper
from faktory.analyzers.hooks import hook_table
from faktory.analyzers.imports import ModuleScan
from faktory.analyzers.importfollow import Imports, Places
from faktory.analyzers.interpreter import builtin_modules, keep_interpreter
from faktory.analyzers.launch import build_launch
from faktory.analyzers.model import INFO, WARNING, Closure, Finding
from faktory.analyzers.modnames import ModuleNames
from faktory.analyzers.options import AnalyzeOptions
from faktory.analyzers.ownhooks import HookEffects, apply_hook
from faktory.analyzers.native import NativeResolver
from faktory.analyzers.prescan import ScanPool
from faktory.analyzers.scancache import FileFacts, content_key, default_scan_cache
from faktory.image import Image

ACCOUNT_FILE_LIMIT = 4 << 20  # /etc/passwd of a big LDAP-fed image is still far below this
# Not package data at run time: code (kept as modules, or not at all), C sources, gettext sources (.mo is read)
DEV_ONLY_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi", ".pxd", ".pyx", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp", ".a",
                     ".o", ".lib", ".po", ".pot")


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
        self.effects = HookEffects()
        self.kept_dists: set[str] = set()
        self.resolver: EntrypointResolver | None = None  # set by run(): finds programs on the launch PATH
        self.shell_skipped: tuple[str, ...] = ()  # commands a `sh -c` chain runs besides the app
        self.chain_analysed: set[str] = set()  # those of them whose needs are kept
        self.chain_absent: dict[str, str] = {}  # command -> its program, which the image lacks (made as it runs)
        self.cache = ScanPool(default_scan_cache())  # the scan cache, and modules parsed on the other cores
        self.found: list[Finding] = []  # what the analysis could not resolve (computed names, unreadable code)
        # (path, finding): said only if the path is not kept in the end (another rule may keep a dir whole)
        self.found_unless_kept: list[tuple[str, Finding]] = []
        self.keeper = _Keeper(self)

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
        record = ModuleRecord(spec, app=self.places.is_app(spec), depth=depth)
        self.modules[name] = record
        node = mnode(name)
        self.gb.graph.add_node(node, kind=spec.kind, path=spec.origin or "", package=spec.is_package)
        self.gb.edge(src, node, reason, detail)
        parent = name.rpartition(".")[0]
        if parent:
            self.keep_module(parent, node, "parent-package", depth=depth)
        self._keep_module_files(node, spec)
        self.queue.append(name)
        if spec.kind == "source" and spec.origin:
            key = content_key(self.image, spec.origin)
            mine = None if self.places.in_stdlib(spec.origin) else sourcemine.cache_key(key)  # as Imports.follow
            self.cache.prefetch(key, lambda: self.finder.read_source(spec), spec.origin, mine)
        return record

    def _keep_module_files(self, node: str, spec: ModuleSpec) -> None:
        if spec.kind == "builtin":
            return
        if spec.kind == "namespace":
            for portion in spec.search:
                self.gb.keep_path(portion, node, "namespace-portion")
            return
        if spec.kind == "extension":
            self.native.want_strings(spec.origin)  # mined in the same read as its headers
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
        stack, seen, top = [pkg_dir], set(), None
        while stack:
            directory = stack.pop()
            try:
                real = self.gb.realpath(directory)
            except Exception:  # a loop the resolver gives up on: the path, once
                real = directory
            top = top or real
            # a symlinked dir back up (`loop -> .`) is walked once; one to an ancestor (`up -> ..`, `root -> /`)
            # holds the package, not its data
            if real in seen or (real != top and (top + "/").startswith(real.rstrip("/") + "/")):
                continue
            seen.add(real)
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
                entry = self.gb.fs.stat(path)
                if name.endswith(".whl") and entry is not None:
                    self._keep_unpacked(path, entry.size, node, bundledwheels.REASON)
                if entry is not None and datanames.is_config(name, entry.size) and node.startswith("module:"):
                    datanames.keep_config_names(self.keeper, node[len("module:"):], path,
                                                self.gb.fs.read_bytes(path).decode("utf-8", "replace"), node)

    def _keep_zipapp_imports(self, path: str) -> None:
        """`python app.pyz`: what the archive's code imports from the stdlib, a bootstrap's unpacked code too, and
        the programs it starts (the archive is the app's own code)."""
        entry = self.gb.fs.stat(path)
        if entry is not None:
            node = fnode(path)
            self._keep_unpacked(path, entry.size, node, bundledwheels.ZIPAPP_REASON,
                                lambda program, where: self.app.keep_program(program, node, where), WARNING)

    def _keep_unpacked(self, path: str, size: int, node: str, reason: str,
                       keep_program: Callable[[str, str], None] | None = None, unread_severity: str = INFO) -> None:
        """What the image must give a zip's code once it is unpacked (bundledwheels). A library its native code
        needs is the image's, found as ld.so would (no RPATH: the zip's own `.libs/` are in the zip); a missing
        one is said as any unresolved DT_NEEDED."""
        def keep_library(soname: str, where: str) -> None:
            found = self.native.find_library(soname, None, "/")
            if found is not None:
                self.native.keep_elf(found, node, "DT_NEEDED", where)
            else:
                self.native.unresolved.append((where, soname))

        needs = bundledwheels.Unpacked(self._is_stdlib_module, keep_library, keep_program, reason, self.gb.fs.open,
                                       unread_severity)
        bundledwheels.keep_archive_stdlib_imports(self.keeper, self.cache, content_key(self.image, path), path, size,
                                                  node, needs)

    def _is_stdlib_module(self, name: str) -> bool:
        spec = self.finder.find(name)
        return name in self.builtins or (spec is not None and not self.places.is_app(spec))

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
                    self.hooks.read_shipped(name, record.spec.search)
                for hook in self.hooks.hooks_for(name):
                    apply_hook(hook, self.keeper, self.rules, self.effects, mnode(name), record.depth)
                if record.spec.kind == "extension" and record.spec.origin:
                    is_app = self.places.is_app
                    stdlib = None if record.app else (lambda found: found.kind == "builtin" or not is_app(found))
                    names = nativecode.mine_extension(self.keeper, self.cache,
                                                      content_key(self.image, record.spec.origin), name, record.spec,
                                                      record.depth, record.app, stdlib,
                                                      self.native.strings_of(record.spec.origin))
                    self.imports.read_native_names(names, mnode(name))
                if record.spec.kind == "bytecode":
                    self.imports.keep_bytecode_names(name, record.spec)
                record.scan = self.imports.scan_of(name, spec=record.spec)
                if record.scan is None:
                    continue
            self.imports.follow(name, record.spec, record.scan, record.app, record.spec.origin or name, record.depth)

    # --- the whole run -------------------------------------------------------------------------------
    def run(self) -> Closure:
        try:
            return self._run()
        finally:
            self.cache.close()  # also on Ctrl-C: no scan worker outlives the analysis

    def _run(self) -> Closure:
        image, gb = self.image, self.gb
        cfg = image.config
        hinted, self.extra_findings = hints.all_hints(self.options, cfg.labels)
        self.hooks = HookChoice(hints.with_user_hooks(hook_table(), self.options.hooks), self.keeper)
        self.resolver = EntrypointResolver(gb, cfg.argv, cfg.env_map, cfg.working_dir)
        ep = self.resolver.resolve()  # afterwards its env and PATH lookups are the launch's
        image_user = runas.resolve_user(cfg.user or "", self._account_file)
        user = runas.resolve_user(ep.user, self._account_file) if ep.user else image_user  # gosu drops last
        if user is not None:  # the app looks itself up (getpass, pwd) as in the container
            for path in (runas.PASSWD, runas.GROUP):
                if gb.is_file(path):
                    gb.keep_path(path, ENTRY, "image-user")
        self.shell_skipped = ep.skipped
        self.file_facts = FileFacts(self.cache, image)  # ELF headers and descriptions, by content
        self.native = NativeResolver(gb, ep.env, self.file_facts)
        self.interp = interp = keep_interpreter(gb, self.native, ep.hops, ep.interpreter, ep.env)
        inode = fnode(interp.real_path)
        cmd = ep.python
        self.sys = sp = syspath.compute(gb, interp, cmd, ep.env, ep.workdir)
        syspath.keep_sys_path_files(gb, inode, sp)
        entries = list(sp.entries)
        if needs_cwd_on_path(cmd.args) and ep.workdir not in entries:
            entries.insert(0, ep.workdir)
        major, minor, _ = interp.version
        optimize = 2 if "-OO" in cmd.flags or cmd.flags.count("-O") >= 2 else (1 if "-O" in cmd.flags else 0)
        self.finder = Finder(gb, entries, interp.abi_tag, f"cpython-{major}{minor}", optimize)
        self.dists = build_index(gb, sp.site_dirs)
        self.builtins = builtin_modules(gb, interp)
        self.places = Places(interp.stdlib_dir, tuple(sp.site_dirs))
        self.app = AppFiles(self.keeper, gb.fs, self.places.is_own_code, f"cpython-{major}{minor}")
        self.imports = Imports(self.keeper, gb.fs, self.finder, self.builtins, self.places, self.dists, self.cache,
                               self.app)
        self.app.follow_code, self.app.scan_file = self.imports.follow_main, self.imports.scan_file
        self.app.keep_archive_code = self._keep_zipapp_imports
        self.app.interpreter = interp.real_path
        self.names = ModuleNames(self.keeper, self.finder)
        self.rules = ImageKeeper(gb, self.finder, self.dists, sp.site_dirs, self.keep_module, self.native.keep_elf,
                                 self.names.submodules)

        startup.keep_startup(self.keeper, inode, interp.version, sp)
        script = self.app.keep_main(cmd, ep.workdir, self.imports.follow_main, self.missing)
        self.drain()
        if self.effects.app_from_args:
            self.app.keep_app_arguments(cmd.args)
            self.drain()
        if ep.workdir and ep.workdir != "/":
            gb.keep_path(ep.workdir, ENTRY, "workdir")
        for volume in cfg.volumes:  # docker run seeds the volume with what the image has there: the app's data
            if volume != "/" and gb.is_dir(volume):
                gb.keep_tree(volume, ENTRY, "volume")
        self.app.keep_app_root(script, ep.workdir)
        self.app.keep_env_paths(ep.env)
        self.app.keep_argument_paths(cmd.args, ep.workdir)
        self.drain()
        self._keep_shell_chain(ep)
        self.drain()
        self._keep_entry_point_plugins()
        hints.apply(hinted, hints.keeper_for(self.keeper, gb.fs, self.dists, self.extra_findings.append))
        self.drain()
        for path in sorted(self.finder.probed):  # what the import system stats on the way (system files)
            gb.keep_path(path, ENTRY, "finder-probe")
        classify.classify_until_stable(gb, self.native.keep_elf, self.file_facts)
        observation, found = observed.contribute(gb, image, self.options.observe)  # None unless asked
        if observation is not None:
            self.extra_findings += found
            classify.classify_until_stable(gb, self.native.keep_elf, self.file_facts)
        own = localedata.own_texts(gb.graph, gb.fs, self.places.is_own_code, cfg.argv)
        self.extra_findings += localedata.trim(gb.graph, ep.env, own, [h.value for h in hinted if h.kind == "locale"],
                                               self.places.is_own_code)
        self.extra_findings += hints.exclude(gb.graph, hinted)

        launch = dataclasses.replace(build_launch(self.interp.path, ep.env, ep.workdir, cmd, script), user=user)
        if ep.skipped and all(text in self.chain_analysed for text in ep.skipped):
            launch = dataclasses.replace(launch, shell_argv=tuple(cfg.argv), shell_user=image_user)
        closure = Closure(
            image_ref=image.ref, image_digest=image.digest, interpreter=interp, launch=launch, graph=gb.graph,
            sys_path=tuple(sp.entries), observation=observation, site_dirs=tuple(sp.site_dirs),
        )
        closure.findings = findings_mod.collect(self, closure, image) + self.extra_findings \
            + self.imports.lazy.findings()
        self.cache.flush()
        return closure

    def _account_file(self, path: str) -> str | None:
        """/etc/passwd or /etc/group as text, at most ACCOUNT_FILE_LIMIT bytes of it (image contents are untrusted)."""
        if not self.gb.is_file(path):
            return None
        with self.gb.fs.open(path) as fh:
            return fh.read(ACCOUNT_FILE_LIMIT).decode("utf-8", "replace")

    def _keep_shell_chain(self, ep) -> None:
        """The commands a `sh -c` chain runs before the app (`alembic upgrade head && exec uvicorn …`): a
        target that keeps the shell runs them, so their programs, and a Python command's modules and files,
        are kept too. One the analysis cannot follow (another interpreter) stays a shell-chain finding."""
        for text in ep.skipped:
            try:
                words = shlex.split(text)
            except ValueError:
                words = text.split()
            try:
                sub = EntrypointResolver(self.gb, tuple(words), dict(ep.env), ep.workdir).resolve()
            except UnsupportedEntrypoint:  # not Python: a program the shell starts (mkdir, a migration tool)
                if words and "=" not in words[0] and words[0] not in SHELL_BUILTINS \
                        and self.resolver.which(words[0]) is None:
                    self.chain_absent[text] = words[0]
                self.app.keep_program(words[0], ENTRY, f"sh -c: {text}")
                self.chain_analysed.add(text)
                continue
            if self.gb.realpath(sub.interpreter) != self.interp.real_path:
                continue
            for path, reason in sub.hops:
                self.gb.keep_path(path, ENTRY, reason)
            try:
                self.app.keep_main(sub.python, sub.workdir, self.imports.follow_main, {})
            except UnsupportedEntrypoint:  # its script is not in the image: the shell's command fails there too
                continue
            self.app.keep_argument_paths(sub.python.args, sub.workdir)
            self.chain_analysed.add(text)

    def _keep_entry_point_plugins(self) -> None:
        """Until no new group is named: a plugin may itself load plugins of another group (plaster's loader
        entry point brings PasteDeploy, whose code names `paste.app_factory` and `paste.server_runner`)."""
        seen: set[str] = set()
        while True:
            # a group a kept library names hangs its plugins below that library (the app's and hooks' below the entry)
            named = self.app.own_strings | self.effects.entry_point_groups
            groups = {**self.imports.library_strings, **dict.fromkeys(named, ENTRY)}
            fresh = {group: node for group, node in groups.items() if group not in seen}
            if not fresh:
                return
            plugins.keep_entry_point_plugins(self.keeper, self.dists.meta_dir, fresh)
            seen.update(fresh)
            self.drain()

class _Keeper:
    """The narrow surface contributors get (keeper.Keeper), over this analysis."""

    def __init__(self, analysis: Analysis) -> None:
        self._a = analysis

    def keep_module(self, name: str, src: str, reason: str, detail: str | None = None, optional: bool = False,
                    depth: int = 0) -> ModuleRecord | None:
        return self._a.keep_module(name, src, reason, detail, optional, depth)

    def keep_path(self, path: str, src: str, reason: str, detail: str | None = None) -> str | None:
        return self._a.gb.keep_path(path, src, reason, detail)

    def keep_elf(self, path: str, src: str, reason: str, detail: str | None = None):
        return self._a.native.keep_elf(path, src, reason, detail)

    def keep_tree(self, path: str, src: str, reason: str) -> None:
        self._a.gb.keep_tree(path, src, reason)

    def read_text(self, path: str) -> str | None:
        gb = self._a.gb
        return gb.fs.read_bytes(path).decode("utf-8", "replace") if gb.is_file(path) else None

    def keep_named(self, text: str, src: str, reason: str, detail: str, depth: int = 0) -> None:
        self._a.names.keep_named(text, src, reason, detail, depth)

    def keep_package_tree(self, package: str, src: str, reason: str, detail: str | None, depth: int = 0) -> None:
        self._a.names.keep_package_tree(package, src, reason, detail, depth)

    def keep_submodules(self, package: str, src: str, reason: str, depth: int = 0) -> None:
        self._a.names.keep_submodules(package, src, reason, depth)

    def submodules(self, package: str) -> list[str]:
        return self._a.names.submodules(package)

    def keep_matching_modules(self, pattern: str, src: str, reason: str, depth: int = 0) -> None:
        self._a.names.keep_matching_modules(pattern, src, reason, depth)

    def link(self, src: str, dst: str, reason: str, detail: str | None = None) -> None:
        self._a.gb.edge(src, dst, reason, detail)

    def kept(self, name: str) -> ModuleSpec | None:
        record = self._a.modules.get(name)
        return record.spec if record else None

    def keep_glob(self, pattern: str, src: str, reason: str) -> None:
        sysfiles.keep_glob(self._a.gb, pattern, src, reason)

    def find_library(self, soname: str) -> str | None:
        return self._a.native.find_library(soname, None, "/")

    def dist_metas(self) -> dict[str, str]:
        return self._a.dists.meta_dir

    def keep_strings_of(self, path: str, src: str, depth: int) -> None:
        try:
            source = self._a.gb.fs.read_bytes(path)
        except OSError:
            return
        self._a.app.keep_strings(src, source, path, depth, own_words=False)

    def mark_import(self, src: str, module: str, detail: str, how: str) -> None:
        self._a.gb.mark_import(src, mnode(module), detail, how)

    def mark_fallback(self, origin: str, module: str) -> None:
        self._a.gb.graph.nodes[fnode(origin)].setdefault("fallback", module)

    def is_kept(self, path: str) -> bool:
        return fnode(path) in self._a.gb.graph

    def excluded_imports(self, name: str) -> set[str]:
        return {x for hook in self._a.hooks.hooks_for(name) for x in hook.excludedimports}

    def library_dirs(self) -> list[str]:
        return [d for d, _how in self._a.native.search_dirs(None, "/")]

    def content_key(self, path: str, data: bytes | None = None) -> str | None:
        return content_key(self._a.image, path, data)

    def is_file(self, path: str) -> bool:
        return self._a.gb.is_file(path)

    def realpath(self, path: str) -> str:
        return self._a.gb.realpath(path)

    def which(self, program: str) -> str | None:
        assert self._a.resolver is not None
        return self._a.resolver.which(program)

    def programs_named(self, prefix: str) -> list[str]:
        assert self._a.resolver is not None
        return self._a.resolver.programs_named(prefix)

    def read_bytes(self, path: str) -> bytes:
        return self._a.gb.fs.read_bytes(path)

    def listdir(self, path: str) -> frozenset[str]:
        return self._a.gb.listdir(path)

    def is_dir(self, path: str) -> bool:
        return self._a.gb.is_dir(path)

    def find(self, name: str) -> ModuleSpec | None:
        return self._a.finder.find(name)

    def finding(self, finding: Finding) -> None:
        self._a.found.append(finding)

    def finding_unless_kept(self, path: str, finding: Finding) -> None:
        self._a.found_unless_kept.append((path, finding))


def analyze(image: Image, options: AnalyzeOptions | None = None) -> Closure:
    return Analysis(image, options or AnalyzeOptions()).run()
