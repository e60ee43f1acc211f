"""PyInstaller hook files (`hook-<module>.py`) read statically: the AST is interpreted, never imported or run.

A hook asks PyInstaller's helpers about the build host (`collect_submodules("x")` lists x's modules *there*).
Here every such call becomes an image-independent rule (`Submodules("x")`, `DataFiles("x")`, …) that the
analysis evaluates against the image's own files. Version and requirement tests cannot be decided without the
image's versions, so both branches of such an `if` are taken (their union); platform tests are decided for
Linux. Whatever is not understood is recorded with its line and a reason, and the rest of the hook still counts.
"""

from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass, field
from typing import Any

from faktory.analyzers.hookrules import (COMPARE, BadFilter, DataFiles, DynamicLibs, EntryPoints, Metadata,
                                         MypycModules, Rule, Submodules, SystemPath, filter_predicate)

OUTPUTS = ("hiddenimports", "datas", "binaries", "excludedimports")
# helpers whose one argument names a package or distribution: helper -> (rule, keyword of that argument)
ONE_NAME_RULES = {"collect_dynamic_libs": (DynamicLibs, "package"),
                  "find_mypyc_module_for_dist": (MypycModules, "dist_name")}
VERSION_TESTS = {"is_module_satisfies", "check_requirement", "can_import_module", "is_module_or_submodule_version"}
LINUX = {"is_linux": True, "is_unix": True, "is_win": False, "is_darwin": False, "is_cygwin": False,
         "is_aix": False, "is_freebsd": False, "is_openbsd": False, "is_solar": False, "is_hpux": False,
         "is_bsd": False, "is_macos_app_bundle": False, "is_win_10": False, "is_win_11": False, "is_win_wine": False,
         "is_msys2": False, "is_musl": False, "is_ms_app_store": False, "is_64bits": True}
PURE_STR_METHODS = {"startswith", "endswith", "split", "rsplit", "replace", "strip", "lower", "upper", "format",
                    "join", "partition", "rpartition", "count"}


@dataclass(frozen=True)
class Item:
    value: Rule
    line: int


@dataclass(frozen=True)
class Reading:
    """What one hook file says: per output, its items with the line each came from; what was not understood."""
    module: str
    outputs: dict[str, tuple[Item, ...]] = field(default_factory=dict)
    problems: tuple[tuple[str, int], ...] = ()  # (reason, line)

    @property
    def status(self) -> str:
        if not self.problems:
            return "full"
        return "partial" if any(self.outputs.values()) else "none"


# --- symbolic values of the interpreter ------------------------------------------------------------------
@dataclass(frozen=True)
class Unknown:
    reason: str


@dataclass(frozen=True)
class Cond:
    """A truth value only the image's versions decide (is_module_satisfies, version tuples): both branches."""


@dataclass(frozen=True)
class Version:
    """A version number (of a distribution, of the interpreter): comparisons with it are Cond."""


@dataclass(frozen=True)
class Helper:
    name: str


@dataclass(frozen=True)
class Mod:
    name: str


@dataclass(frozen=True)
class PkgPath:
    """A path inside a package's directory: get_module_file_attribute, os.path.dirname/join over it."""
    package: str
    rel: str  # "" = the package dir; "__file__" = the module file itself


@dataclass
class SymList:
    items: list[Item]


class _Logger:
    pass


LOGGER = _Logger()


def _known_module(name: str) -> Mod:
    return Mod("logging" if name in ("PyInstaller.log", "logging") else name)


