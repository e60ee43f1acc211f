"""What one module's source asks for, read from its AST (never executed).

Collects import statements (top level, in functions, in try/except — marked optional when an ImportError
handler guards them; `if TYPE_CHECKING:` bodies skipped, their relative imports set apart for a module that
serves attributes lazily), names given to the import machinery
(`import_module`, `__import__`, `find_spec`, `pkgutil.resolve_name`, `importlib.resources`; aliases resolved;
a name built over a literal loop or table expanded; a name that cannot be determined is recorded as
`computed`), import wrappers and calls passing module-like literals (read by analyzers/wrapperscan.py),
quoted dotted names with their lines, constant library names given to ctypes, and calls that are facts for
findings (subprocess, fork, threads, writes). Source that the host's parser rejects (newer syntax) falls back to
a line scanner for imports, and the error is a `syntax-error` fact.
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass, field

from faktory.analyzers.astexpr import const_str, dotted, string_parts
from faktory.analyzers.dropins import grown_path_lines
from faktory.analyzers.textlines import first_lines, lines_at
from faktory.analyzers.wrapperscan import (Call, FunctionScope, Wrapper, forwarding_wrappers, literal_calls,
                                           resolve_calls)

IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
SUBPROCESS_CALLS = {"os.system", "os.popen", "os.execv", "os.execve", "os.execl", "os.execle", "os.execlp",
                    "os.execlpe", "os.execvp", "os.execvpe", "os.spawnv", "os.spawnve", "os.spawnl", "os.spawnlp",
                    "os.spawnvp", "os.posix_spawn", "os.posix_spawnp", "pty.spawn"}
FORK_CALLS = {"os.fork", "os.forkpty", "pty.fork"}
PIPE_CALLS = {"os.pipe", "os.pipe2"}  # a runtime whose fstat of a pipe fails breaks set_wakeup_fd/fdopen over it
CTYPES_LOADERS = {"ctypes.CDLL", "ctypes.PyDLL", "ctypes.cdll.LoadLibrary", "ctypes.pydll.LoadLibrary",
                  "ctypes.CDLL.__init__", "ctypes.util.find_library", "ctypes.LibraryLoader"}
CTYPES_FIND = {"ctypes.util.find_library"}
LDCONFIG = "/sbin/ldconfig"  # what find_library runs on Linux (`ldconfig -p`): without it every lookup is None
IMPORT_MODULE_CALLS = {"importlib.import_module", "__import__", "importlib.__import__", "builtins.__import__",
                       "importlib.util.find_spec", "importlib.machinery.PathFinder.find_spec"}
RESOLVE_NAME_CALLS = {"pkgutil.resolve_name"}  # "pkg.mod:attr" or "pkg.mod.attr"
# Calls that name a package whose data files are read: the package is imported and its data kept.
RESOURCE_CALL_SUFFIXES = (".files", ".read_text", ".read_binary", ".open_text", ".open_binary", ".path",
                          ".contents", ".is_resource", ".get_data", ".resource_filename", ".resource_string",
                          ".resource_stream", ".resource_exists", ".resource_listdir", ".resource_isdir")
RESOURCE_MODULES = ("importlib.resources", "importlib_resources", "pkgutil", "pkg_resources")


PACKAGE_TREE = "**"  # ImportRef.names value: every module under the package may be imported (computed names)
# ImportRef.names value: a module-level `__getattr__(name)` imports `pkg.{name}`: a direct submodule of pkg is
# imported when its name is read as an attribute of pkg (lazyattrs.py)
ATTRIBUTE_TREE = "*attr"
# ImportRef.names value beside PACKAGE_TREE: the variable part starts with the parameter of a wrapper of the same
# function (scipy's `_sub_module_deprecation(sub_package, …)` imports f"scipy.{sub_package}.{module}"): what
# the callers name decides, and their literal calls keep those
CALLER_NAMED = "*caller"
# ImportRef.names prefix beside PACKAGE_TREE: the last part loops over a name imported from another module
# (Pillow's `for plugin in _plugins`, `from . import _plugins`): "*table:._plugins"; a literal list there is the
# answer, else the package tree
TABLE_NAMED = "*table:"


@dataclass(frozen=True)
class ImportRef:
    module: str  # dotted name as written ("" for `from . import x`)
    level: int = 0
    names: tuple[str, ...] = ()  # from-import names ("*" included)
    lineno: int = 0
    optional: bool = False  # guarded by an ImportError handler
    lazy: bool = False  # inside a function
    # In an ImportError handler: the (module, level, names) imports of the try body it stands in for. When
    # those all resolve in the image, the fallback never runs.
    fallback_for: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    # An import statement in `try: … except ImportError:` (not a call naming a module): the code runs without it
    guarded: bool = False
    function: str = ""  # the module-level function whose body holds it: a call of it at start-up makes it run


@dataclass(frozen=True)
class CodeFact:
    kind: str  # subprocess | fork | threads | multiprocessing | ctypes | writes | dlopen-null | dlopen-computed
    detail: str
    lineno: int


@dataclass
class ModuleScan:
    imports: list[ImportRef] = field(default_factory=list)
    libraries: list[tuple[str, int]] = field(default_factory=list)  # ctypes library names
    facts: list[CodeFact] = field(default_factory=list)
    parsed: bool = True
    main_block_imports: bool = False  # an `if __name__ == "__main__":` block was skipped
    programs: list[tuple[str, int]] = field(default_factory=list)  # literal programs given to subprocess/os.system
    # the constant start of a program name computed at run time (`which(f"jupyter-{sub}")`, `execvp("git-" + cmd)`)
    program_prefixes: list[tuple[str, int]] = field(default_factory=list)
    # literal program names held by a module or class constant (`git_exec_name = "git"`)
    program_names: list[tuple[str, int]] = field(default_factory=list)
    strings: list[tuple[str, int]] = field(default_factory=list)  # quoted dotted names ("pkg.mod", "pkg.mod:attr")
    # import calls whose name is not determined: (call, line, inside a function: runs only when it is called)
    computed: list[tuple[str, int, bool]] = field(default_factory=list)
    timed_out: bool = False  # the time limit ended the scan: another run, on a faster machine, may finish it
    # import wrappers: module-level functions whose parameter reaches the import machinery
    wrappers: list[Wrapper] = field(default_factory=list)
    # calls with literal module-like arguments: (callee, argument, value, line, in a function); the callee is
    # "pkg.mod.func" (through an import), ".mod.func" (relative, one dot per level) or "=func" (this module's)
    calls: list[Call] = field(default_factory=list)
    # entry-point groups a call names: `load_setuptools_entrypoints("pytest11")`, `entry_points(group="tox")`;
    # a bare word is no dotted string, so `strings` misses it
    groups: list[tuple[str, int]] = field(default_factory=list)
    # objects read by a computed attribute name (`getattr(pkg, name)`, `inspect.getmembers(pkg)`): (the object as
    # an absolute or relative module name, line); "" once, for the first one on an object not bound by an import
    wholesale: list[tuple[str, int]] = field(default_factory=list)
    # names an entry point's group is compared with (`if ep.group != project_name`) or given as `group=`; the
    # follower resolves them through `constants` here or in the module they are imported from
    group_names: list[tuple[str, int]] = field(default_factory=list)
    constants: dict[str, str] = field(default_factory=dict)  # module-level `NAME = "word"`
    # imported functions the module calls as it runs (module level, the `__main__` block): "pkg.mod.func", line
    started: list[tuple[str, int]] = field(default_factory=list)
    # from-imports of a module-level `if TYPE_CHECKING:` body (skipped: they never run as imports), and
    # whether the module serves attributes lazily (a module-level `__getattr__`, `sys.modules[__name__] = …`):
    # then those lines name what it loads on attribute access (plotly's `relative_import`, transformers'
    # `_LazyModule`), as a lazy_loader stub does
    typing_imports: list[ImportRef] = field(default_factory=list)
    serves_lazily: bool = False


def _entry_point_groups(node: ast.Call, word: str | None) -> list[str]:
    """Literal group names of a call: the first argument of a callee named like `*entry_point*` (pluggy's
    `load_setuptools_entrypoints`, pkg_resources' `iter_entry_points`), and any `group=` keyword."""
    found = []
    lowered = (word or "").lower()
    if node.args and ("entry_point" in lowered or "entrypoint" in lowered):
        text = const_str(node.args[0])
        if text:
            found.append(text)
    found += [text for kw in node.keywords if kw.arg == "group" for text in [const_str(kw.value)] if text]
    return [text for text in found if ENTRY_POINT_GROUP.fullmatch(text)]


ENTRY_POINT_GROUP = re.compile(r"[A-Za-z_][\w.\-]{0,100}", re.ASCII)


def _callee_word(func: ast.AST) -> str | None:
    """The last name of a callee: `config.scan` -> "scan", `open` -> "open"."""
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


EXPAND_LIMIT = 64  # values one computed name may take before it counts as unknown
# A quoted dotted name, or a "module:attribute" reference (entry-point style)
DOTTED_STRING = re.compile(r"""(["'])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(:[A-Za-z_][\w.]*)?\1""", re.ASCII)


def _literal_strings(node: ast.AST, allow_single: bool = True) -> tuple[str, ...] | None:
    """The strings of a literal tuple/list/set of str constants (or of one str constant)."""
    if allow_single and const_str(node) is not None:
        return (const_str(node),)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts:
        values = tuple(const_str(e) for e in node.elts)
        if all(v is not None for v in values):
            return values
    return None


def _source_of(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:60]
    except Exception:  # a node the unparser does not know
        return "…"


def _is_own_package(node: ast.AST) -> bool:
    """`__package__` or `__spec__.parent`: the package of the module the code is in."""
    return (isinstance(node, ast.Name) and node.id == "__package__") or (
        isinstance(node, ast.Attribute) and node.attr == "parent" and isinstance(node.value, ast.Name)
        and node.value.id == "__spec__")


def _relative_to_own_package(node: ast.AST) -> ast.AST | None:
    """f"{__spec__.parent}.{x}" or `__package__ + "." + x` as the relative name ".{x}" (level 1 from the
    module's package, which is what they evaluate to); None when the name does not start so."""
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.FormattedValue) \
            and node.values[0].conversion in (-1, 115) and node.values[0].format_spec is None \
            and _is_own_package(node.values[0].value):
        return ast.JoinedStr(node.values[1:])  # the head stands for "" before the "."
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        if _is_own_package(node.left):
            return node.right
        left = _relative_to_own_package(node.left)
        return ast.BinOp(left, ast.Add(), node.right) if left is not None else None
    return None


