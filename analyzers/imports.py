"""What one module's source asks for, read from its AST (never executed).

Collects import statements (top level, in functions, in try/except — marked optional when an ImportError
handler guards them; `if TYPE_CHECKING:` bodies skipped), constant `importlib.import_module()` /
`__import__()` calls, constant library names given to ctypes, and calls that are facts for findings
(subprocess, fork, threads, writes). Source that the host's parser rejects (newer syntax) falls back to a
line scanner for imports.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
SUBPROCESS_CALLS = {"os.system", "os.popen", "os.execv", "os.execve", "os.execl", "os.execle", "os.execlp",
                    "os.execlpe", "os.execvp", "os.execvpe", "os.spawnv", "os.spawnve", "os.spawnl", "os.spawnlp",
                    "os.spawnvp", "os.posix_spawn", "os.posix_spawnp", "pty.spawn"}
FORK_CALLS = {"os.fork", "os.forkpty", "pty.fork"}
CTYPES_LOADERS = {"ctypes.CDLL", "ctypes.PyDLL", "ctypes.cdll.LoadLibrary", "ctypes.pydll.LoadLibrary",
                  "ctypes.CDLL.__init__", "ctypes.util.find_library", "ctypes.LibraryLoader"}
CTYPES_FIND = {"ctypes.util.find_library"}
IMPORT_MODULE_CALLS = {"importlib.import_module", "__import__", "importlib.__import__"}


@dataclass(frozen=True)
class ImportRef:
    module: str  # dotted name as written ("" for `from . import x`)
    level: int = 0
    names: tuple[str, ...] = ()  # from-import names ("*" included)
    lineno: int = 0
    optional: bool = False  # guarded by an ImportError handler
    lazy: bool = False  # inside a function


@dataclass(frozen=True)
class CodeFact:
    kind: str  # subprocess | fork | threads | multiprocessing | ctypes | writes | dlopen-null
    detail: str
    lineno: int


@dataclass
class ModuleScan:
    imports: list[ImportRef] = field(default_factory=list)
    libraries: list[tuple[str, int]] = field(default_factory=list)  # ctypes library names
    facts: list[CodeFact] = field(default_factory=list)
    parsed: bool = True
    main_block_imports: bool = False  # an `if __name__ == "__main__":` block was skipped


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_main_guard(test: ast.AST) -> bool:
    """`if __name__ == "__main__":`"""
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and _const_str(test.comparators[0]) == "__main__")


def _is_type_checking(test: ast.AST) -> bool:
    name = _dotted(test)
    return name in ("TYPE_CHECKING", "typing.TYPE_CHECKING", "t.TYPE_CHECKING")


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.scan = ModuleScan()
        self.aliases: dict[str, str] = {}
        self._optional = 0
        self._lazy = 0

    # scoping state
    def visit_If(self, node: ast.If) -> None:
        if _is_main_guard(node.test):
            self.scan.main_block_imports = True
            return  # runs only when the module is the program (`python -m mod`), handled by the caller
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(self._catches_import_error(h) for h in node.handlers)
        self._optional += guarded
        for child in node.body:
            self.visit(child)
        self._optional -= guarded
        for child in node.handlers + node.orelse + node.finalbody:
            self.visit(child)

    visit_TryStar = visit_Try

    @staticmethod
    def _catches_import_error(handler: ast.ExceptHandler) -> bool:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        return any((_dotted(t) or "").split(".")[-1] in IMPORT_ERRORS for t in types)

    def _function(self, node) -> None:
        self._lazy += 1
        self.generic_visit(node)
        self._lazy -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

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

    def _add(self, module: str, level: int, names: tuple[str, ...], lineno: int) -> None:
        self.scan.imports.append(ImportRef(module, level, names, lineno, self._optional > 0, self._lazy > 0))
        top = module.split(".")[0] if level == 0 else ""
        if top in ("threading", "_thread", "concurrent"):
            self.scan.facts.append(CodeFact("threads", module, lineno))
        elif top == "multiprocessing":
            self.scan.facts.append(CodeFact("multiprocessing", module, lineno))
        elif top == "ctypes":
            self.scan.facts.append(CodeFact("ctypes", module, lineno))
        elif top == "subprocess":
            self.scan.facts.append(CodeFact("subprocess", module, lineno))

    # calls
    def visit_Call(self, node: ast.Call) -> None:
        name = self._qualified(node.func)
        first = _const_str(node.args[0]) if node.args else None
        if name in IMPORT_MODULE_CALLS and first:
            package = _const_str(node.args[1]) if len(node.args) > 1 else None
            if first.startswith(".") and package:
                level = len(first) - len(first.lstrip("."))
                self.scan.imports.append(ImportRef(first[level:], level, (), node.lineno, True, self._lazy > 0))
            elif not first.startswith("."):
                self.scan.imports.append(ImportRef(first, 0, (), node.lineno, True, self._lazy > 0))
        elif name and (name in CTYPES_LOADERS or name.endswith(("find_library", ".LoadLibrary"))
                       or name in ("ctypes.CDLL", "CDLL")):
            if first:
                self.scan.libraries.append((first, node.lineno))
            elif node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value is None:
                self.scan.facts.append(CodeFact("dlopen-null", f"{name}(None)", node.lineno))
            if name not in CTYPES_FIND:
                self.scan.facts.append(CodeFact("ctypes", f"{name}({first or '…'})", node.lineno))
        elif name and (name.startswith("subprocess.") or name in SUBPROCESS_CALLS):
            self.scan.facts.append(CodeFact("subprocess", name, node.lineno))
        elif name in FORK_CALLS:
            self.scan.facts.append(CodeFact("fork", name, node.lineno))
        elif name in ("open", "io.open", "builtins.open") and first and first.startswith("/"):
            mode = _const_str(node.args[1]) if len(node.args) > 1 else None
            for kw in node.keywords:
                if kw.arg == "mode":
                    mode = _const_str(kw.value)
            if mode and any(c in mode for c in "wax+") and not first.startswith(("/tmp/", "/dev/")):
                self.scan.facts.append(CodeFact("writes", first, node.lineno))
        self.generic_visit(node)

    def _qualified(self, func: ast.AST) -> str | None:
        name = _dotted(func)
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


def scan_source(source: bytes) -> ModuleScan:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return _line_scan(source.decode("utf-8", "replace"))
    visitor = _Visitor()
    visitor.visit(tree)
    return visitor.scan
