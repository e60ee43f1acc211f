"""String mining: names of modules that no import statement states, read from where code keeps them.

- quoted dotted names in a scanned module (`"pkg.backends.fast"`, `"pkg.mod:Class"`), a plugin table a library
  imports by name: kept when they name a module of the same top-level package (`named-by-string`, file:line);
- the string sections of an extension module (mypyc, Cython, pybind11, cffi import through the C API):
  names that resolve on the image's sys.path are kept (`named-in-native-code`);
- the marshalled short strings of a sourceless `.pyc` (`bytecode-name`);
- in the app's own code, any quoted dotted name of a module of the image, and a quoted bare name of one of the
  app's own modules ("polls" in INSTALLED_APPS): a named package is kept whole.

Each miner gets a narrow `Keeper` (keep a module, say a finding, ask the image's finder), never the Analysis.
"""

from __future__ import annotations

import re
import struct
from typing import Callable, Iterable

from faktory.analyzers.elfread import PT_LOAD, SHT_NOBITS, ElfFormatError, ElfView, open_view, printable_runs

from faktory.analyzers import startup
from faktory.analyzers.finder import ModuleSpec
from faktory.analyzers.imports import absolute, dotted_strings
from faktory.analyzers.keeper import Keeper

# marshal's short ASCII strings (TYPE_SHORT_ASCII[_INTERNED], with or without FLAG_REF): length byte, then text
MARSHAL_SHORT = re.compile(rb"[\x5a\xda\x7a\xfa]([\x01-\x50])")
DOTTED_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# A whole string of a C string table: bounded by non-printable bytes (NUL, or mypyc's length prefixes), so a word
# inside a message ("invalid decimal literal") is not a name. The first part may start with a digit: mypyc's
# shared runtime is `<hex>__mypyc`.
NATIVE_NAME = re.compile(rb"(?<![\x20-\x7e])([A-Za-z0-9_]{1,80}(?:\.[A-Za-z_][A-Za-z0-9_]{0,80}){0,6})(?![\x20-\x7e])")
# The same test, fast: the distinct printable runs (elfread.printable_runs) matched whole (one regex step per run
# instead of a look-behind at every byte of the sections: the regex step takes half the time).
_WHOLE_NAME = re.compile(rb"[A-Za-z0-9_]{1,80}(?:\.[A-Za-z_][A-Za-z0-9_]{0,80}){0,6}")
# A quoted bare name ("polls" in INSTALLED_APPS): counted only when it names a module of the app's own code
WORD_LITERAL = re.compile(r"""(["'])([A-Za-z_][A-Za-z0-9_]*)\1""")
NATIVE_SECTIONS = (".rodata", ".data", ".data.rel.ro")
# Rust (pyo3) lays its string literals end to end with no NUL between them: a module name it imports is then a
# piece of a longer run ("…openssl.ed25519cryptography.hazmat.primitives.hashes…"), and a run may even be NUL
# bounded like a C string. Every such run is kept too, marked with PACKED, and split later against the module
# names the image really has.
PACKED_RUN = re.compile(rb"[a-z_][a-z0-9_]{1,}\.[A-Za-z0-9_.]{2,}")
PACKED = "~"
MAX_PACKED_RUN = 400
NATIVE_FORMAT = 3  # part of the cache key: bump when elf_string_names changes
NEVER_BY_STRING = frozenset({"this", "antigravity", "__main__", "__phello__"}) | startup.DEV_ONLY
# Looked up by a compiler's runtime only when asked (Cython's `_is_coroutine` check reads asyncio.coroutines once
# asyncio is in use, i.e. already imported by the app): not a reason to keep a 2 MB package.
RUNTIME_LOOKUPS = frozenset({"asyncio.coroutines"})


def marshal_names(data: bytes) -> set[str]:
    """Identifier-like short strings of a marshalled code object (a .pyc body)."""
    names = set()
    for m in MARSHAL_SHORT.finditer(data):
        text = data[m.end(): m.end() + m.group(1)[0]]
        if DOTTED_NAME.fullmatch(text):
            names.add(text.decode("ascii"))
    return names


def _is_name(text: str) -> bool:
    head, *rest = text.split(".")
    return not head.isdigit() and all(p.isidentifier() for p in rest)  # head is [A-Za-z0-9_]+: a letter or _