def _package_arg(call: ast.Call) -> ast.AST | None:
    """import_module's / find_spec's `package` (the second positional argument or the keyword)."""
    if len(call.args) > 1:
        return call.args[1]
    return next((kw.value for kw in call.keywords if kw.arg == "package"), None)


def absolute(name: str, is_package: bool, module: str, level: int) -> str | None:
    """The absolute name of an import made in `name` (`from ..x import y` at level 2); with `module` "", the
    package that many levels up (None when that is above the top)."""
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


def _anchor(call: ast.Call, own: ast.AST | None) -> tuple[str | None, bool]:
    """An import call's literal `package` argument, and whether a relative name has a package to resolve
    against at all: the caller's own (`own`, f"{__spec__.parent}.x"), a literal, `__package__` or `__name__`."""
    anchor = _package_arg(call)
    literal = const_str(anchor)
    return literal, own is not None or bool(literal) or (
        isinstance(anchor, ast.Name) and anchor.id in ("__package__", "__name__"))


def _anchored(name: str, level: int, package: str) -> tuple[str, int]:
    """A relative name resolved against a literal package argument (`import_module("._tooltip",
    package="textual.widgets")`), which need not be the calling module's package; unchanged when the level
    climbs above it."""
    base = absolute(package, True, "", level) if all(p.isidentifier() for p in package.split(".")) else None
    if not base:
        return name, level
    return (f"{base}.{name}" if name else base), 0


def _constant_prefix(node: ast.AST) -> str | None:
    """The constant start of a computed string: f"plugins.{name}", "plugins." + name, "plugins.%s" % name,
    "plugins.{}".format(name), and either branch of a conditional (`"_pytest." + name if name in builtin else
    name`: pytest's own plugins)."""
    if isinstance(node, ast.IfExp):
        return _constant_prefix(node.body) or _constant_prefix(node.orelse)
    if isinstance(node, ast.JoinedStr) and node.values:
        return const_str(node.values[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return const_str(node.left) or _constant_prefix(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        text = const_str(node.left)
        return text.split("%", 1)[0] if text else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        text = const_str(node.func.value)
        return text.split("{", 1)[0] if text else None
    return None


def _default_prefix(node: ast.AST, defaults: dict[str, str]) -> str | None:
    """The start of f"{base}.{name}" / base + "." + name when `base` is a parameter with a literal default
    (`def load(label, base_module="pkg.dialects")`): the package the default names."""
    head, rest = None, None
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.FormattedValue):
        head = node.values[0].value
        rest = const_str(node.values[1]) if len(node.values) > 1 else None
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.BinOp) \
            and isinstance(node.left.op, ast.Add):
        head, rest = node.left.left, const_str(node.left.right)
    if isinstance(head, ast.Name) and head.id in defaults and rest and rest.startswith("."):
        return defaults[head.id] + rest
    return None


def _str_defaults(node: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    args = node.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg: text for a, d in pairs for text in [const_str(d)] if text}


SHELL_STRING_CALLS = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}
PATH_LOOKUPS = {"shutil.which", "distutils.spawn.find_executable"}  # a program found on PATH, to be run
# A module or class constant naming the program its code runs: GitPython's `git_exec_name = "git"`,
# pytesseract's `tesseract_cmd = "tesseract"`; the call then reads the attribute, never a literal
PROGRAM_ATTRIBUTE = re.compile(r"exec|binary|_bin$|^bin_|cmd|command|prog", re.IGNORECASE)
PROGRAM_WORD = re.compile(r"/?[A-Za-z0-9][\w.+-]*(?:/[\w.+-]+)*")