def _attr_of_module(mod: Mod, attr: str):
    full = f"{mod.name}.{attr}"
    if mod.name == "logging":
        return Helper("logging.getLogger") if attr == "getLogger" else LOGGER
    if attr == "logger" and mod.name.startswith("PyInstaller"):
        return LOGGER
    if mod.name.startswith(("PyInstaller", "_pyinstaller_hooks_contrib")):
        if attr in LINUX:
            return LINUX[attr]
        if attr.startswith("is_py") or attr in ("is_conda", "is_pure_conda", "is_venv", "is_virtualenv"):
            return Cond()
        if attr in ("importlib_metadata",):
            return Mod("importlib.metadata")
        if attr in ("compat", "hooks", "utils", "isolated", "log", "depend"):
            return Mod(full)
        return Helper(attr)  # calling one faktory does not know gives an Unknown naming it
    if mod.name in ("os", "os.path", "pathlib", "sys", "importlib.metadata", "importlib_metadata", "packaging.version",
                    "glob", "ctypes.util", "ctypes", "platform", "sysconfig"):
        if mod.name == "sys" and attr == "platform":
            return "linux"
        if mod.name == "sys" and attr == "version_info":
            return Version()
        if mod.name == "os" and attr == "sep":
            return "/"
        if mod.name == "os" and attr == "path":
            return Mod("os.path")
        if mod.name == "os" and attr == "name":
            return "posix"
        return Helper(full)
    return Helper(full)


class _Stop(Exception):
    pass


