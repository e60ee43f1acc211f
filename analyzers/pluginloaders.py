"""Plugin loaders: a class that imports the package its constructor is given and lists that package's directory.

ansible-core's `PluginLoader('CacheModule', 'ansible.plugins.cache', …)` keeps the name in `self.package`, later
runs `__import__(self.package)`, globs the directory of its `__file__` and loads the plugin a setting names
(`memory`) by file path: no import statement names `ansible.plugins.cache.memory`. The scan sees only a computed
import of `self.package`; here the module's source is read again, and when the class around that import also
lists a directory (glob, listdir, scandir, walk, iter_modules) and its `__init__` stores a parameter in that
attribute, each construction of the class (or of a subclass defined beside it) with a literal there keeps that
package's whole tree (`plugin-package`, file:line of the construction). Which plugin runs is a run-time choice.
"""

from __future__ import annotations

import ast

from faktory.analyzers.keeper import Keeper

REASON = "plugin-package"
IMPORT_WORDS = frozenset({"__import__", "import_module"})
LISTING_WORDS = frozenset({"listdir", "glob", "iglob", "scandir", "walk", "iter_modules"})


def _word(func: ast.AST) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _self_attr(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _stored_param(cls: ast.ClassDef, attr: str) -> tuple[int, str] | None:
    """(position after self, name) of the `__init__` parameter stored as `self.<attr>`."""
    for init in cls.body:
        if isinstance(init, ast.FunctionDef) and init.name == "__init__":
            params = [a.arg for a in init.args.posonlyargs + init.args.args][1:]
            for node in ast.walk(init):
                if isinstance(node, ast.Assign) and any(_self_attr(t) == attr for t in node.targets) and \
                        isinstance(node.value, ast.Name) and node.value.id in params:
                    return params.index(node.value.id), node.value.id
    return None


def packages_listed(tree: ast.Module, lines: set[int]) -> dict[int, list[tuple[str, int]]]:
    """For each line of `lines` that is such a loader's import: the (package, line) its literal constructions name."""
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    out: dict[int, list[tuple[str, int]]] = {}
    for cls in classes:
        calls = [c for c in ast.walk(cls) if isinstance(c, ast.Call)]
        imports = [c for c in calls if c.lineno in lines and _word(c.func) in IMPORT_WORDS and c.args
                   and _self_attr(c.args[0])]
        if not imports or not any(_word(c.func) in LISTING_WORDS for c in calls):
            continue
        for imp in imports:
            slot = _stored_param(cls, _self_attr(imp.args[0]))
            if slot is None:
                continue
            position, param = slot
            family = {cls.name}
            for _ in range(3):  # subclasses defined beside it, and theirs
                family |= {c.name for c in classes if any(isinstance(b, ast.Name) and b.id in family for b in c.bases)}
            named = []
            for call in ast.walk(tree):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in family:
                    given = call.args[position:position + 1] + [k.value for k in call.keywords if k.arg == param]
                    named += [(g.value, call.lineno) for g in given if isinstance(g, ast.Constant)
                              and isinstance(g.value, str) and all(p.isidentifier() for p in g.value.split("."))]
            if named:
                out[imp.lineno] = named
    return out


def keep_listed_packages(keeper: Keeper, node: str, where: str, lines: set[int], depth: int) -> set[int]:
    """Keep the packages such loaders are built with; the import lines this explains."""
    try:
        tree = ast.parse(keeper.read_bytes(where))
    except (OSError, SyntaxError, ValueError):
        return set()
    found = packages_listed(tree, lines)
    for packages in found.values():
        for package, lineno in packages:
            if keeper.find(package) is not None:
                keeper.keep_package_tree(package, node, REASON, f"{where}:{lineno}", depth)
    return set(found)