def _command_argument(call: ast.Call) -> ast.AST | None:
    """The command of a subprocess call: its first argument, or `args=` (`Popen(args=["ldd", exe])`)."""
    if call.args:
        return call.args[0]
    return next((kw.value for kw in call.keywords if kw.arg == "args"), None)


def _program_of(call: ast.Call) -> str | None:
    """The program a subprocess call starts, when it is written literally: ["git", …], ("ffmpeg", …),
    "convert a.png b.jpg" with shell=True or os.system. A shell command line also needs the shell: "sh" first."""
    first = _command_argument(call)
    if first is None:
        return None
    if isinstance(first, (ast.List, ast.Tuple)) and first.elts:
        return const_str(first.elts[0])
    text = const_str(first)
    if text is None:
        return None
    shell = any(kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                for kw in call.keywords)
    if shell or dotted(call.func) in SHELL_STRING_CALLS or dotted(call.func) in ("system", "popen"):
        words = text.split()
        return f"sh {words[0]}" if words else None
    return text if " " not in text else None


def _is_main_guard(test: ast.AST) -> bool:
    """`if __name__ == "__main__":`"""
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and const_str(test.comparators[0]) == "__main__")


LINUX = {"sys.platform": "linux", "os.name": "posix", "platform.system()": "Linux", "sys.implementation.name": "cpython"}


def _static_text(node: ast.AST) -> str | None:
    """'sys.platform', 'os.name', 'platform.system()' for the expressions whose value on Linux is known."""
    if isinstance(node, ast.Call) and not node.args:
        inner = dotted(node.func)
        return f"{inner}()" if inner else None
    return dotted(node)


def static_truth(test: ast.AST, consts: dict[str, bool]) -> bool | None:
    """The value of a platform test on Linux/CPython (`sys.platform == "win32"`, `os.name == "nt"`,
    `sys.platform.startswith("win")`, names bound to such tests), or None when it is not a platform test."""
    if isinstance(test, ast.Name):
        return consts.get(test.id)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = static_truth(test.operand, consts)
        return None if inner is None else not inner
    if isinstance(test, ast.BoolOp):
        values = [static_truth(v, consts) for v in test.values]
        if isinstance(test.op, ast.And):
            if any(v is False for v in values):
                return False
            return True if all(v is True for v in values) else None
        if any(v is True for v in values):
            return True
        return False if all(v is False for v in values) else None
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr == "startswith" \
            and len(test.args) == 1:
        subject = LINUX.get(_static_text(test.func.value) or "")
        prefix = test.args[0]
        if subject is not None:
            if isinstance(prefix, ast.Tuple):
                options = [const_str(e) for e in prefix.elts]
                if all(o is not None for o in options):
                    return any(subject.startswith(o) for o in options)
            elif const_str(prefix) is not None:
                return subject.startswith(const_str(prefix))
        return None
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right = test.left, test.comparators[0]
        subject = LINUX.get(_static_text(left) or "")
        if subject is None:
            subject, right = LINUX.get(_static_text(right) or ""), left
        if subject is None:
            return None
        op = test.ops[0]
        if isinstance(op, (ast.Eq, ast.NotEq)) and const_str(right) is not None:
            equal = subject == const_str(right)
            return equal if isinstance(op, ast.Eq) else not equal
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.Tuple, ast.List, ast.Set)):
            options = [const_str(e) for e in right.elts]
            if all(o is not None for o in options):
                found = subject in options
                return found if isinstance(op, ast.In) else not found
    return None


