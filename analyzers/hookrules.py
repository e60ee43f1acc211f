"""The rules a PyInstaller hook file is translated to, independent of any machine, and the restricted
filter expressions of `collect_submodules(..., filter=...)`, evaluated over a module name without `eval`."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable


# --- rules: what a hook asks for, independent of any machine --------------------------------------------
@dataclass(frozen=True)
class Submodules:
    """collect_submodules(package, filter=lambda name: EXPR): the package and every module under it."""
    package: str
    filter: str = ""  # EXPR over `name` (a restricted expression), "" = every module


@dataclass(frozen=True)
class DataFiles:
    """collect_data_files(package, include_py_files, subdir, excludes, includes): files of the package's tree."""
    package: str
    subdir: str = ""
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    include_py_files: bool = False


@dataclass(frozen=True)
class Metadata:
    """copy_metadata(dist, recursive): the distribution's *.dist-info (and its requirements', recursively)."""
    dist: str
    recursive: bool = False


@dataclass(frozen=True)
class DynamicLibs:
    """collect_dynamic_libs(package): shared libraries inside the package's tree."""
    package: str


@dataclass(frozen=True)
class EntryPoints:
    """collect_entry_point(group): modules the image's distributions list under group, with their metadata."""
    group: str


@dataclass(frozen=True)
class MypycModules:
    """find_mypyc_module_for_dist(dist): the `<hash>__mypyc` runtime module(s) the distribution installs."""
    dist: str


@dataclass(frozen=True)
class SystemPath:
    """A literal absolute path in `datas` (`('/etc/fonts', 'etc/fonts')`): that path in the image."""
    path: str


Rule = Any  # str (a module name) | one of the dataclasses above



COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
}


# --- filters: restricted expressions over one module name ------------------------------------------------
FILTER_CALLS = {"startswith", "endswith", "split", "rsplit", "count", "partition", "rpartition"}


class BadFilter(Exception):
    pass


def filter_predicate(source: str) -> Callable[[str], bool]:
    """The filter as a predicate over a dotted module name; "" accepts every name. Raises BadFilter for a
    construct outside the subset (string tests, comparisons, boolean logic, is_module_or_submodule)."""
    if not source:
        return lambda name: True
    tree = ast.parse(source, mode="eval").body

    def ev(node: ast.expr, name: str) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id == "name":
                return name
            raise BadFilter(node.id)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return tuple(ev(e, name) for e in node.elts)
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(ev(v, name) for v in node.values)
            return any(ev(v, name) for v in node.values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not ev(node.operand, name)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -node.operand.value
        if isinstance(node, ast.Compare):
            left = ev(node.left, name)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp, name)
                if type(op) not in COMPARE or not COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Subscript):
            base, index = ev(node.value, name), ev(node.slice, name)
            if isinstance(index, int) and isinstance(base, (tuple, list, str)):
                return base[index] if -len(base) <= index < len(base) else ""
            raise BadFilter("subscript")
        if isinstance(node, ast.Call) and not node.keywords:
            args = [ev(a, name) for a in node.args]
            if isinstance(node.func, ast.Attribute) and node.func.attr in FILTER_CALLS:
                base = ev(node.func.value, name)
                if isinstance(base, str):
                    return getattr(base, node.func.attr)(*args)
            if isinstance(node.func, ast.Name) and node.func.id == "is_module_or_submodule" and len(args) == 2:
                return args[0] == args[1] or str(args[0]).startswith(f"{args[1]}.")
            if isinstance(node.func, ast.Name) and node.func.id == "any" and len(node.args) == 1:
                raise BadFilter("any()")
            raise BadFilter("call")
        raise BadFilter(type(node).__name__)

    return lambda name: bool(ev(tree, name))