def elf_string_names(data) -> list[str] | None:
    """Name-like whole strings of an ELF object's data sections (dotted ones only from .dynstr, where bare
    words are C symbols: `socket`, `select`). `data`: bytes, or an ElfView already open on them. None when
    it is not a readable ELF object."""
    elf = data if isinstance(data, ElfView) else open_view(data)
    if elf is None:
        return None
    try:
        chunks: list[tuple[bytes, bool]] = []
        for section in elf.sections():
            if section.type == SHT_NOBITS:
                continue
            if section.name in NATIVE_SECTIONS or section.name.startswith(".rodata."):
                chunks.append((elf.section_data(section), True))
            elif section.name == ".dynstr":
                chunks.append((elf.section_data(section), False))
        if not chunks:  # no section headers (stripped hard): the loadable segments
            chunks = [(elf.segment_data(seg), True) for seg in elf.segments() if seg.type == PT_LOAD]
    except (ElfFormatError, struct.error, OSError):
        return None
    names: set[str] = set()
    for chunk, bare in chunks:
        runs = printable_runs(chunk)  # NATIVE_NAME's candidates, once each
        for raw in runs:
            # _is_name on bytes: the regex already made every part after the first an identifier
            if (b"." in raw or (bare and len(raw) > 1)) and _WHOLE_NAME.fullmatch(raw) and \
                    not raw.partition(b".")[0].isdigit():
                names.add(raw.decode("ascii"))
        if bare:  # a packed run lies inside one printable run: the distinct ones, NUL apart, hold them all
            names.update(PACKED + run.decode("ascii") for run in set(PACKED_RUN.findall(b"\0".join(runs)))
                         if len(run) <= MAX_PACKED_RUN)
    return sorted(names)


def packed_modules(keeper: Keeper, top: str, run: str) -> list[str]:
    """Modules of package `top` that a run of packed literals names: from each `top.` in it, the deepest module
    reached by taking, at each step, the longest piece of the text that is a submodule of the image. A piece
    shorter than its dotted part ends the walk: the rest of the text is the next literal."""
    found = []
    at = run.find(top + ".")
    while at >= 0:
        current, pos = top, at + len(top) + 1
        while pos < len(run):
            part = run[pos:].split(".", 1)[0]
            step = next((n for n in range(len(part), 0, -1)
                         if part[:n].isidentifier() and keeper.find(f"{current}.{part[:n]}") is not None), 0)
            if not step:
                break
            current, pos = f"{current}.{part[:step]}", pos + step
            if step < len(part) or pos >= len(run):
                break
            pos += 1  # the dot
        if current != top:
            found.append(current)
        at = run.find(top + ".", at + 1)
    return found


def keep_native_names(keeper: Keeper, module: str, origin: str, names: Iterable[str], depth: int = 0,
                      is_package: bool = False, stdlib: Callable[[ModuleSpec], bool] | None = None) -> None:
    """Names an extension's string tables hold that resolve to modules of the image: a dotted name (or the
    module of `module.attr`), a bare name inside the extension's own package, or a top-level module.

    A stdlib extension (`stdlib` tells stdlib specs) keeps only exact names of stdlib modules, one level lazier:
    `_datetime` imports `_strptime` when strptime is called; its `socket.socket`-like strings are type names."""
    src, package = f"module:{module}", module if is_package else module.rpartition(".")[0]
    top = module.split(".")[0]
    for text in names:
        if text.startswith(PACKED):
            if stdlib is None:
                for found in packed_modules(keeper, top, text[len(PACKED):]):
                    if found not in (module, package):
                        keeper.keep_module(found, src, "named-in-native-code", origin, optional=True, depth=depth)
            continue
        if text.split(".")[0] in NEVER_BY_STRING or text == module or text in RUNTIME_LOOKUPS or \
                "__init__" in text.split("."):
            continue
        if stdlib is not None:
            spec = keeper.find(text)
            if spec is not None and text != package and stdlib(spec):
                keeper.keep_module(text, src, "named-in-native-code", origin, optional=True, depth=depth + 1)
            continue
        candidates = [f"{package}.{text}", text] if package and "." not in text else [text]
        if "." in text:
            candidates.append(text.rpartition(".")[0])
        for candidate in candidates:
            if candidate not in (module, package) and keeper.find(candidate) is not None:
                keeper.keep_module(candidate, src, "named-in-native-code", origin, optional=True, depth=depth)
                break


