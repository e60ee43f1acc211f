"""Drop-in packages: a package whose `__init__` adds directories to its own `__path__` from its `__name__`.

Twisted's `twisted/plugins/__init__.py` runs `__path__.extend(pluginPackagePaths(__name__))`: every directory
named like the package on sys.path joins it, and `twisted.plugin.getPlugins` lists those directories and
imports each module it finds there. No import statement names `twisted.plugins.twisted_web`, yet `twistd web`
needs it: every module of such a package may be imported. `pkgutil.extend_path(__path__, __name__)` is the
old namespace-package idiom, whose modules are imported by name, so it says nothing of the kind.
"""

from __future__ import annotations

import ast

NAMESPACE_IDIOMS = frozenset({"extend_path"})
GROWING_METHODS = frozenset({"extend", "append", "insert"})


def _is_path(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "__path__"


def _names_own_package(value: ast.AST) -> bool:
    """A call computing directories from `__name__`, and not the namespace idiom."""
    calls = [n for n in ast.walk(value) if isinstance(n, ast.Call)]
    if not calls or not any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(value)):
        return False
    words = {c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", None) for c in calls}
    return not words & NAMESPACE_IDIOMS


def grown_path_lines(tree: ast.Module) -> list[int]:
    """Lines of the module-level statements that grow `__path__` with directories computed from `__name__`."""
    lines = []
    stack = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.If, ast.Try)) or type(node).__name__ == "TryStar":
            handlers = [stmt for h in getattr(node, "handlers", []) for stmt in h.body]
            stack += node.body + getattr(node, "orelse", []) + handlers
            continue
        value = None
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Attribute) and node.value.func.attr in GROWING_METHODS and \
                _is_path(node.value.func.value):
            value = node.value
        elif isinstance(node, ast.AugAssign) and _is_path(node.target):
            value = node.value
        elif isinstance(node, ast.Assign) and any(_is_path(t) for t in node.targets):
            value = node.value
        if value is not None and _names_own_package(value):
            lines.append(node.lineno)
    return lines
