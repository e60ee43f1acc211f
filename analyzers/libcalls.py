"""Shared libraries a helper opens by the names its callers give it.

WeasyPrint's `def _dlopen(ffi, *names): for name in names: ffi.dlopen(name)`, called at import time as
`_dlopen(ffi, 'libpango-1.0-0', 'pango-1.0', 'libpango-1.0.so.0', …)`, loads Pango though no literal reaches the
load call and no ELF names the library. imports.py records each load whose name is not a literal as a
`dlopen-computed` fact (call, line); here the module's source is read again, the module-level function around the
load and the parameter that carries the name found, and this module's calls of that function with literal strings
in its place give the names, kept like literal ones. A load no literal call explains is a finding with file:line:
`computed-library` when it runs at import (module level, or a helper a module-level statement calls),
`lazy-computed-library` inside a function nothing calls at import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from faktory.analyzers import nativecode
from faktory.analyzers.imports import LDCONFIG, CodeFact
from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import INFO, WARNING, Finding

FACT = "dlopen-computed"
LOADERS = frozenset({"dlopen", "CDLL", "PyDLL", "LoadLibrary", "find_library"})


@dataclass(frozen=True)
class Names:
    """What a computed load's name can be: the literals callers pass (empty: unknown), and whether the load
    runs at import time."""
    names: tuple[str, ...]
    at_import: bool
    finds: bool  # it goes through ctypes.util.find_library (cffi's dlopen of a bare name, find_library itself)


def _loader(call: ast.Call) -> str | None:
    func = call.func
    word = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return word if word in LOADERS else None


def _param_slots(func: ast.FunctionDef | ast.AsyncFunctionDef, arg: ast.AST) -> tuple[int, str, bool] | None:
    """(position, name, spread) of the parameter the load's argument comes from: the parameter itself, an item
    of it (`names[0]`), or a loop variable over it (`for name in names`). spread: every literal from that
    position on (a *args parameter), else the literals of a tuple/list given there."""
    positional = [a.arg for a in func.args.posonlyargs + func.args.args]
    vararg = func.args.vararg.arg if func.args.vararg else None
    while isinstance(arg, ast.Subscript):
        arg = arg.value
        if isinstance(arg, ast.Name) and arg.id == vararg:
            return len(positional), arg.id, True
    if not isinstance(arg, ast.Name):
        return None
    if arg.id in positional:
        return positional.index(arg.id), arg.id, False
    for node in ast.walk(func):
        if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name) \
                and node.target.id == arg.id and isinstance(node.iter, ast.Name):
            if node.iter.id == vararg:
                return len(positional), vararg, True
            if node.iter.id in positional:
                return positional.index(node.iter.id), node.iter.id, True
    return None


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def names_at(tree: ast.Module, lineno: int) -> Names:
    """The names the computed load on `lineno` can be given by this module's calls of its function."""
    for func in tree.body:
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        loads = [c for c in ast.walk(func) if isinstance(c, ast.Call) and c.lineno == lineno and _loader(c)
                 and c.args]
        if not loads:
            continue
        finds = _loader(loads[0]) in ("dlopen", "find_library")
        slot = _param_slots(func, loads[0].args[0])
        if slot is None:
            return Names((), False, finds)
        position, param, spread = slot
        found: list[str] = []
        at_import = False
        for stmt in tree.body:
            inside = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            for call in ast.walk(stmt):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == func.name):
                    continue
                given = call.args[position:] if spread and not _strings_only_one(call, position) else \
                    call.args[position:position + 1]
                given += [k.value for k in call.keywords if k.arg == param]
                found += [s for arg in given for s in _strings(arg)]
                at_import |= not inside
        return Names(tuple(dict.fromkeys(found)), at_import, finds)
    for func in ast.walk(tree):  # a method, or a function nested in one: runs when something calls it
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                func.lineno <= lineno <= (func.end_lineno or func.lineno):
            loads = [c for c in ast.walk(func) if isinstance(c, ast.Call) and c.lineno == lineno and _loader(c)]
            return Names((), False, bool(loads) and _loader(loads[0]) in ("dlopen", "find_library"))
    return Names((), True, False)  # at module level: runs when the module is imported


def _strings_only_one(call: ast.Call, position: int) -> bool:
    """A list parameter given one tuple/list (`load(("a", "b"))`): only that argument names libraries."""
    return len(call.args) > position and isinstance(call.args[position], (ast.Tuple, ast.List))


def keep_computed(keeper: Keeper, search_dirs, node: str, where: str, facts: list[CodeFact], library: bool) -> None:
    """Keep what this module's computed loads are given; say where a name stays unknown."""
    try:
        tree = ast.parse(keeper.read_bytes(where))
    except (OSError, SyntaxError, ValueError):
        return
    for fact in facts:
        found = names_at(tree, fact.lineno)
        detail = f"{where}:{fact.lineno}"
        for name in found.names:
            nativecode.keep_ctypes_library(keeper, search_dirs, node, name, detail)
        if found.finds and any("/" not in n for n in found.names):
            nativecode.keep_ctypes_library(keeper, search_dirs, node, LDCONFIG, detail)
        if found.names:
            continue
        if found.at_import or not library:
            keeper.finding(Finding("computed-library", f"{fact.detail}: the library name is computed at run time",
                                   WARNING, detail))
        else:
            keeper.finding(Finding("lazy-computed-library", f"{fact.detail}: the library name is computed at run "
                                   "time, inside a library function", INFO, detail))