def _serves_attributes(target: ast.AST, aliases: dict[str, str]) -> bool:
    """`__getattr__ = …` (also in a tuple: plotly's `__all__, __getattr__, __dir__ = relative_import(…)`), or
    `sys.modules[__name__] = …` (a module object that loads its attributes on access; `sys` under any alias)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_serves_attributes(t, aliases) for t in target.elts)
    if isinstance(target, ast.Name):
        return target.id == "__getattr__"
    if not (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Name) and target.slice.id == "__name__"):
        return False
    head, _, rest = (dotted(target.value) or "").partition(".")
    return f"{aliases.get(head, head)}.{rest}" == "sys.modules"


def _is_type_checking(test: ast.AST) -> bool:
    name = dotted(test)
    return name in ("TYPE_CHECKING", "typing.TYPE_CHECKING", "t.TYPE_CHECKING")


TRIGGER_WORDS = ("import_module", "__import__", "find_spec", "resolve_name", "files", "read_text", "read_binary", "open_text",
                 "open_binary", "get_data", "resource_", "is_resource",
                 "CDLL", "PyDLL", "LoadLibrary", "find_library", "cdll", "pydll", "dlopen",
                 "subprocess", "system", "popen", "exec", "spawn", "fork", "open", "iter_modules", "walk_packages", "pipe",
                 "group=", "ntry_point", "ntrypoint", ".group", "which", "find_executable")
# a call whose first argument is a module-like literal: `import_optional_dependency("tabulate")`
LITERAL_CALL = re.compile(r"""\(\s*[rRuU]?(["'])\.*[A-Za-z_][\w.:]{0,200}\1""")  # after a name: see _trigger_lines
# `config.scan(".views")`, `config.include(".routes")`: a module relative to the caller's package, resolved by the
# framework; the same literal given to a text or path call is a suffix (".txt"), not a module
RELATIVE_NAME = re.compile(r"\.+[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)
TEXT_CALLS = frozenset({
    "endswith", "startswith", "replace", "split", "rsplit", "partition", "rpartition", "join", "strip", "lstrip",
    "rstrip", "find", "rfind", "index", "rindex", "count", "removesuffix", "removeprefix", "format", "with_suffix",
    "splitext", "glob", "rglob", "fnmatch", "match", "search", "sub", "compile", "open", "get", "add", "append",
    "Path", "exists", "isfile", "isdir", "print", "write",
})
IMPORTED_NAME = re.compile(r"(?:import_module|__import__|find_spec|resolve_name)\(\s*([A-Za-z_]\w*)\s*[,)]")
LISTING_CALLS = frozenset({"pkgutil.iter_modules", "pkgutil.walk_packages"})
_FROM_INTERESTING = re.compile(
    r"from\s+(?:subprocess|os|ctypes(?:\.util)?|importlib(?:\.\w+)?|pkgutil|pkg_resources|pty)\s+import\s+\(?([^)\n]+)")

_IMPORT_AS = re.compile(r"import\s+(?:subprocess|os|ctypes(?:\.util)?|importlib(?:\.\w+)?|pkgutil|pkg_resources|pty)"
                        r"\s+as\s+(\w+)")


def _lines_of_words(words, text: str) -> set[int]:
    """1-based numbers of the lines holding any of `words` (str.find runs at C speed; a regex alternation
    of two dozen words does not)."""
    positions: list[int] = []
    for word in words:
        i = text.find(word)
        while i != -1:
            positions.append(i)
            i = text.find(word, i + 1)
    positions.sort()
    return set(lines_at(text, positions))


def _trigger_lines(text: str) -> list[int]:
    """Line numbers where a call worth a closer look may be: only those statements get an expression walk."""
    words = set(TRIGGER_WORDS)
    for names in _FROM_INTERESTING.findall(text):
        for item in names.split(","):
            item = item.strip().split(" as ")[-1].strip()
            if item.isidentifier():
                words.add(item)
    words.update(_IMPORT_AS.findall(text))
    lines = _lines_of_words(words, text)
    # the pattern starts at its "(" (a literal the regex engine finds fast); a call has a name before it
    starts = [m.start() for m in LITERAL_CALL.finditer(text) if m.start() and (text[m.start() - 1].isalnum()
                                                                              or text[m.start() - 1] == "_")]
    lines.update(lines_at(text, starts))
    return sorted(lines)


COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
            ast.With, ast.AsyncWith, ast.Try) + tuple(getattr(ast, n) for n in ("TryStar", "Match") if hasattr(ast, n))


class _Walker:
    """Walks statements only; expressions are walked just where a trigger word appears (fast on big modules)."""

    def __init__(self, trigger_lines: list[int], import_lines: list[int] | None = None) -> None:
        self.scan = ModuleScan()
        self.aliases: dict[str, str] = {}
        self._optional = 0
        self._lazy = 0
        self._functions = 0  # def bodies around the node (`_lazy` counts except handlers too)
        self._triggers = trigger_lines
        # Lines that may matter at all (an import or a trigger): compound statements without one are skipped.
        self._interesting = sorted(set(trigger_lines) | set(import_lines)) if import_lines is not None else None
        self._consts: dict[str, bool] = {}  # module-level names bound to platform tests (WIN = ...)
        self._listed: list[tuple[str, int, bool]] = []  # `iter_modules(ns_pkg.__path__)`: (ns_pkg, line, lazy)
        self._fallback: tuple[tuple[str, int], ...] = ()
        # Names bound to literal strings: tables (`PLUGINS = ("a", "b")`) and loop variables over them
        self._values: dict[str, tuple[str, ...]] = {}
        self._defaults: dict[str, str] = {}  # the walked function's parameters with a literal str default
        self._classes = 0
        # the module-level function being walked: its name, parameters, and locals built from a parameter
        self._function: FunctionScope | None = None
        self._relative: dict[str, str] = {}  # names bound by `from .mod import f`: ".mod.f"
        self._calls: list[Call] = []  # literal calls, callee as written
        self.relative: list[tuple[str, int]] = []  # ".views" given to a call: a module of the caller's package
        # Names bound to a computed string (`path = f"._{snake(name)}"`): a later import_module(path) has its prefix
        self._built: dict[str, ast.AST] = {}
        self._found: set[str] = set()  # names bound to find_library("literal"): a load of one is named already
        self._tables: dict[str, tuple[str, ...]] = {}  # module-level dicts of literal strings: their values
        # loop variables over a name another module defines (`from . import _plugins`): name -> that name
        self._imported_loops: dict[str, str] = {}

    def walk(self, stmts) -> None:
        for node in stmts:
            kind = type(node)
            if kind in COMPOUND and self._interesting is not None and not self._touches(node):
                continue
            if kind is ast.Import:
                self.visit_Import(node)
            elif kind is ast.ImportFrom:
                self.visit_ImportFrom(node)
            elif kind is ast.If:
                if _is_main_guard(node.test):
                    self.scan.main_block_imports = True  # runs only when the module is the program
                    continue
                if _is_type_checking(node.test):
                    if self._functions == 0 and not self._classes:
                        self._note_typing_imports(node.body)
                    self.walk(node.orelse)
                    continue
                truth = static_truth(node.test, self._consts)
                if truth is not None:  # a platform test: only the Linux branch runs
                    self.walk(node.body if truth else node.orelse)
                    continue
                self._exprs(node.test)
                self.walk(node.body)
                built = dict(self._built)
                self.walk(node.orelse)
                for target, value in built.items():  # a computed name from either branch, as for `a if t else b`
                    self._built.setdefault(target, value)
            elif kind is ast.Try or kind.__name__ == "TryStar":
                guarded = any(self._catches_import_error(h) for h in node.handlers)
                self._optional += guarded
                first = len(self.scan.imports)
                self.walk(node.body)
                self._optional -= guarded
                tried = tuple((r.module, r.level, r.names) for r in self.scan.imports[first:])
                for handler in node.handlers:
                    # An ImportError handler is a fallback import; any other handler is an error path,
                    # as rarely run as a function body.
                    fallback = self._catches_import_error(handler)
                    self._lazy += not fallback
                    outer = self._fallback
                    if fallback and tried:
                        self._fallback = tried
                    self.walk(handler.body)
                    self._fallback = outer
                    self._lazy -= not fallback
                self.walk(node.orelse)
                self.walk(node.finalbody)
            elif kind in (ast.FunctionDef, ast.AsyncFunctionDef):
                if node.name == "__getattr__" and self._functions == 0 and not self._classes:
                    self.scan.serves_lazily = True
                for dec in node.decorator_list:
                    self._exprs(dec)
                self._lazy += 1
                self._functions += 1
                outer = self._function
                if self._functions == 1 and not self._classes:
                    self._function = FunctionScope.of(node)
                (built, self._built), (found, self._found) = (self._built, {}), (self._found, set())
                values, self._values = self._values, dict(self._values)  # its own bindings end with it
                defaults, self._defaults = self._defaults, _str_defaults(node)
                self.walk(node.body)
                self._built, self._found, self._values, self._defaults = built, found, values, defaults
                self._function = outer
                self._functions -= 1
                self._lazy -= 1
            elif kind is ast.ClassDef:
                for dec in node.decorator_list:
                    self._exprs(dec)
                self._classes += 1
                self.walk(node.body)
                self._classes -= 1
            elif kind.__name__ == "Match":
                self._exprs(node.subject)
                for case in node.cases:
                    self.walk(case.body)
            elif hasattr(node, "body") and isinstance(node.body, list):  # for, while, with
                for field_name in ("iter", "test", "items"):
                    value = getattr(node, field_name, None)
                    if isinstance(value, list):
                        for item in value:
                            self._exprs(item.context_expr)
                    elif value is not None:
                        self._exprs(value)
                bound = self._bind(node.target, node.iter) if kind in (ast.For, ast.AsyncFor) else None
                # `with contextlib.suppress(ImportError):` guards its body as `try/except ImportError` does
                guarded = kind in (ast.With, ast.AsyncWith) and any(self._suppresses_import_error(item.context_expr)
                                                                     for item in node.items)
                self._optional += guarded
                looped = self._bind_imported(node.target, node.iter) if kind in (ast.For, ast.AsyncFor) \
                    and not bound else None
                unknown = None
                if kind in (ast.For, ast.AsyncFor) and not bound and isinstance(node.target, ast.Name):
                    unknown = (node.target.id, self._values.pop(node.target.id, None))  # values not known here
                self.walk(node.body)
                self._optional -= guarded
                if bound:
                    self._unbind(bound)
                if unknown:
                    self._unbind(unknown)
                if looped:
                    self._imported_loops.pop(looped, None)
                self.walk(getattr(node, "orelse", []))
            else:
                if kind in (ast.Assign, ast.AnnAssign) and self._functions == 0 and not self._classes:
                    self._note_table(node)
                    if kind is ast.Assign and any(_serves_attributes(t, self.aliases) for t in node.targets):
                        self.scan.serves_lazily = True
                if kind is ast.Assign and len(node.targets) == 1 and self._function is not None:
                    self._function.assign(node.targets[0], node.value)
                if kind is ast.Assign and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    target = node.targets[0].id
                    if self._lazy == 0:
                        truth = static_truth(node.value, self._consts)
                        if truth is not None:
                            self._consts[target] = truth
                    values = _literal_strings(node.value)
                    if values is None:
                        values = self._looked_up(node.value)
                    if values is not None:
                        self._values[target] = values
                    else:
                        self._values.pop(target, None)
                    word = const_str(node.value)
                    if self._function is None and self._classes == 0 and word and ENTRY_POINT_GROUP.fullmatch(word):
                        self.scan.constants[target] = word
                    if self._functions == 0 and word and PROGRAM_ATTRIBUTE.search(target) and PROGRAM_WORD.fullmatch(word):
                        self.scan.program_names.append((word, node.lineno))
                    if _constant_prefix(node.value) or _relative_to_own_package(node.value) is not None:
                        self._built[target] = node.value
                    else:
                        self._built.pop(target, None)
                    if self._finds_literal(node.value):
                        self._found.add(target)
                    else:
                        self._found.discard(target)
                self._exprs(node)

    def _bind(self, target: ast.AST, iterable: ast.AST) -> tuple[str, tuple[str, ...] | None] | None:
        """`for name in ("a", "b")` / `for name in TABLE`: the loop variable takes those values in the body."""
        if not isinstance(target, ast.Name):
            return None
        values = _literal_strings(iterable, allow_single=False)
        if values is None and isinstance(iterable, ast.Name):
            values = self._values.get(iterable.id)
        if values is None:
            return None
        previous = self._values.get(target.id)
        self._values[target.id] = values
        return target.id, previous

    def _note_table(self, node: ast.Assign | ast.AnnAssign) -> None:
        """`_EXTENSION_PLUGIN: dict[str, str] = {".png": "PngImagePlugin", …}`: what a lookup in it can give."""
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if len(node.targets) == 1
                                                                        else None)
        if not isinstance(target, ast.Name):
            return
        values = tuple(const_str(v) for v in node.value.values) if isinstance(node.value, ast.Dict) else ()
        if values and all(v is not None for v in values):
            self._tables[target.id] = tuple(dict.fromkeys(values))  # many keys, fewer values
        else:
            self._tables.pop(target.id, None)

    def _looked_up(self, node: ast.AST) -> tuple[str, ...] | None:
        """`TABLE.get(key)` or `TABLE[key]` over a literal table: one of its values (or None, which imports nothing)."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and isinstance(node.func.value, ast.Name) and len(node.args) == 1:
            return self._tables.get(node.func.value.id)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            return self._tables.get(node.value.id)
        return None

    def _bind_imported(self, target: ast.AST, iterable: ast.AST) -> str | None:
        """`for plugin in _plugins` where `from . import _plugins`: its values are another module's literal."""
        if isinstance(target, ast.Name) and isinstance(iterable, ast.Name):
            source = self._relative.get(iterable.id) or self.aliases.get(iterable.id)
            if source and source.rpartition(".")[2] == iterable.id:
                self._imported_loops[target.id] = source
                return target.id
        return None

    def _unbind(self, bound: tuple[str, tuple[str, ...] | None]) -> None:
        name, previous = bound
        if previous is None:
            self._values.pop(name, None)
        else:
            self._values[name] = previous

    def _expand(self, node: ast.AST) -> list[str] | None:
        """Every value a string expression can take when it is built from literals and literal-bound names
        (`"pkg.plugins." + name` in a loop over a literal tuple); None when one part is not known."""
        text = const_str(node)
        if text is not None:
            return [text]
        if isinstance(node, ast.Name):
            values = self._values.get(node.id)
            return list(values) if values is not None else None
        parts = string_parts(node)
        if parts is None:
            return None
        out = [""]
        for part in parts:
            values = self._expand(part)
            if values is None:
                return None
            out = [a + b for a in out for b in values]
            if len(out) > EXPAND_LIMIT:
                return None
        return out

    def _touches(self, node: ast.AST) -> bool:
        start, end = node.lineno, getattr(node, "end_lineno", None) or node.lineno
        for dec in getattr(node, "decorator_list", ()):
            start = min(start, dec.lineno)
        i = bisect.bisect_left(self._interesting, start)
        return i < len(self._interesting) and self._interesting[i] <= end

    def _exprs(self, node: ast.AST) -> None:
        start = getattr(node, "lineno", None)
        if start is None:
            return
        end = getattr(node, "end_lineno", None) or start
        i = bisect.bisect_left(self._triggers, start)
        if i == len(self._triggers) or self._triggers[i] > end:
            return
        lazy = self._lazy
        subs = list(ast.walk(node))
        bound = [b for sub in subs if isinstance(sub, ast.comprehension) for b in [self._bind(sub.target, sub.iter)] if b]
        for sub in subs:
            if isinstance(sub, ast.Call):
                self.visit_Call(sub)
            elif isinstance(sub, ast.Compare):
                self.visit_Compare(sub)
        for b in reversed(bound):
            self._unbind(b)
        self._lazy = lazy

    def _suppresses_import_error(self, expr: ast.AST) -> bool:
        """`contextlib.suppress(ImportError)`, `suppress(ModuleNotFoundError, OSError)`, under any import name."""
        if not isinstance(expr, ast.Call) or (self._qualified(expr.func) or "").split(".")[-1] != "suppress":
            return False
        return any((dotted(arg) or "").split(".")[-1] in IMPORT_ERRORS for arg in expr.args)

    @staticmethod
    def _catches_import_error(handler: ast.ExceptHandler) -> bool:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        return any((dotted(t) or "").split(".")[-1] in IMPORT_ERRORS for t in types)

    def _note_typing_imports(self, body: list[ast.stmt]) -> None:
        """The from-imports of a skipped `if TYPE_CHECKING:` body, kept apart from the real imports (the follower
        takes the relative ones and those of the module's own package)."""
        first = len(self.scan.imports)
        saved = dict(self.aliases), dict(self._relative)
        for stmt in body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.ImportFrom):
                    self.visit_ImportFrom(node)
        self.scan.typing_imports += self.scan.imports[first:]
        del self.scan.imports[first:]
        self.aliases, self._relative = saved  # names for type checkers only: bound by the lazy path, if at all

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, 0, (), node.lineno)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases.setdefault(top, top)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = tuple(a.name for a in node.names)
        self._add(node.module or "", node.level, names, node.lineno)
        if node.level == 0 and node.module:
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif node.level:
            for a in node.names:
                self._relative[a.asname or a.name] = "." * node.level + (f"{node.module}." if node.module else "") + a.name

    def _add(self, module: str, level: int, names: tuple[str, ...], lineno: int) -> None:
        function = self._function.name if self._function is not None and self._lazy == 1 else ""
        self.scan.imports.append(ImportRef(module, level, names, lineno, self._optional > 0, self._lazy > 0,
                                           self._fallback, guarded=self._optional > 0, function=function))
        top = module.split(".")[0] if level == 0 else ""
        if top in ("threading", "_thread", "concurrent"):
            self.scan.facts.append(CodeFact("threads", module, lineno))
        elif top == "multiprocessing":
            self.scan.facts.append(CodeFact("multiprocessing", module, lineno))
        elif top == "ctypes":
            self.scan.facts.append(CodeFact("ctypes", module, lineno))
        elif top == "subprocess":
            self.scan.facts.append(CodeFact("subprocess", module, lineno))

    def visit_Compare(self, node: ast.Compare) -> None:
        """`ep.group == "name"` / `ep.group != NAME`: a filter over every entry point names its group."""
        sides = [node.left, *node.comparators]
        if len(sides) == 2 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            for mine, other in (sides, sides[::-1]):
                if isinstance(mine, ast.Attribute) and mine.attr == "group":
                    text = const_str(other)
                    if text and ENTRY_POINT_GROUP.fullmatch(text):
                        self.scan.groups.append((text, node.lineno))
                    elif isinstance(other, ast.Name):
                        self.scan.group_names.append((other.id, node.lineno))

    # calls
    def visit_Call(self, node: ast.Call) -> None:
        name = self._qualified(node.func)
        first = const_str(node.args[0]) if node.args else None
        if name in IMPORT_MODULE_CALLS | RESOLVE_NAME_CALLS:
            if node.args and self._function is not None:
                self._function.note_import(node.args[0], node.lineno, self.scan.wrappers)
        elif name:
            self._calls.extend(literal_calls(dotted(node.func), node, self._expand, self._lazy > 0))
        word = _callee_word(node.func)
        if first and RELATIVE_NAME.fullmatch(first) and word not in TEXT_CALLS:
            self.relative.append((first, node.lineno))
        for group in _entry_point_groups(node, word):
            self.scan.groups.append((group, node.lineno))
        self.scan.group_names += [(kw.value.id, node.lineno) for kw in node.keywords
                                  if kw.arg == "group" and isinstance(kw.value, ast.Name)]
        own = _relative_to_own_package(node.args[0]) if node.args and name in IMPORT_MODULE_CALLS else None
        if own is None and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in self._built \
                and name in IMPORT_MODULE_CALLS | RESOLVE_NAME_CALLS:
            built = self._built[node.args[0].id]
            own = _relative_to_own_package(built) if name in IMPORT_MODULE_CALLS else None
            target = own if own is not None else built
        else:
            target = own if own is not None else node.args[0] if node.args else None
        named = self._expand(target) if node.args and name in IMPORT_MODULE_CALLS | RESOLVE_NAME_CALLS else None
        if name in RESOLVE_NAME_CALLS and named:
            for text in named:
                module, colon, _attr = text.partition(":")
                parent, _, last = module.rpartition(".")
                ref = (module, ()) if colon or not parent else (parent, (last,))
                if all(p.isidentifier() for p in ref[0].split(".")):
                    self.scan.imports.append(ImportRef(ref[0], 0, ref[1], node.lineno, True, self._lazy > 0))
        elif name in IMPORT_MODULE_CALLS and named:
            literal, package = _anchor(node, own)
            for text in named:
                level = len(text) - len(text.lstrip("."))
                if not all(p.isidentifier() for p in text[level:].split(".")) or (level and not package):
                    continue
                module, level = _anchored(text[level:], level, literal) if level and own is None and literal \
                    else (text[level:], level)
                self.scan.imports.append(ImportRef(module, level, (), node.lineno, True, self._lazy > 0))
        elif name in LISTING_CALLS and node.args and isinstance(node.args[0], ast.Attribute) and \
                node.args[0].attr == "__path__" and dotted(node.args[0].value):
            self._listed.append((dotted(node.args[0].value), node.lineno, self._lazy > 0))
        elif name in IMPORT_MODULE_CALLS | RESOLVE_NAME_CALLS and node.args:
            # import_module(f"app.plugins.{name}"): which one is known at run time; the package they live in now
            prefix = _constant_prefix(target) or _default_prefix(target, self._defaults) or ""
            literal, package = _anchor(node, own) if name in IMPORT_MODULE_CALLS else (None, own is not None)
            level = len(prefix) - len(prefix.lstrip("."))
            parent = prefix[level:].rpartition(".")[0]
            if (parent or level) and all(p.isidentifier() for p in parent.split(".") if parent) and \
                    (level == 0 or package):
                if level and own is None and literal:
                    parent, level = _anchored(parent, level, literal)
                tree = ATTRIBUTE_TREE if self._imports_attribute(target, prefix) else PACKAGE_TREE
                names = (tree, CALLER_NAMED) if self._wrapper_parameter_first(target) else (tree,)
                table = self._imported_table(target)
                if table:
                    names += (TABLE_NAMED + table,)
                self.scan.imports.append(ImportRef(parent, level, names, node.lineno, True, self._lazy > 0))
            else:
                self.scan.computed.append((f"{name}({_source_of(node.args[0])})", node.lineno, self._functions > 0))
        elif (name and first and name.endswith(RESOURCE_CALL_SUFFIXES) and name.startswith(RESOURCE_MODULES)
              and all(part.isidentifier() for part in first.split("."))):
            self.scan.imports.append(ImportRef(first, 0, (), node.lineno, True, self._lazy > 0))
        elif name and (name in CTYPES_LOADERS or name.endswith(("find_library", ".LoadLibrary"))
                       or name in ("ctypes.CDLL", "CDLL")):
            # ctypes.util's find_library, qualified or imported under any name: a bare `find_library()` not
            # imported is the module's own def (ctypes/util.py's test() calls it), which need not ask ldconfig
            if name in CTYPES_FIND or name.endswith(".find_library"):
                self.scan.libraries.append((LDCONFIG, node.lineno))
            loaded = self._loaded(node, name)
            self.scan.libraries += [(lib, node.lineno) for lib in loaded]
            if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value is None:
                self.scan.facts.append(CodeFact("dlopen-null", f"{name}(None)", node.lineno))
            if name not in CTYPES_FIND:
                self.scan.facts.append(CodeFact("ctypes", f"{name}({first or '…'})", node.lineno))
        elif name and name.endswith(".dlopen") and node.args:
            # cffi's ffi.dlopen("libfoo.so.1") loads a library by name; a bare name ("uuid") goes through
            # ctypes.util.find_library, which asks /sbin/ldconfig
            for lib in self._loaded(node, name):
                self.scan.libraries.append((lib, node.lineno))
                if ".so" not in lib and "/" not in lib:
                    self.scan.libraries.append((LDCONFIG, node.lineno))
        elif name and (name.startswith("subprocess.") or name in SUBPROCESS_CALLS or name in PATH_LOOKUPS):
            if name not in PATH_LOOKUPS:
                self.scan.facts.append(CodeFact("subprocess", name, node.lineno))
            program = _program_of(node)
            command = _command_argument(node)
            if program:
                self.scan.programs.append((program, node.lineno))
            elif command is not None:
                prefix = self._program_prefix(command)
                if prefix:
                    self.scan.program_prefixes.append((prefix, node.lineno))
        elif name in FORK_CALLS:
            self.scan.facts.append(CodeFact("fork", name, node.lineno))
        elif name in PIPE_CALLS:
            self.scan.facts.append(CodeFact("pipe", name, node.lineno))
        elif name in ("open", "io.open", "builtins.open") and first and first.startswith("/"):
            mode = const_str(node.args[1]) if len(node.args) > 1 else None
            for kw in node.keywords:
                if kw.arg == "mode":
                    mode = const_str(kw.value)
            if mode and any(c in mode for c in "wax+") and not first.startswith(("/tmp/", "/dev/")):
                self.scan.facts.append(CodeFact("writes", first, node.lineno))

    def _finds_literal(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and (self._qualified(node.func) or "").endswith("find_library") and \
            bool(node.args) and self._expand(node.args[0]) is not None

    def _loaded(self, node: ast.Call, name: str) -> list[str]:
        """The library names a load call is given (literals, loop variables over literal tuples); a name known
        only at run time is a `dlopen-computed` fact (analyzers/libcalls.py asks the callers of its function)."""
        if not node.args or isinstance(node.args[0], ast.Constant) and node.args[0].value is None:
            return []
        if name in ("ctypes.LibraryLoader", "ctypes.CDLL.__init__"):  # a class, self: no library name first
            return [text for text in [const_str(node.args[0])] if text]
        arg = node.args[0]
        if self._finds_literal(arg) or isinstance(arg, ast.Name) and arg.id in self._found:
            return []  # CDLL(find_library("c")), or a name bound to it: that call names the library
        values = self._expand(arg)
        if values is None:
            self.scan.facts.append(CodeFact("dlopen-computed", f"{name}({_source_of(node.args[0])})", node.lineno))
        return values or []

    def _imports_attribute(self, target: ast.AST, prefix: str) -> bool:
        """`def __getattr__(name): … import_module(f"pkg.{name}")` at module level: the attribute read names the
        submodule (scipy's subpackages)."""
        function = self._function
        return (function is not None and function.name == "__getattr__" and self._functions == 1
                and not self._classes and bool(function.params) and prefix.endswith(".")
                and isinstance(target, ast.JoinedStr) and len(target.values) == 2
                and isinstance(target.values[1], ast.FormattedValue) and target.values[1].format_spec is None
                and isinstance(target.values[1].value, ast.Name) and target.values[1].value.id == function.params[0])

    def _imported_table(self, target: ast.AST) -> str | None:
        """f"{__spec__.parent}.{plugin}" with `plugin` a loop variable over an imported name: that name."""
        if isinstance(target, ast.JoinedStr) and len(target.values) == 2 and const_str(target.values[0]) == "." \
                and isinstance(target.values[1], ast.FormattedValue) and isinstance(target.values[1].value, ast.Name):
            return self._imported_loops.get(target.values[1].value.id)
        return None

    def _wrapper_parameter_first(self, target: ast.AST) -> bool:
        function = self._function
        if function is None or not isinstance(target, ast.JoinedStr):
            return False
        # the parameter itself, not a value made from it (rich's f".unicode{v.replace('.', '-')}" differs from
        # the literal its callers pass: the package tree stays the answer there)
        first = next((v for v in target.values if isinstance(v, ast.FormattedValue)), None)
        return first is not None and first.conversion == -1 and first.format_spec is None \
            and isinstance(first.value, ast.Name) \
            and any(w.function == function.name and w.param == first.value.id for w in self.scan.wrappers)

    def resolve_calls(self, tree: ast.Module) -> None:
        """The literal calls in absolute form; wrappers that only pass their parameter on to another wrapper of
        this module."""
        self.scan.calls.extend(resolve_calls(self._calls, self.aliases, self._relative, tree))
        if self.scan.wrappers:
            forwarding_wrappers(tree, self.scan.wrappers)

    def resolve_listed(self) -> None:
        """A package whose directory is listed (`pkgutil.iter_modules(ns_pkg.__path__)`, Pelican's namespace
        plugins) and whose modules are then imported by the names found: every module of it may be. The name
        is resolved once the whole module is walked: the `import pelican.plugins as ns_pkg` may come later."""
        for text, lineno, lazy in self._listed:
            head, _, rest = text.partition(".")
            if head in self.aliases:  # bound by an import in this module, not only a parameter
                package = f"{self.aliases[head]}.{rest}" if rest else self.aliases[head]
                self.scan.imports.append(ImportRef(package, 0, (PACKAGE_TREE,), lineno, True, lazy))

    def _program_prefix(self, arg: ast.AST) -> str | None:
        """The constant start of a computed program name: `f"jupyter-{sub}"`, `["git-" + cmd, …]`, or a name
        bound to such a string earlier; None for a shell line (a space in it) or no constant start."""
        if isinstance(arg, (ast.List, ast.Tuple)) and arg.elts:
            arg = arg.elts[0]
        if isinstance(arg, ast.Name) and arg.id in self._built:
            arg = self._built[arg.id]
        prefix = _constant_prefix(arg)
        return prefix if prefix and not any(c.isspace() for c in prefix) else None

    def _qualified(self, func: ast.AST) -> str | None:
        name = dotted(func)
        if not name:
            return None
        head, _, rest = name.partition(".")
        if head in self.aliases:
            head = self.aliases[head]
        return f"{head}.{rest}" if rest else head


_IMPORT_LINE = re.compile(r"^\s*(?:from\s+(\.*)([\w.]*)\s+import\s+\(?([\w\s,*]+)|import\s+([\w.,\s]+?)(?:\s+as\s+\w+)?\s*$)")


def _line_scan(text: str) -> ModuleScan:
    scan = ModuleScan(parsed=False)
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _IMPORT_LINE.match(line)
        if not m:
            continue
        indented = line[:1].isspace()
        if m.group(4):
            for part in m.group(4).split(","):
                name = part.strip().split(" as ")[0].strip()
                if name:
                    scan.imports.append(ImportRef(name, 0, (), lineno, indented, indented))
        else:
            names = tuple(n.strip().split(" as ")[0] for n in m.group(3).split(",") if n.strip())
            scan.imports.append(ImportRef(m.group(2), len(m.group(1)), names, lineno, indented, indented))
    return scan


READ_ATTRIBUTE = re.compile(r"\.([A-Za-z_]\w*)")  # a literal first: the regex engine's fast search
READ_QUOTED = re.compile(r"""["']([A-Za-z_]\w*)["']""")
# getattr(obj, <not a literal>), hasattr too; inspect.getmembers(obj) reads every name dir(obj) gives
COMPUTED_GETATTR = re.compile(r"""attr\(\s*([A-Za-z_][\w.]*)\s*,\s*(?![rRbBuU]?["'])(?=\S)"""  # literal first: fast
                              r"""|getmembers\(\s*([A-Za-z_][\w.]*)\s*[,)]""")


def literal_binding(source: bytes | None, name: str) -> tuple[str, ...] | None:
    """The strings of `name = [...]` (a list or tuple of literals) when the module binds `name` at its top level
    that once and nowhere else (no `name +=`, no other assignment, no def or import of it)."""
    if not source or name.encode() not in source:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found: list[tuple[str, ...] | None] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                keep = node in tree.body and not isinstance(node, ast.AugAssign) and node.value is not None
                found.append(_literal_strings(node.value, allow_single=False) if keep else None)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            found.append(None)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == name for a in node.names):
            found.append(None)
        elif isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Del):
            found.append(None)
    return found[0] if len(found) == 1 else None