def keep_same_package_strings(keeper: Keeper, module: str, strings: Iterable[tuple[str, int]], where: str,
                              depth: int = 0, related: Callable[[ModuleSpec], bool] | None = None) -> None:
    """Quoted dotted names in a library module that name a module of its own top-level package (a plugin
    table imported by name), or of a distribution `related` says its own requires (Sphinx's built-in
    `sphinxcontrib.*` extensions): that module is kept, or the module of a `pkg.mod:attr`."""
    top = module.split(".")[0]
    src = f"module:{module}"
    for text, lineno in strings:
        if text.startswith("."):
            _keep_relative_name(keeper, module, text, src, f"{where}:{lineno}", depth)
            continue
        # Exact names only (and `pkg.mod:attr`): a library's "werkzeug.debug.preserve_context" is an environ
        # key, and cutting it down to werkzeug.debug would keep a debugger nobody runs.
        name = text.partition(":")[0]
        if name == module or "." not in name or (name.split(".")[0] != top and related is None):
            continue
        spec = keeper.find(name)
        if spec is None:  # "pkg.mod.Class": a dotted import string (Jinja's extensions, import_string)
            name, _, attr = name.rpartition(".")
            spec = keeper.find(name) if name != module and "." in name else None
            if spec is None or not _defines(keeper, spec, attr):
                continue
        if name.split(".")[0] == top or related(spec):
            keeper.keep_module(name, src, "named-by-string", f"{where}:{lineno}", optional=True, depth=depth)


def _keep_relative_name(keeper: Keeper, module: str, text: str, src: str, detail: str, depth: int) -> None:
    """".views" in a module of package P: P.views, which the framework resolves against the caller's package
    (Pyramid's `config.scan(".views")` then imports every module under it: a package is kept whole)."""
    if ":" in text:
        return
    spec = keeper.find(module)
    level = len(text) - len(text.lstrip("."))
    base = absolute(module, spec is not None and spec.is_package, "", level)
    if not base:
        return
    name = f"{base}.{text[level:]}"
    if keeper.find(name) is not None:
        keeper.keep_named(name, src, "named-by-string", detail, depth)


def _defines(keeper: Keeper, spec: ModuleSpec, attr: str) -> bool:
    """The module's source defines `attr` at top level (class, def or assignment): "pkg.mod.attr" is an object
    of it, not a key like "werkzeug.debug.preserve_context" that would keep a module nobody imports."""
    text = keeper.read_text(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    if not text or not attr.isidentifier():
        return False
    definition = rf"^(?:class\s+{attr}\b|(?:async\s+)?def\s+{attr}\b|{attr}\s*(?::[^=\n]*)?=)"
    return re.search(definition, text, re.M) is not None


def keep_bytecode_names(keeper: Keeper, name: str, spec: ModuleSpec, data: bytes, builtins) -> None:
    """A sourceless module: its code object cannot be unmarshalled across versions, but the names it imports are
    marshalled short ASCII strings; those that resolve as modules are kept (optional)."""
    node = f"module:{name}"
    for candidate in marshal_names(data[16:]):
        if candidate.split(".")[0] in startup.DEV_ONLY or candidate in ("__main__", name):
            continue
        if candidate in builtins or keeper.find(candidate) is not None:
            keeper.keep_module(candidate, node, "bytecode-name", spec.origin, optional=True)
        elif spec.is_package or "." in name:
            package = name if spec.is_package else name.rpartition(".")[0]
            if "." not in candidate and keeper.find(f"{package}.{candidate}") is not None:
                keeper.keep_module(f"{package}.{candidate}", node, "bytecode-name", spec.origin, optional=True)


def keep_app_strings(keeper: Keeper, node: str, source: bytes, where: str, depth: int = 0,
                     own_words: Callable[[ModuleSpec], bool] | None = None) -> set[str]:
    """Strings naming modules of the image: settings, plugin lists, dictConfig classes, task paths. A bare word
    counts when `own_words` says it names one of the app's own modules ("polls", "settings"); elsewhere a bare
    word ("json", "email", "test") is too often just a word. Returns every quoted name seen (entry point groups
    are among them)."""
    text = source.decode("utf-8", "replace")
    dotted = dotted_strings(text)
    for value, lineno in sorted(dotted):
        keeper.keep_named(value.partition(":")[0], node, "named-by-string", f"{where}:{lineno}", depth)
    if own_words is None:
        return set()
    words = {m.group(2) for m in WORD_LITERAL.finditer(text)}
    for word in sorted(words):
        spec = keeper.find(word)
        if spec is not None and own_words(spec):
            lineno = text.count("\n", 0, max(text.find(f'"{word}"'), text.find(f"'{word}'"), 0)) + 1
            keeper.keep_named(word, node, "named-by-string", f"{where}:{lineno}", depth)
    return {value for value, _ in dotted} | words
