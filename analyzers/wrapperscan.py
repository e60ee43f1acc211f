"""Import wrappers as a module's scan records them (analyzers/wrappers.py follows them across modules).

A wrapper is a module-level function whose parameter reaches the import machinery (`def load(name): return
import_module(f"pkg.{name}")`), directly, built into a string, split, or passed on to another wrapper of the same
module; a literal call is a call passing module-like literals (`import_optional_dependency("tabulate")`), its
callee resolved through the module's imports and defs. Which calls are wrappers' is told once the callee's
module is scanned.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Callable

from faktory.analyzers.astexpr import const_str, string_parts

Call = tuple[str, int | str, str, int, bool]  # (callee, argument position or keyword, value, line, in a function)


@dataclass(frozen=True)
class Wrapper:
    """A function that imports what its caller names: `def load(name): return import_module(f"pkg.{name}")`."""
    function: str  # a module-level function's name
    index: int  # its parameter's position
    param: str  # and name (a call may pass it by keyword)
    template: str  # the imported name with "{}" for the argument: "{}", "pkg.backends.{}"
    lineno: int  # of the import call


MODULE_LIKE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_][\w.]*)?", re.ASCII)
CALL_ARGS = 4  # positional arguments of a call looked at


# str methods whose result, taken from a name, holds the module part of it ("pkg.mod.Attr".rsplit(".", 1))
NAME_METHODS = frozenset({"rsplit", "split", "partition", "rpartition", "replace", "strip", "lstrip", "rstrip",
                          "removeprefix", "removesuffix"})


@dataclass
class FunctionScope:
    """A module-level function: which of its names carry a parameter's value on to an import call."""
    name: str
    params: list[str]  # positional, in order
    keywords: list[str]
    derived: dict[str, tuple[str, str]] = field(default_factory=dict)  # local -> (parameter, template)
    rebound: set[str] = field(default_factory=set)  # parameters given another value

    @classmethod
    def of(cls, node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionScope:
        args = node.args
        return cls(node.name, [a.arg for a in args.posonlyargs + args.args], [a.arg for a in args.kwonlyargs])

    def template(self, node: ast.AST | None) -> tuple[str, str] | None:
        """(parameter, template) when `node` is a parameter, or a string built around one (f"pkg.{name}")."""
        if isinstance(node, ast.Name):
            if node.id in self.derived:
                return self.derived[node.id]
            if node.id in self.rebound or node.id not in self.params + self.keywords:
                return None
            return node.id, "{}"
        while isinstance(node, ast.Subscript):  # name.split(".")[0]
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in NAME_METHODS:
            return self.template(node.func.value)  # the module is a prefix of the argument: kept as such
        parts = string_parts(node) if node is not None else None
        if parts is None:
            return None
        found, out = None, ""
        for part in parts:
            text = const_str(part)
            if text is not None:
                if "{" in text or "}" in text:
                    return None
                out += text
                continue
            inner = self.template(part)
            if inner is None or found is not None:
                return None
            found, out = inner[0], out + inner[1]
        return (found, out) if found else None

    def assign(self, target: ast.AST, value: ast.AST) -> None:
        found = self.template(value)
        names = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        for item in names:
            if not isinstance(item, ast.Name):
                continue
            if found:
                self.derived[item.id] = found
            else:
                self.derived.pop(item.id, None)
                self.rebound.add(item.id)

    def note_import(self, arg: ast.AST, lineno: int, out: list[Wrapper]) -> None:
        """`import_module(<arg>)` in this function: a wrapper when the argument carries a parameter."""
        found = self.template(arg)
        if found is None:
            return
        param, template = found
        wrapper = Wrapper(self.name, self.params.index(param) if param in self.params else -1, param, template,
                          lineno)
        if all((w.function, w.param, w.template) != (wrapper.function, param, template) for w in out):
            out.append(wrapper)


def forwarding_wrappers(tree: ast.Module, wrappers: list[Wrapper]) -> None:
    """Functions that pass a parameter on to a wrapper of the same module are wrappers too: Django's
    `import_string(path)` splits it and calls `cached_import(module_path, class_name)`."""
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for _ in range(3):  # chains are short; each round may add the next link
        known: dict[str, list[Wrapper]] = {}
        for w in wrappers:
            known.setdefault(w.function, []).append(w)
        before = len(wrappers)
        for func in functions:
            calls = [c for c in ast.walk(func) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                     and c.func.id in known and c.func.id != func.name]
            if not calls:
                continue
            scope = FunctionScope.of(func)
            for node in sorted((n for n in ast.walk(func) if isinstance(n, ast.Assign) and len(n.targets) == 1),
                               key=lambda n: n.lineno):
                scope.assign(node.targets[0], node.value)
            for call in calls:
                for w in known[call.func.id]:
                    arg = call.args[w.index] if 0 <= w.index < len(call.args) else \
                        next((k.value for k in call.keywords if k.arg == w.param), None)
                    found = scope.template(arg)
                    if found is not None:
                        wrapper = Wrapper(func.name, scope.params.index(found[0]) if found[0] in scope.params else -1,
                                          found[0], w.template.replace("{}", found[1]), call.lineno)
                        if all((x.function, x.param) != (wrapper.function, wrapper.param) for x in wrappers):
                            wrappers.append(wrapper)
        if len(wrappers) == before:
            return


def literal_calls(callee: str, node: ast.Call, expand: Callable[[ast.AST], list[str] | None],
                  lazy: bool) -> list[Call]:
    """A call passing module-like literals (`import_optional_dependency("tabulate")`), one entry per literal:
    the callee may be an import wrapper, which the analysis tells once it has the callee's module's scan.
    `expand` gives every value an argument can take (None when unknown)."""
    arguments = [(i, arg) for i, arg in enumerate(node.args[:CALL_ARGS])]
    arguments += [(kw.arg, kw.value) for kw in node.keywords if kw.arg]
    out = []
    for where, arg in arguments:
        for value in expand(arg) or ():
            if len(value) <= 200 and MODULE_LIKE.fullmatch(value):
                out.append((callee, where, value, node.lineno, lazy))
    return out


def resolve_calls(calls: list[Call], aliases: dict[str, str], relative: dict[str, str],
                  tree: ast.Module) -> list[Call]:
    """The literal calls whose callee an import (`aliases`, `relative`: names bound by absolute and relative
    imports) or a module-level def names, in absolute form where it can be."""
    defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    out = []
    for callee, where, value, lineno, lazy in calls:
        head, dot, rest = callee.partition(".")
        if head in aliases:
            target = aliases[head] + dot + rest
        elif head in relative:
            target = relative[head] + dot + rest
        elif head in defs and not rest:
            target = f"={head}"
        else:
            continue
        out.append((target, where, value, lineno, lazy))
    return out
