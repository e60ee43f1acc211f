"""The app itself as a contributor: what the command line runs (`-m mod`, `-c code`, a script, a dir or zip),
the app modules a server or runner is told to import (`pkg.app:create()`), the app's own directory, files and
modules named by the command line or the Env, programs the app's code starts by name, and what the app's own
source names by string (absolute paths of image files, dotted module names)."""

from __future__ import annotations

import posixpath
import re
from typing import Callable, Protocol

from faktory.analyzers import bundledwheels, envdirs, helperdirs, strings
from faktory.analyzers.entrypoint import PythonCommand, UnsupportedEntrypoint
from faktory.analyzers.finder import ModuleSpec
from faktory.analyzers.graphbuild import ENTRY, fnode
from faktory.analyzers.imports import ModuleScan, scan_source
from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import INFO, WARNING, Finding
from faktory.image import DIR

APP_ARG = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):[A-Za-z_][\w.]*(?:\(.*\))?$")
SYSTEM_DIRS = frozenset({"/", "/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/usr/local", "/usr/local/bin",
                         "/usr/local/sbin", "/root", "/home", "/tmp", "/etc", "/var", "/opt", "/srv", "/usr/lib",
                         "/usr/local/lib", "/usr/share"})
SYSTEM_PREFIXES = ("/usr/lib/", "/usr/share/", "/proc/", "/sys/", "/dev/", "/etc/")
# A quoted dotted name: "mysite.settings", 'django.db.backends.sqlite3', "logging.StreamHandler"
DOTTED_LITERAL = re.compile(rb"""(["'])([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\1""")
# An absolute path, or a file:// URL of one ("file:///site/index.html", a crawler's start page)
PATH_LITERAL = re.compile(rb"""(["'])(?:file://)?(/[A-Za-z0-9_.+@-]+(?:/[A-Za-z0-9_.+@-]+)*)\1""")
MAX_NAMED_PROGRAMS = 64  # programs a computed name's constant start may stand for: more is no subcommand family
MAX_DATA_SCRIPTS = 2000  # scripts of walked trees whose imports are followed: a source tree given to a linter can be huge


def needs_cwd_on_path(args) -> bool:
    """Servers (uvicorn, gunicorn) put the cwd first on sys.path to import `mod:app`."""
    return any(APP_ARG.match(a) for a in args)


class AppKeeper(Keeper, Protocol):
    def is_file(self, path: str) -> bool: ...
    def realpath(self, path: str) -> str: ...
    def which(self, program: str) -> str | None: ...  # on the launch PATH, as the shell finds it
    def programs_named(self, prefix: str) -> list[str]: ...  # those `which` finds whose name starts so


