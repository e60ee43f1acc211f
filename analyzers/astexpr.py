"""Small readings of Python expressions the scanners share: dotted names, string constants, and the pieces a
string is built from."""

from __future__ import annotations

import ast


def dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def string_parts(node: ast.AST) -> list[ast.AST] | None:
    """The pieces a string expression joins: f"a.{x}", "a." + x, "a.%s" % x, "a.{}".format(x); None otherwise."""
    if isinstance(node, ast.JoinedStr):
        parts: list[ast.AST] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if value.format_spec is not None or value.conversion not in (-1, 115):
                    return None
                parts.append(value.value)
            else:
                parts.append(value)
        return parts
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [node.left, node.right]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and const_str(node.left) is not None:
        template = const_str(node.left)
        if template.count("%s") != 1 or template.count("%") != 1:
            return None
        arg = node.right.elts[0] if isinstance(node.right, ast.Tuple) and len(node.right.elts) == 1 else node.right
        head, tail = template.split("%s")
        return [ast.Constant(head), arg, ast.Constant(tail)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format" \
            and const_str(node.func.value) is not None and len(node.args) == 1 and not node.keywords:
        template = const_str(node.func.value)
        if template.count("{}") != 1 or template.count("{") != 1:
            return None
        head, tail = template.split("{}")
        return [ast.Constant(head), node.args[0], ast.Constant(tail)]
    return None