def read_names(text: str) -> frozenset[str]:
    """Every `.name` and quoted "name" of the source (over-approximate: comments and docstrings too), which the
    code may read as an attribute of something (lazyattrs.py). At C speed; an AST walk would cost a third of the
    scan, and only modules that name a lazy package need it, so it is not part of the scan."""
    return frozenset(READ_ATTRIBUTE.findall(text)).union(READ_QUOTED.findall(text))


def wholesale_reads(text: str, aliases: dict[str, str], relative: dict[str, str]) -> list[tuple[str, int]]:
    """The objects `getattr(obj, computed)` reads, as module names through the module's imports; "" once for one
    bound otherwise (a parameter, a local: maybe a module)."""
    found: dict[str, int] = {}
    if "attr(" not in text and "getmembers(" not in text:
        return []
    for m in COMPUTED_GETATTR.finditer(text):
        if m.group(1) and text[m.start() - 3: m.start()] not in ("get", "has"):
            continue
        head, dot, rest = (m.group(1) or m.group(2)).partition(".")
        bound = aliases.get(head) or relative.get(head)
        target = bound + dot + rest if bound else ""
        if target not in found:
            found[target] = text.count("\n", 0, m.start()) + 1
    return list(found.items())


def dotted_strings(text: str) -> list[tuple[str, int]]:
    """Quoted dotted names with the line of their first appearance: "pkg.mod", 'pkg.mod:attr', "pkg:attr"."""
    return list(first_lines(text, ((m.group(2) + (m.group(3) or ""), m.start()) for m in DOTTED_STRING.finditer(text)
                                   if "." in m.group(2) or m.group(3))).items())