class Reader:
    """One hook file's top-level statements, interpreted over symbolic values."""

    def __init__(self, module: str):
        self.module = module
        self.env: dict[str, Any] = {"__name__": f"hook-{module}", "__file__": Unknown("__file__ (the hook's path)")}
        self.problems: list[tuple[str, int]] = []
        self.line = 0

    # -- statements --------------------------------------------------------------------------------------
    def run(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.line = stmt.lineno
            try:
                self.stmt(stmt)
            except _Stop:
                return

    def problem(self, reason: str, line: int | None = None) -> None:
        self.problems.append((reason, line or self.line))

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self.imports(node)
        elif isinstance(node, ast.Assign):
            value = self.expr(node.value)
            for target in node.targets:
                self.bind(target, value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.bind(node.target, self.expr(node.value))
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name) and isinstance(node.op, (ast.Add, ast.BitOr)):
                self.bind(node.target, self.add(self.env.get(node.target.id, Unknown(f"name {node.target.id}")),
                                                self.expr(node.value)))
            else:
                self.bind(node.target, Unknown("augmented assignment other than +="))
        elif isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant):
                return  # docstring
            self.expr(node.value, statement=True)
        elif isinstance(node, ast.If):
            self.branch(self.truth(self.expr(node.test)), node.body, node.orelse)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self.try_(node)
        elif isinstance(node, ast.For):
            self.for_(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == "hook":
                self.problem("hook(hook_api) function (runs at build time)")
            elif node.name in ("pre_safe_import_module", "pre_find_module_path"):
                self.problem(f"{node.name}() function")
            self.env[node.name] = Unknown(f"call to {node.name}(), a function the hook defines")
        elif isinstance(node, ast.ClassDef):
            self.env[node.name] = Unknown(f"class {node.name} the hook defines")
        elif isinstance(node, ast.Raise):
            raise _Stop  # this branch ends here (SystemExit for unsupported versions)
        elif isinstance(node, (ast.Pass, ast.Assert, ast.Delete, ast.Global, ast.Nonlocal)):
            return
        else:
            self.problem(f"{type(node).__name__.lower()} statement")

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.env[alias.asname] = _known_module(alias.name)
                else:
                    self.env[alias.name.split(".")[0]] = _known_module(alias.name.split(".")[0])
            return
        base = "." * node.level + (node.module or "")
        mod = _known_module(base)
        for alias in node.names:
            self.env[alias.asname or alias.name] = _attr_of_module(mod, alias.name)

    def bind(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            if target.id in OUTPUTS and not isinstance(value, SymList):
                value = self.as_list(value, target.id)
            self.env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            parts = value if isinstance(value, tuple) and len(value) == len(target.elts) else None
            for i, elt in enumerate(target.elts):
                self.bind(elt, parts[i] if parts else Unknown(getattr(value, "reason", "unpacking a value not known")))
        # attribute / subscript targets: nothing the closure reads

    def as_list(self, value: Any, name: str) -> SymList:
        if isinstance(value, SymList):
            return value
        if isinstance(value, (list, tuple, set)):
            return SymList([Item(v, self.line) for v in value])
        if isinstance(value, Unknown):
            return SymList([Item(value, self.line)])
        return SymList([Item(Unknown(f"{name} is not a list"), self.line)])

    def branch(self, truth: bool | None, body: list[ast.stmt], orelse: list[ast.stmt]) -> None:
        if truth is True:
            self.run(body)
        elif truth is False:
            self.run(orelse)
        else:
            self.union([body, orelse])

    def union(self, bodies: list[list[ast.stmt]]) -> None:
        start = self.env
        results = []
        for body in bodies:
            self.env = _copy_env(start)
            self.run(body)
            results.append(self.env)
        merged = dict(start)
        for env in results:
            for key, value in env.items():
                if key not in merged or merged[key] is value:
                    merged[key] = value
                    continue
                old = merged[key]
                if isinstance(old, SymList) and isinstance(value, SymList):
                    merged[key] = SymList(old.items + [i for i in value.items if i not in old.items])
                elif isinstance(old, Unknown) or isinstance(value, Unknown):
                    merged[key] = old if isinstance(old, Unknown) else value
                elif old != value:
                    merged[key] = Cond() if isinstance(old, (bool, Cond)) and isinstance(value, (bool, Cond)) \
                        else Unknown(f"{key} differs between branches")
        self.env = merged

    def try_(self, node) -> None:
        self.union([node.body + node.orelse] + [h.body for h in node.handlers])
        self.run(node.finalbody)

    def for_(self, node: ast.For) -> None:
        iterable = self.expr(node.iter)
        values = self.elements(iterable)
        if values is None:
            if isinstance(iterable, SymList) and isinstance(node.target, ast.Name):
                if self.filter_loop(node, iterable):
                    return
            self.problem(_reason(iterable, "loop over a value not known statically"))
            return
        for value in values:
            self.bind(node.target, value)
            self.run(node.body)
        self.run(node.orelse)

    def filter_loop(self, node: ast.For, iterable: SymList) -> bool:
        """`for mod in collect_submodules("x"): if COND(mod): out.append(mod)`: a filtered collection."""
        var = node.target.id
        body = node.body
        cond: ast.expr | None = None
        if len(body) == 1 and isinstance(body[0], ast.If) and not body[0].orelse:
            cond, body = body[0].test, body[0].body
        if not (len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Call)):
            return False
        call = body[0].value
        if not (isinstance(call.func, ast.Attribute) and call.func.attr == "append"
                and isinstance(call.func.value, ast.Name) and len(call.args) == 1
                and isinstance(call.args[0], ast.Name) and call.args[0].id == var):
            return False
        out = self.env.get(call.func.value.id)
        if not isinstance(out, SymList) or not all(isinstance(i.value, Submodules) for i in iterable.items):
            return False
        extra = _filter_source(cond, var) if cond is not None else ""
        if extra is None:
            return False
        for item in iterable.items:
            out.items.append(Item(_and_filter(item.value, extra), item.line))
        return True

    # -- expressions -------------------------------------------------------------------------------------
    def truth(self, value: Any) -> bool | None:
        if isinstance(value, Cond):
            return None
        if isinstance(value, Unknown):
            self.problem(f"test on {value.reason}")
            return None
        if isinstance(value, (bool, int, str, tuple, type(None))):
            return bool(value)
        if isinstance(value, SymList):
            return None if value.items else False
        return None

    def expr(self, node: ast.expr, statement: bool = False) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            if node.id in ("list", "set", "sorted", "tuple", "str", "len", "bool", "dict", "range", "any", "all"):
                return Helper(node.id)
            return Unknown(f"name {node.id}")
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return self.starred(node)
            values = [self.expr(e) for e in node.elts]
            if isinstance(node, ast.Tuple):
                return tuple(values)
            return SymList([Item(v, getattr(e, "lineno", self.line)) for v, e in zip(values, node.elts)])
        if isinstance(node, ast.BinOp):
            left, right = self.expr(node.left), self.expr(node.right)
            if isinstance(node.op, (ast.Add, ast.BitOr)):
                return self.add(left, right)
            if isinstance(node.op, ast.Mod) and isinstance(left, str):
                try:
                    return left % right
                except (TypeError, ValueError):
                    return Unknown("%-formatting with values not known")
            if isinstance(node.op, ast.Div) and isinstance(left, PkgPath) and isinstance(right, str):
                return _join(left, right)
            return Unknown(f"{type(node.op).__name__} of values not known")
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                v = self.expr(value.value) if isinstance(value, ast.FormattedValue) else value.value
                if not isinstance(v, (str, int)):
                    return Unknown("f-string with values not known")
                parts.append(str(v))
            return "".join(parts)
        if isinstance(node, ast.BoolOp):
            return self.boolop(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            value = self.expr(node.operand)
            if isinstance(value, (Cond, Version)):
                return Cond()
            if isinstance(value, Unknown):
                return value
            return not value if not isinstance(value, (SymList, Helper, Mod, PkgPath)) else Cond()
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            truth = self.truth(self.expr(node.test))
            if truth is not None:
                return self.expr(node.body if truth else node.orelse)
            a, b = self.expr(node.body), self.expr(node.orelse)
            if isinstance(a, SymList) and isinstance(b, SymList):
                return SymList(a.items + b.items)
            return a if a == b else Unknown("conditional expression over a version test")
        if isinstance(node, ast.Attribute):
            base = self.expr(node.value)
            if isinstance(base, Mod):
                return _attr_of_module(base, node.attr)
            if isinstance(base, Version) or (isinstance(base, Helper) and "setuptools_info" in base.name):
                return Version() if node.attr in ("version", "release", "major", "minor") or isinstance(base, Version) \
                    else Cond()
            if base is LOGGER:
                return LOGGER
            if isinstance(base, Unknown):
                return base
            return ("attr", base, node.attr)
        if isinstance(node, ast.Subscript):
            base, index = self.expr(node.value), self.expr(node.slice)
            if isinstance(base, Version):
                return Version()
            if isinstance(base, (tuple, str)) and isinstance(index, int):
                try:
                    return base[index]
                except IndexError:
                    return Unknown("index out of range")
            return Unknown(_reason(base, "subscript of a value not known"))
        if isinstance(node, ast.Call):
            return self.call(node, statement)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return self.comprehension(node)
        if isinstance(node, ast.Lambda):
            return ("lambda", node)
        if isinstance(node, ast.Starred):
            return self.expr(node.value)
        return Unknown(f"{type(node).__name__} expression")

    def starred(self, node) -> Any:
        items: list[Item] = []
        for e in node.elts:
            value = self.expr(e)
            if isinstance(e, ast.Starred):
                part = self.elements(value)
                if part is None and isinstance(value, SymList):
                    items.extend(value.items)
                    continue
                if part is None:
                    items.append(Item(Unknown(_reason(value, "unpacking a value not known")), e.lineno))
                    continue
                items.extend(Item(v, e.lineno) for v in part)
            else:
                items.append(Item(value, e.lineno))
        return tuple(i.value for i in items) if isinstance(node, ast.Tuple) else SymList(items)

    def add(self, left: Any, right: Any) -> Any:
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        if isinstance(left, tuple) and isinstance(right, tuple):
            return left + right
        if isinstance(left, (SymList, list, tuple)) or isinstance(right, (SymList, list, tuple)):
            a = left if isinstance(left, SymList) else self.as_list(left, "left operand")
            b = right if isinstance(right, SymList) else self.as_list(right, "right operand")
            return SymList(a.items + b.items)
        if isinstance(left, Unknown):
            return left
        if isinstance(right, Unknown):
            return right
        return Unknown("+ of values not known")

    def boolop(self, node: ast.BoolOp) -> Any:
        values = [self.expr(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)
        undecided = False
        for value in values:
            if isinstance(value, Unknown):
                return value
            if isinstance(value, (Cond, Version, SymList, Helper, Mod, PkgPath, tuple)) and not isinstance(value, tuple):
                undecided = True
                continue
            if bool(value) is (not is_and):
                return value  # `False and …`, `True or …`
        return Cond() if undecided else values[-1]

    def compare(self, node: ast.Compare) -> Any:
        values = [self.expr(node.left)] + [self.expr(c) for c in node.comparators]
        if any(isinstance(v, Unknown) for v in values):
            return next(v for v in values if isinstance(v, Unknown))
        if any(isinstance(v, (Version, Cond)) for v in values):
            return Cond()
        if all(isinstance(v, (str, int, float, bool, tuple, type(None))) for v in values):
            try:
                result = True
                for op, a, b in zip(node.ops, values, values[1:]):
                    result = result and COMPARE[type(op)](a, b)
                return result
            except (TypeError, KeyError):
                return Unknown("comparison not understood")
        return Unknown("comparison of values not known")

    def elements(self, value: Any) -> list | None:
        """The elements of an iterable whose every element is known (literal lists, tuples, strings' splits)."""
        if isinstance(value, (tuple, list, set)):
            return list(value)
        if isinstance(value, SymList) and all(isinstance(i.value, (str, int, tuple)) for i in value.items):
            return [i.value for i in value.items]
        return None

    def comprehension(self, node) -> Any:
        if len(node.generators) != 1 or not isinstance(node.generators[0].target, (ast.Name, ast.Tuple)):
            return SymList([Item(Unknown("nested comprehension"), node.lineno)])
        gen = node.generators[0]
        iterable = self.expr(gen.iter)
        values = self.elements(iterable)
        if values is None:
            if (isinstance(iterable, SymList) and isinstance(gen.target, ast.Name) and isinstance(node.elt, ast.Name)
                    and node.elt.id == gen.target.id and all(isinstance(i.value, Submodules) for i in iterable.items)):
                conds = [_filter_source(c, gen.target.id) for c in gen.ifs]
                if all(c is not None for c in conds):
                    extra = " and ".join(f"({c})" for c in conds)
                    return SymList([Item(_and_filter(i.value, extra), i.line) for i in iterable.items])
            return SymList([Item(Unknown(_reason(iterable, "comprehension over a value not known")), node.lineno)])
        saved = dict(self.env)
        out: list[Item] = []
        try:
            for value in values:
                self.bind(gen.target, value)
                truths = [self.truth(self.expr(c)) for c in gen.ifs]
                if all(t is not False for t in truths):
                    out.append(Item(self.expr(node.elt), node.lineno))
        finally:
            self.env = saved
        return SymList(out)

    def call(self, node: ast.Call, statement: bool) -> Any:
        func = node.func
        # mutation of a list: out.append(x), out.extend(xs), out.insert(i, x)
        if isinstance(func, ast.Attribute):
            owner = self.expr(func.value)
            if owner is LOGGER:
                return None
            if isinstance(owner, SymList) and func.attr in ("append", "extend", "insert", "add", "update"):
                args = [self.expr(a) for a in node.args]
                if func.attr in ("append", "add") and args:
                    owner.items.append(Item(args[0], node.lineno))
                elif func.attr == "insert" and len(args) == 2:
                    owner.items.append(Item(args[1], node.lineno))
                elif args:
                    owner.items.extend(self.as_list(args[0], func.attr).items)
                return None
            if isinstance(owner, SymList) and func.attr in ("remove", "discard", "clear", "pop"):
                owner.items.append(Item(Unknown(f"list.{func.attr}()"), node.lineno))
                return None
            if isinstance(owner, (str, tuple)) and func.attr in PURE_STR_METHODS:
                args = [self.expr(a) for a in node.args]
                if all(isinstance(a, (str, int, tuple)) for a in args) and not node.keywords:
                    if func.attr == "join" and isinstance(owner, str):
                        parts = self.elements(args[0]) if args else None
                        return owner.join(parts) if parts and all(isinstance(p, str) for p in parts) else \
                            Unknown("str.join of values not known")
                    try:
                        result = getattr(owner, func.attr)(*args)
                    except (TypeError, ValueError, AttributeError):
                        return Unknown(f"str.{func.attr}() not understood")
                    return tuple(result) if isinstance(result, list) else result
            if isinstance(owner, Unknown):
                return owner
            if isinstance(owner, Mod):
                return self.helper(_attr_of_module(owner, func.attr), node, statement)
            if isinstance(owner, tuple) and owner[:1] == ("attr",):
                return Unknown(f"call of {_dotted(func)}()")
            if isinstance(owner, Helper) and "setuptools_info" in owner.name:
                return Cond()
            return Unknown(f"call of {_dotted(func)}()")
        return self.helper(self.expr(func), node, statement)

    def helper(self, target: Any, node: ast.Call, statement: bool) -> Any:
        if isinstance(target, Unknown):
            return target
        if not isinstance(target, Helper):
            return Unknown(f"call of {_dotted(node.func)}()")
        name = target.name.rsplit(".", 1)[-1] if target.name.startswith(("PyInstaller", "_pyinstaller_hooks_contrib")) \
            else target.name
        args = [self.expr(a) for a in node.args if not isinstance(a, ast.Starred)]
        kwargs = {k.arg: self.expr(k.value) for k in node.keywords if k.arg}
        line = node.lineno

        def arg(i: int, key: str, default: Any = None) -> Any:
            return args[i] if len(args) > i else kwargs.get(key, default)

        def strs(value: Any) -> tuple[str, ...] | None:
            if value is None:
                return ()
            items = self.elements(value)
            return tuple(items) if items is not None and all(isinstance(x, str) for x in items) else None

        if name in VERSION_TESTS:
            return Cond()
        if name in ("logging.getLogger", "getLogger"):
            return LOGGER
        if name == "collect_submodules":
            package, filt = arg(0, "package"), arg(1, "filter")
            if not isinstance(package, str):
                return self.unknown_list(_reason(package, "collect_submodules() of a name not known"), line)
            source = self.lambda_source(filt)
            if source is None:
                return SymList([Item(Submodules(package), line),
                                Item(Unknown("collect_submodules() filter not understood (all kept)"), line)])
            return SymList([Item(Submodules(package, source), line)])
        if name == "collect_data_files":
            package = arg(0, "package")
            include_py, subdir = arg(1, "include_py_files", False), arg(2, "subdir")
            excludes, includes = strs(arg(3, "excludes")), strs(arg(4, "includes"))
            if not isinstance(package, str) or excludes is None or includes is None \
                    or not isinstance(include_py, (bool, type(None))) or not isinstance(subdir, (str, type(None))):
                return self.unknown_list("collect_data_files() with arguments not known", line)
            return SymList([Item(DataFiles(package, subdir or "", includes, excludes, bool(include_py)), line)])
        if name in ONE_NAME_RULES:
            rule, key = ONE_NAME_RULES[name]
            value = arg(0, key)
            if not isinstance(value, str):
                return self.unknown_list(f"{name}() of a name not known", line)
            return SymList([Item(rule(value), line)])
        if name == "copy_metadata":
            dist, recursive = arg(0, "package_name"), arg(1, "recursive", False)
            if not isinstance(dist, str) or not isinstance(recursive, bool):
                return self.unknown_list("copy_metadata() with arguments not known", line)
            return SymList([Item(Metadata(dist, recursive), line)])
        if name == "collect_all":
            package = arg(0, "package_name")
            include_py = arg(1, "include_py_files", True)
            excludes, includes = strs(arg(3, "exclude_datas")), strs(arg(4, "include_datas"))
            source = self.lambda_source(arg(2, "filter_submodules"))
            if not isinstance(package, str) or excludes is None or includes is None or source is None:
                bad = self.unknown_list("collect_all() with arguments not known", line)
                return bad, bad, bad
            datas = SymList([Item(DataFiles(package, "", includes, excludes, bool(include_py)), line),
                             Item(Metadata(package), line)])
            return datas, SymList([Item(DynamicLibs(package), line)]), SymList([Item(Submodules(package, source), line)])
        if name == "collect_entry_point":
            group = arg(0, "name")
            if not isinstance(group, str):
                bad = self.unknown_list("collect_entry_point() of a group not known", line)
                return bad, bad
            return SymList([Item(EntryPoints(group), line)]), SymList([Item(EntryPoints(group), line)])
        if name == "get_module_file_attribute":
            package = arg(0, "package")
            return PkgPath(package, "__file__") if isinstance(package, str) else Unknown("module file of a name not known")
        if name == "get_package_paths":
            package = arg(0, "package")
            if not isinstance(package, str):
                return Unknown("get_package_paths() of a name not known")
            return Unknown("the site dir of get_package_paths()"), PkgPath(package, "")
        if name in ("os.path.dirname", "dirname"):
            value = arg(0, "p")
            if isinstance(value, PkgPath):
                if value.rel == "__file__":
                    return PkgPath(value.package, "")
                return PkgPath(value.package, posixpath.dirname(value.rel)) if value.rel else \
                    Unknown("the directory above a package")
            return posixpath.dirname(value) if isinstance(value, str) else Unknown(_reason(value, "dirname of a value not known"))
        if name in ("os.path.join", "join"):
            if args and all(isinstance(a, str) for a in args):
                return posixpath.join(*args)
            if args and isinstance(args[0], PkgPath) and all(isinstance(a, str) for a in args[1:]):
                result = args[0]
                for part in args[1:]:
                    result = _join(result, part)
                return result
            return Unknown(_reason(next((a for a in args if isinstance(a, Unknown)), None),
                                   "os.path.join of values not known"))
        if name in ("os.path.basename", "basename") and isinstance(arg(0, "p"), str):
            return posixpath.basename(arg(0, "p"))
        if name in ("pathlib.Path", "Path") and len(args) == 1 and isinstance(args[0], (str, PkgPath)):
            return args[0]
        if name in ("list", "sorted", "set", "tuple") and len(args) == 1:
            value = args[0]
            if isinstance(value, SymList):
                return SymList(list(value.items))
            if isinstance(value, (tuple, list)):
                return SymList([Item(v, line) for v in value])
            if isinstance(value, str):
                return tuple(value)
            return Unknown(_reason(value, f"{name}() of a value not known"))
        if name in ("list", "set") and not args:
            return SymList([])
        if name in ("importlib.metadata.version", "version", "Version", "packaging.version.Version",
                    "parse_version", "packaging.version.parse"):
            return Version()
        if name in ("str", "bool") and len(args) == 1 and isinstance(args[0], (str, int, bool)):
            return {"str": str, "bool": bool}[name](args[0])
        if name in ("warnings.warn", "print"):
            return None
        return Unknown(f"call of {name}()")

    def unknown_list(self, reason: str, line: int) -> SymList:
        return SymList([Item(Unknown(reason), line)])

    def lambda_source(self, value: Any) -> str | None:
        """A filter lambda as a restricted expression over `name`; "" for no filter; None if not understood."""
        if value is None:
            return ""
        if isinstance(value, tuple) and value[:1] == ("lambda",):
            node: ast.Lambda = value[1]
            if len(node.args.args) != 1 or node.args.vararg or node.args.kwarg:
                return None
            return _filter_source(node.body, node.args.args[0].arg)
        return None




def _copy_env(env: dict[str, Any]) -> dict[str, Any]:
    return {k: SymList(list(v.items)) if isinstance(v, SymList) else v for k, v in env.items()}


def _reason(value: Any, fallback: str) -> str:
    return value.reason if isinstance(value, Unknown) else fallback


def _dotted(node: ast.expr) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - only a label
        return type(node).__name__


def _join(path: PkgPath, part: str) -> PkgPath | Unknown:
    if path.rel == "__file__":
        return Unknown("a path below a module file")
    rel = posixpath.normpath(posixpath.join(path.rel, part)) if path.rel else posixpath.normpath(part)
    if rel.startswith("..") or rel.startswith("/"):
        return Unknown("a path outside the package")
    return PkgPath(path.package, "" if rel == "." else rel)


def _and_filter(rule: Submodules, extra: str) -> Submodules:
    if not extra:
        return rule
    return Submodules(rule.package, f"({rule.filter}) and ({extra})" if rule.filter else extra)


def _filter_source(node: ast.expr, var: str) -> str | None:
    """EXPR with `var` renamed `name`, if it uses only what filter_predicate evaluates; else None."""
    class Rename(ast.NodeTransformer):
        def visit_Name(self, n: ast.Name) -> ast.AST:
            return ast.copy_location(ast.Name("name", n.ctx), n) if n.id == var else n

    renamed = Rename().visit(ast.parse(ast.unparse(node), mode="eval").body)
    source = ast.unparse(renamed)
    try:
        filter_predicate(source)("x")
    except BadFilter:
        return None
    return source


# --- the public entry -------------------------------------------------------------------------------------
def read_hook(source: bytes | str, module: str) -> Reading:
    """The hook file for `module`, interpreted statically."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        return Reading(module, {}, ((f"syntax error ({type(exc).__name__})", getattr(exc, "lineno", 0) or 0),))
    reader = Reader(module)
    reader.run(tree.body)
    outputs: dict[str, tuple[Item, ...]] = {}
    problems = list(reader.problems)
    for name in OUTPUTS:
        value = reader.env.get(name)
        if value is None:
            continue
        kept: list[Item] = []
        for item in _flatten(value.items if isinstance(value, SymList) else [Item(value, 0)]):
            rule, why = _rule(name, item.value)
            if rule is None:
                problems.append((f"{name}: {why}", item.line))
            elif Item(rule, item.line) not in kept:
                kept.append(Item(rule, item.line))
        outputs[name] = tuple(kept)
    return Reading(module, outputs, tuple(dict.fromkeys(problems)))


def _flatten(items: list[Item]) -> list[Item]:
    out = []
    for item in items:
        if isinstance(item.value, SymList):
            out.extend(_flatten(item.value.items))
        else:
            out.append(item)
    return out


def _rule(output: str, value: Any) -> tuple[Rule | None, str]:
    """An item of an output list as a rule, or None and why not."""
    if isinstance(value, Unknown):
        return None, value.reason
    if output in ("hiddenimports", "excludedimports"):
        if isinstance(value, str) and all(p.isidentifier() for p in value.split(".")):
            return value, ""
        if isinstance(value, (Submodules, EntryPoints, MypycModules)) and output == "hiddenimports":
            return value, ""
        return None, f"entry {value!r} is not a module name"
    if isinstance(value, (DataFiles, Metadata, DynamicLibs, EntryPoints)):
        return value, ""
    if isinstance(value, tuple) and len(value) == 2:
        src = value[0]
        if isinstance(src, PkgPath):
            if src.rel == "__file__":
                return None, "a module's own file as data"
            return DataFiles(src.package, src.rel, (), (), True), ""
        if isinstance(src, str) and src.startswith("/"):
            return SystemPath(src), ""
        if isinstance(src, str):
            return None, "a path relative to the build host's working dir"
        if isinstance(src, Unknown):
            return None, src.reason
    return None, f"entry not understood ({type(value).__name__})"