class AppFiles:
    def __init__(self, keeper: AppKeeper, fs, is_own_code: Callable[[str], bool], cache_tag: str) -> None:
        self._k, self._fs, self._is_own_code, self._cache_tag = keeper, fs, is_own_code, cache_tag
        self.own_strings: set[str] = set()  # quoted names in the app's own code (entry point groups among them)
        self.unresolved_main: str | None = None  # the module `python -m` runs, when the image does not have it
        self._literal_scanned: set[str] = set()
        self._data_scanned: set[str] = set()  # .py files kept as data whose strings were read
        self._scripts_followed, self._scripts_capped = 0, False
        # follows a scan's imports as the app's own (set once the import follower exists)
        self.follow_code: Callable[[ModuleScan, str], None] = lambda scan, where: None
        # the scan of a file's source, (path, source) -> scan: the import follower's, through the scan cache
        self.scan_file: Callable[[str, bytes], ModuleScan] = lambda path, source: scan_source(source)
        self.interpreter = ""  # the analysed interpreter's real path: a script it runs has its imports followed
        # the stdlib imports of a zip application's code, unpacked code too (set by the analysis: it has the cache)
        self.keep_archive_code: Callable[[str], None] = lambda path: None
        self._named_prefixes: set[str] = set()
        # helpers and data a kept program names by built-in paths, kept as the programs it starts are
        self._built_in = helperdirs.BuiltInPaths(
            keeper, fs, lambda helper, node, detail, reason: self.keep_program(helper, node, detail, reason=reason))

    def keep_main(self, cmd: PythonCommand, workdir: str, follow_main: Callable[[ModuleScan, str], None],
                  missing: dict) -> str | None:
        """What the command runs; the script's path, if it runs one. `follow_main` follows the imports of
        the code run as __main__; `missing` forgets a `-m` module the image lacks (said once, as the
        entrypoint's problem)."""
        keep = self._k.keep_module
        if cmd.module:
            keep("runpy", ENTRY, "python -m")
            record = keep(cmd.module, ENTRY, "python -m", cmd.module)
            if record is None:
                self.unresolved_main = f"python -m {cmd.module}: no sys.path entry provides {cmd.module}"
                missing.pop(cmd.module, None)
            if record and record.spec.is_package:
                keep(f"{cmd.module}.__main__", ENTRY, "python -m", cmd.module)
            return None
        if cmd.command is not None:
            follow_main(scan_source(cmd.command.encode()), "<-c>")
            return None
        if cmd.script:
            path = cmd.script if cmd.script.startswith("/") else posixpath.normpath(posixpath.join(workdir, cmd.script))
            if self._k.is_dir(path):
                self._k.keep_path(path, ENTRY, "script")
                keep("runpy", ENTRY, "python DIR")
                keep("__main__", ENTRY, "python DIR", path)  # sys.path[0] is the dir
                return path
            real = self._k.keep_path(path, ENTRY, "script")
            if real is None:
                raise UnsupportedEntrypoint(f"the entrypoint's script {path} is not in the image")
            if bundledwheels.is_zip_archive(self._fs, real):  # a zipapp, `#!` line or not
                keep("runpy", ENTRY, "python ZIP")
                keep("__main__", ENTRY, "python ZIP", path)  # sys.path[0] is the zip
                self.keep_archive_code(real)
                return path
            follow_main(self.scan_file(real, self._k.read_bytes(real)), path)
            return path
        return None

    def keep_app_arguments(self, args) -> None:
        """`uvicorn shop:app`: a server told by a hook to import its argument's module."""
        for arg in args:
            m = APP_ARG.match(arg)
            if m:
                self._k.keep_module(m.group(1), ENTRY, "app-argument", arg, optional=True)

    def keep_app_root(self, script: str | None, workdir: str) -> None:
        """The app's own directory (the script's, else the working dir) is kept whole: templates, config,
        plugins loaded by file name. Not when it is a system dir, the stdlib or a site dir."""
        root = posixpath.dirname(script) if script else workdir
        if script and workdir and not self._is_app_dir(root):
            root = workdir  # a console script in a bin dir: the working dir holds the app's files (docs, config)
        if not root or not self._is_app_dir(root):
            return
        real = self._k.keep_path(root, ENTRY, "app-root")
        if real is None:
            return
        for entry in self._fs.walk(real):
            parts = entry.path[len(real):].split("/")
            # Hidden directories (.git, .cache, .venv of a dev machine) are not the app; hidden files are kept
            # (`.env` read by python-dotenv or pydantic-settings), bar VCS and editor droppings.
            if any(p.startswith(".") and p not in (".", "") for p in parts[:-1]) or "__pycache__" in parts:
                continue
            if parts[-1].startswith((".git", ".DS_Store", ".dockerignore", ".coverage")):
                continue
            if entry.path != real and entry.kind != DIR:
                self._k.keep_path(entry.path, fnode(real), "app-root")
                if entry.path.endswith(".py"):
                    self._keep_sibling_pyc(entry.path)
                    self._scan_data_code(entry.path, follow_imports=True)

    def _is_app_dir(self, path: str) -> bool:
        return path not in SYSTEM_DIRS and not path.startswith(SYSTEM_PREFIXES) and self._is_own_code(path + "/x")

    def _scan_data_code(self, path: str, follow_imports: bool = False) -> None:
        """A .py file kept as the app's data, not imported (Sphinx's conf.py, a tool's config script): the tool
        exec()s it, so the modules it names by string are kept (`extensions = ["sphinx.ext.todo"]`).
        `follow_imports`: in the app's dir or a tree the tool is told to walk, a .py file may also be run by
        its path (a template's `hooks/*.py`, a conf.py doing `import sphinx_rtd_theme`, Alembic's env.py and
        versions/*.py named by alembic.ini): what it imports is kept too."""
        if path.endswith(".py") and path not in self._literal_scanned and path not in self._data_scanned:
            self._data_scanned.add(path)
            source = self._k.read_bytes(path)
            self.keep_strings(fnode(path), source, path)
            if follow_imports and self._scripts_followed < MAX_DATA_SCRIPTS:
                self._scripts_followed += 1
                self._keep_script_imports(path, source)
            elif follow_imports and not self._scripts_capped:
                self._scripts_capped = True
                self._k.finding(Finding(
                    "data-scripts", f"more than {MAX_DATA_SCRIPTS} .py files in the trees the app walks: the "
                    f"imports of {path} and those after it are not followed (hint: --hidden-import)", INFO, path))

    def _keep_script_imports(self, path: str, source: bytes) -> None:
        """Absolute imports of a data script, when the image has them: a template's files may import what only
        the project it generates installs, so a missing one is no finding. A file that does not parse (a
        Jinja-templated one) is data only."""
        node = fnode(path)
        for ref in self.scan_file(path, source).imports:
            if ref.level or not ref.module:
                continue  # a script run from a tree has no package to be relative to
            detail = f"{path}:{ref.lineno}"
            if self._k.find(ref.module) is None:
                continue
            self._k.keep_module(ref.module, node, "data-script-import", detail, optional=True)
            for name in ref.names:
                if name != "*" and self._k.find(f"{ref.module}.{name}") is not None:
                    self._k.keep_module(f"{ref.module}.{name}", node, "data-script-import", detail, optional=True)

    def _keep_sibling_pyc(self, path: str) -> None:
        directory, filename = posixpath.split(path)
        cached = posixpath.join(directory, "__pycache__", f"{filename[:-3]}.{self._cache_tag}.pyc")
        if self._k.is_file(cached):
            self._k.keep_path(cached, fnode(path), "bytecode-cache")

    def keep_program(self, program: str, node: str, detail: str, seen: frozenset[str] = frozenset(),
                     reason: str = "subprocess") -> None:
        """A program the app's own code starts by name (`subprocess.run(["git", …])`): it and its libraries are
        kept, found on the launch PATH as the shell would; a shell command line keeps the shell too. An ELF
        program's built-in paths keep its helpers and data (helperdirs)."""
        for name in program.split():  # "sh git": the shell, then the program
            path = self._k.which(name)
            if path is None or path in seen:
                continue
            info = self._k.keep_elf(path, node, reason, detail)
            if info is not None:
                self._keep_built_in_paths(path)
            elif self._k.keep_path(path, node, reason, detail):
                head = self._k.read_bytes(path)[:256]
                if head.startswith(b"#!"):  # a script: its interpreter runs it
                    interp = [w.decode("utf-8", "replace") for w in head[2:].split(b"\n", 1)[0].split()]
                    if interp:
                        self.keep_program(" ".join(interp[:2]) if posixpath.basename(interp[0]) == "env"
                                          else interp[0], node, detail, seen | {path})
                        self._follow_script(path, interp)

    def _keep_built_in_paths(self, path: str) -> None:
        """The analysed interpreter aside: its paths are the interpreter contributor's."""
        if self._k.realpath(path) != self.interpreter:
            self._built_in.keep(path, fnode(self._k.realpath(path)))

    def _follow_script(self, path: str, interp: list[str]) -> None:
        """A Python script the analysed interpreter runs (`#!/usr/local/bin/python3`, `#!/usr/bin/env python3`):
        its imports are the app's too (`jupyter nbconvert` runs `jupyter-nbconvert`)."""
        program = interp[1] if posixpath.basename(interp[0]) == "env" and len(interp) > 1 else interp[0]
        found = self._k.which(program)
        if not self.interpreter or found is None or self._k.realpath(found) != self.interpreter:
            return
        real = self._k.realpath(path)
        self.follow_code(self.scan_file(real, self._k.read_bytes(real)), path)

    def keep_program_constant(self, program: str, node: str, detail: str) -> None:
        """A program code that starts processes names in a constant (`git_exec_name = "git"`): kept, when the
        launch PATH has it, as keep_program keeps one, and said (the call reads the attribute, not a literal)."""
        path = self._k.which(program)
        if path is None or program in self._named_prefixes:
            return
        self._named_prefixes.add(program)
        self.keep_program(program, node, detail)
        self._k.finding(Finding("computed-program", f"`{program}` named by a constant of code that starts "
                                f"processes: kept {path}", INFO, detail))

    def keep_programs_named(self, prefix: str, node: str, detail: str) -> None:
        """A program named at run time from a constant start (`which(f"jupyter-{sub}")`, `execvp("git-" + cmd)`):
        which one runs depends on the command line or the input, so every program named so is kept, as
        keep_program keeps one; a family too large to be subcommands is a finding instead."""
        if prefix in self._named_prefixes:
            return
        self._named_prefixes.add(prefix)
        found = self._k.programs_named(prefix)
        if len(found) > MAX_NAMED_PROGRAMS:
            self._k.finding(Finding("computed-program", f"a program named `{prefix}…` at run time: {len(found)} "
                                    "programs are named so, none kept (hint: --include)", WARNING, detail))
            return
        for path in found:
            self.keep_program(path, node, detail)
        if found:
            names = ", ".join(posixpath.basename(p) for p in found)
            self._k.finding(Finding("computed-program", f"a program named `{prefix}…` at run time: kept the "
                                    f"{len(found)} named so ({names})", INFO, detail))

    def keep_argument_paths(self, args, workdir: str) -> None:
        """Files and dirs the command line names (`--config /etc/app/config.yaml`, `-r /src`), and modules
        it names (`-x markdown.extensions.abbr`, `--settings mysite.settings`): tools import those by name.
        A .py file of the app named there is code the tool runs (`scrapy runspider spider.py`, `streamlit run
        app.py`, `locust -f locustfile.py`): its imports are followed as the app's own."""
        for arg in args:
            value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
            if not value or value.startswith("-") or "\0" in value:
                continue
            if "." in value and all(part.isidentifier() for part in value.split(".")):
                self._k.keep_named(value, ENTRY, "argument", arg)
            app = APP_ARG.match(value)
            if app:  # `shop:init`, `pkg.app:create()`: the module a server or runner imports
                self._k.keep_named(app.group(1), ENTRY, "argument", arg)
            path = value if value.startswith("/") else posixpath.normpath(posixpath.join(workdir or "/", value))
            if self._k.is_file(path):
                real = self._k.keep_path(path, ENTRY, "argument", arg)
                if real and path.endswith(".py") and self._is_own_code(real) and real not in self._literal_scanned:
                    self.follow_code(self.scan_file(real, self._k.read_bytes(real)), real)
            elif self._k.is_dir(path) and self._is_app_dir(path):
                self._keep_app_tree(path, ENTRY, "argument")  # a tree the tool is told to walk (`-r /src`)
            elif path in SYSTEM_DIRS and path not in ("/", "/tmp") and self._k.is_dir(path) and \
                    self._fs.listdir(self._k.realpath(path)):
                self._keep_named_system_dir(path, arg)

    def _keep_named_system_dir(self, path: str, arg: str) -> None:
        """A system directory the command line names itself (`http.server -d /srv`, `--root /opt`): what the
        tool reads there is the image's, so a small one is kept like an Env-named dir; a big one (`/usr`,
        `/etc`) is more likely a search root, and saying so beats a silent miss."""
        files = envdirs.dir_files(self._fs, self._k.realpath(path), roots=frozenset())  # named: only the limits
        if files is not None:
            for file in files:
                self._k.keep_path(file, ENTRY, "argument", arg)
            return
        self._k.finding(Finding("argument-dir-not-kept", f"the command line names {path} (`{arg}`), a system "
                                f"directory with over {envdirs.MAX_FILES} files or {envdirs.MAX_BYTES >> 20} MiB, "
                                "which is not kept whole: --include what the app reads there", WARNING, path))

    def _keep_app_tree(self, path: str, node: str, reason: str) -> None:
        """An app directory outside the system dirs, whole: the tool walks it (a template, a site's sources)."""
        self._k.keep_tree(path, node, reason)
        for entry in self._fs.walk(self._k.realpath(path)):
            if entry.kind != DIR:
                self._scan_data_code(entry.path, follow_imports=True)

    def keep_env_paths(self, env: dict[str, str]) -> None:
        """An Env value naming a file of the image (CONFIG=/etc/app.yaml) is kept, and so is one naming a
        module (DJANGO_SETTINGS_MODULE=mysite.settings, a CELERY_CONFIG_MODULE): frameworks import those."""
        for key, value in sorted(env.items()):
            if value.startswith("/") and ":" not in value and self._k.is_file(value):
                self._k.keep_path(value, ENTRY, f"env:{key}")
            elif value.startswith("/") and ":" not in value and self._k.is_dir(value):
                envdirs.keep_small_dir(self._k, self._fs, self._k.realpath(value), ENTRY, f"env:{key}")
            elif DOTTED_LITERAL.fullmatch(f'"{value}"'.encode("utf-8", "replace")):
                self._k.keep_named(value, ENTRY, f"env:{key}", f"{key}={value}")
        self._keep_tz_zone(env)

    def _keep_tz_zone(self, env: dict[str, str]) -> None:
        """`TZ=Europe/Berlin`: the C library reads that zone's file under $TZDIR (/usr/share/zoneinfo) for every
        local time, and no Python code names it."""
        zone = env.get("TZ", "").removeprefix(":")
        if not zone or ".." in zone.split("/"):
            return
        path = zone if zone.startswith("/") else posixpath.join(env.get("TZDIR") or "/usr/share/zoneinfo", zone)
        if self._k.is_file(path):
            self._k.keep_path(path, ENTRY, "env:TZ")

    def own_source(self, node: str, where: str) -> None:
        """The app's own source file, once: the image files and the modules it names by string."""
        if not (where.startswith("/") and self._is_own_code(where)) or where in self._literal_scanned:
            return
        self._literal_scanned.add(where)
        try:
            source = self._k.read_bytes(where)
        except OSError:
            source = b""
        self._keep_path_literals(node, source, where)
        self.keep_strings(node, source, where)

    def _keep_path_literals(self, node: str, source: bytes, where: str) -> None:
        """Absolute paths written in the app's own code that name files or app directories of the image
        (`cookiecutter("/tpl")`, a site root handed to a generator: walked at run time, so kept whole)."""
        for m in PATH_LITERAL.finditer(source):
            path = m.group(2).decode("utf-8", "replace")
            if path.startswith(("/proc/", "/sys/", "/dev/")) or path in ("/", "/tmp"):
                continue  # the kernel's files; a /tmp path is kept only when the image has that file
            base = posixpath.dirname(path)
            if m.group(0)[1:].startswith(b"file://") and self._k.is_file(path) and self._is_app_dir(base):
                # a document URL: the links in it resolve against its directory, read as they are followed
                self._keep_app_tree(base, node, "path-literal")
            elif self._k.is_file(path):
                self._k.keep_path(path, node, "path-literal", where)
            elif self._k.is_dir(path) and not path.startswith("/tmp/") and self._is_app_dir(path):
                self._keep_app_tree(path, node, "path-literal")

    def keep_strings(self, node: str, source: bytes, where: str, depth: int = 0, own_words: bool = True) -> None:
        """Modules the source names by string (strings.keep_app_strings); bare words only in the app's own code."""
        def is_own(spec: ModuleSpec) -> bool:
            origin = spec.origin or (spec.search[0] if spec.search else None)
            return bool(origin) and spec.kind != "builtin" and self._is_own_code(origin)

        self.own_strings |= strings.keep_app_strings(self._k, node, source, where, depth,
                                                     is_own if own_words else None)