FORK_SCAN_BYTES = 512 << 10  # bigger sources are parsed in a child that a deadline can kill


def scan_source(source: bytes) -> ModuleScan:
    """The module's imports and code facts. Bounded (faktory.limits): a file too big, too slow or nested too
    deeply for the parser gets a `not-scanned` fact instead; a syntax error a `syntax-error` fact."""
    from faktory.limits import ScanTimeout, limits, run_bounded, time_limit

    budget = limits()
    if len(source) > budget.max_module_bytes:
        return _unscanned(f"{len(source)} bytes, over the {budget.max_module_bytes}-byte scan limit "
                          "(FAKTORY_MAX_MODULE_SIZE)")
    try:
        if len(source) > FORK_SCAN_BYTES and budget.module_seconds > 0:  # the parser alone may take seconds
            return run_bounded(_scan, source, budget.module_seconds)
        with time_limit(budget.module_seconds):
            return _scan(source)
    except ScanTimeout:
        return _unscanned(f"its scan took over {budget.module_seconds:g} s (FAKTORY_MODULE_SCAN_SECONDS)", True)
    except (RecursionError, MemoryError):  # the parser's C stack guard, or our walker's recursion
        return _unscanned("nested too deeply to parse")


def _started_calls(body, aliases: dict[str, str]) -> list[tuple[str, int]]:
    """Calls of imported functions in the statements that run with the module (not in a def or class; the
    `__main__` block too): a console script's `sys.exit(start_ipython())` names `IPython.start_ipython`."""
    found: list[tuple[str, int]] = []
    for stmt in body:
        if isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
            found += _started_calls(stmt.body, aliases)
            continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Call):
                name = dotted(sub.func)
                head, _, rest = (name or "").partition(".")
                if head in aliases:
                    found.append((f"{aliases[head]}.{rest}" if rest else aliases[head], sub.lineno))
    return found


