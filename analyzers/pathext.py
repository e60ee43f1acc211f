"""Directories a library puts on sys.path when it is imported (`pkg_resources` adds `setuptools/_vendor`):

    sys.path.extend([os.path.join(os.path.dirname(os.path.dirname(__file__)), "setuptools", "_vendor")])

A `sys.path.append/insert/extend` call whose argument holds a path built from the module's own `__file__`
(`os.path.dirname` steps, then literal parts given to `os.path.join`) names a directory of the image: it
becomes a sys.path entry for everything imported after it, as it does at run time. Read with `ast`, never run.
"""

from __future__ import annotations

import ast
import posixpath

PATHEXT_FORMAT = 1  # part of the cache key: bump when added_dirs changes
SYS_PATH_CALLS = {"append", "insert", "extend"}


def _dirname_of_file(node: ast.AST) -> int | None:
    """How many `os.path.dirname` steps over `__file__` (also through abspath/realpath); None if not that."""
    if isinstance(node, ast.Name) and node.id == "__file__":
        return 0
    if isinstance(node, ast.Call) and len(node.args) == 1 and isinstance(node.func, ast.Attribute):
        inner = _dirname_of_file(node.args[0])
        if inner is None:
            return None
        if node.func.attr == "dirname":
            return inner + 1
        if node.func.attr in ("abspath", "realpath", "normpath"):
            return inner
    return None


def _path_of(node: ast.AST, origin: str) -> str | None:
    steps = _dirname_of_file(node)
    if steps is not None:
        path = origin
        for _ in range(steps):
            path = posixpath.dirname(path)
        return path if steps else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" and node.args:
        base = _path_of(node.args[0], origin)
        parts = [a.value for a in node.args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if base is not None and len(parts) == len(node.args) - 1:
            return posixpath.normpath(posixpath.join(base, *parts))
    return None


def _is_sys_path_call(node: ast.Call) -> bool:
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr in SYS_PATH_CALLS and isinstance(func.value, ast.Attribute)
            and func.value.attr == "path" and isinstance(func.value.value, ast.Name) and func.value.value.id == "sys")


def added_dirs(source: bytes, origin: str) -> list[str]:
    """Directories the module at `origin` adds to sys.path, in the order it adds them."""
    if b"sys.path" not in source or b"__file__" not in source:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_sys_path_call(node):
            pending = list(node.args)
            while pending:  # the outermost path expressions only: not the dirname inside a join
                sub = pending.pop(0)
                path = _path_of(sub, origin)
                if path is None:
                    pending.extend(ast.iter_child_nodes(sub))
                elif path not in found:
                    found.append(path)
    return found