def _unscanned(why: str, timed_out: bool = False) -> ModuleScan:
    return ModuleScan(parsed=False, facts=[CodeFact("not-scanned", why, 1)], timed_out=timed_out)


def _scan(source: bytes) -> ModuleScan:
    text = source.decode("utf-8", "replace")
    walker = None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        scan = _line_scan(text)
        lineno = getattr(exc, "lineno", None) or 1
        scan.facts.append(CodeFact("syntax-error", f"{getattr(exc, 'msg', exc)}", lineno))
    else:
        # the name an import call is given may be bound in an `if` holding no import or trigger word of its own
        # (`if type_ in internal: module = "pkg.%s.%s" % (kind, type_)`): compound statements naming it are walked
        given = {m.group(1) for m in IMPORTED_NAME.finditer(text)}
        walker = _Walker(_trigger_lines(text), sorted(_lines_of_words(("import", *given), text)))
        walker.walk(tree.body)
        walker.resolve_listed()
        walker.resolve_calls(tree)
        scan = walker.scan
        # a drop-in package (`__path__.extend(pluginPackagePaths(__name__))`): its modules are found by listing
        scan.imports += [ImportRef("", 1, (PACKAGE_TREE,), line, True) for line in grown_path_lines(tree)]
        scan.started = _started_calls(tree.body, walker.aliases)
    scan.strings = dotted_strings(text) + (walker.relative if walker is not None else [])
    scan.wholesale = wholesale_reads(text, walker.aliases if walker else {}, walker._relative if walker else {})
    return scan
