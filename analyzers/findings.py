"""Facts about the app as Findings. Each emitter's `check` decides which kinds block its target.

Stable `kind` strings:
  python-version       INFO   CPython X.Y.Z, ABI tag, libc (location: the interpreter)
  non-pie-interpreter  WARNING the interpreter is ET_EXEC (loaders that need PIE must go through PT_INTERP)
  static-libpython     INFO   no libpython .so: the interpreter embeds it
  c-extension          WARNING a kept non-stdlib extension module (location: its path; message names the libc)
  native-library       INFO   a shared library outside the interpreter's own closure (vendored .libs, ctypes)
  subprocess | fork | multiprocessing | threads | ctypes | dlopen-null | writes
                       WARNING from app/site-packages code, location file:line
  pipe                 INFO   `os.pipe()` in app/site-packages code; the unikraft target warns (its base runtime's
                       fstat of a pipe fails with ENOSYS: set_wakeup_fd, os.fdopen and open() over it raise)
  unresolved-entrypoint WARNING the module `python -m` runs is not found (every target's check blocks on it)
  shell-chain          WARNING a `sh -c` line runs other commands besides the app (their programs and Python
                       needs are kept where they can be followed; a VM target runs the app alone); a program the
                       image lacks (a venv's pip the line makes first) is named: what it needs is unknown
  computed-program     INFO   a program named at run time from a constant start (`which(f"jupyter-{sub}")`): the
                       programs of the launch PATH (or of the prefix's dir) named so are kept, listed in the
                       message, location file:line; WARNING when too many match to keep them; INFO too for a
                       program a constant of code that starts processes names (`git_exec_name = "git"`), kept
  computed-entry-point-group WARNING entry points filtered by a group held in a name with no literal value
                       (location file:line)
  unresolved-import    WARNING a non-optional import from app code that no sys.path entry provides
  unresolved-library   WARNING a DT_NEEDED soname not found in the image
  computed-import      WARNING an import call outside the stdlib whose module name is computed at run time and
                       cannot be determined (`import_module(name)`), at module level or in the app's own code,
                       location file:line
  lazy-computed-import INFO   the same inside a function of library code: it runs only if the app calls that
                       function (flask has 13), so it is a note on the verdict, not "unverified"
  computed-library     WARNING a ctypes/cffi load outside the stdlib whose library name is computed at run time and that
                       runs at import (module level, or a helper a module-level call gives no literal), file:line;
                       a helper's literal callers are followed instead (analyzers/libcalls.py)
  lazy-computed-library INFO  the same inside a library function nothing calls at import
  lazy-submodule-left-out INFO submodules a lazy package (lazy_loader's attach_stub, a `__getattr__` importing
                       f"pkg.{name}") attaches that no kept code reads, left out (location: the stub line); WARNING
                       when the app's own code reads attributes by a computed name (location: that line)
  unreadable-extension WARNING a non-stdlib extension module that cannot be read as ELF: what its native code
                       imports is unknown (location: its path)
  helper-program       INFO   a program the app starts runs helpers from a directory its binary names (git's
                       /usr/lib/git-core): the helpers its strings name are kept (location: the program);
                       WARNING when it names too many programs of a directory to be helpers (none kept)
  unreadable-wheel     INFO   a wheel a kept package ships as data (virtualenv's seed pip) that cannot be read as a
                       zip (or holds over 100,000 members): what its code needs once unpacked is unknown
                       (location: its path); WARNING for a zipapp the app runs: its own code is unknown
  locale-data-trimmed  INFO   library or system data kept per language (babel's locale-data, gettext catalogues) was
                       left out for the languages the image does not name (not English, LANG/LC_*, the app's own
                       literals or --locale): how many files and bytes, in which directories (location: the first)
  argument-dir-not-kept WARNING the command line names a system directory (`-d /srv`), not kept whole
  data-dir-not-kept    WARNING a data directory a library's code names (`/usr/share/nltk_data`) has too many files
                       to keep whole: what the app reads there depends on its input (location file of the name)
  ignore-environment   WARNING -E/-I in the entrypoint (PYTHONPATH/PYTHONHOME are ignored)
  pth-import           INFO   a .pth file runs an import line at startup
  sourceless-module    INFO   a module shipped as .pyc only (imports guessed from its marshalled names)
  port                 INFO   an EXPOSEd port
  syntax-error         WARNING app or library code (the entrypoint's script included) that does not parse,
                       file:line; its imports were read line by line
  not-scanned          WARNING any module over the scan's size/time limits or nested too deeply (faktory.limits)
"""

from __future__ import annotations

from faktory.analyzers.graphbuild import fnode
from faktory.analyzers.model import INFO, WARNING, Closure, Finding
from faktory.image import FILE, Image

# What the analysis could not resolve: a closure with one of these (at WARNING) is convertible but unverified.
UNRESOLVED_KINDS = ("computed-import", "computed-library", "unreadable-extension", "syntax-error", "not-scanned",
                    "data-dir-not-kept", "unreadable-wheel")


def unresolved(findings) -> list[Finding]:
    return [f for f in findings if f.kind in UNRESOLVED_KINDS and f.severity == WARNING]


# Also unresolved, but only on a path the app may never take: listed with the verdict, which stays "convertible".
NOTE_KINDS = ("lazy-computed-import", "lazy-computed-library", "lazy-submodule-left-out")


def noted(findings) -> list[Finding]:
    return [f for f in findings if f.kind in NOTE_KINDS]


FACT_MESSAGES = {
    "subprocess": "starts processes ({detail})",
    "fork": "forks ({detail})",
    "multiprocessing": "uses multiprocessing ({detail})",
    "threads": "uses threads ({detail})",
    "ctypes": "loads native code through ctypes ({detail})",
    "dlopen-null": "calls dlopen(NULL) through ctypes ({detail})",
    "writes": "writes outside /tmp ({detail})",
    "pipe": "makes a pipe ({detail})",
    "syntax-error": "does not parse ({detail}): importing it fails; its imports are guessed line by line",
    "not-scanned": "was not scanned for imports: {detail}",
}


# Facts that matter only to some targets, which raise them there (a pipe on Unikraft's base runtime)
TARGET_FACTS = frozenset({"pipe"})


def _kept_whole(graph, fs, path: str) -> bool:
    """Every file below `path` (a dir, links resolved once) is in the closure: another rule kept it all."""
    try:
        top = fs.resolve(path)
        for entry in fs.walk(top):
            if entry.kind == FILE and fnode(entry.path) not in graph:
                return False
    except Exception:  # a loop, a path through a file: not kept as a whole
        return False
    return fnode(top) in graph


def collect(analysis, closure: Closure, image: Image) -> list[Finding]:
    interp = closure.interpreter
    out: list[Finding] = [Finding(
        "python-version", f"CPython {interp.version_str} ({interp.abi_tag}), libc {interp.libc}", INFO,
        interp.real_path)]
    if not interp.pie:
        out.append(Finding("non-pie-interpreter", f"{interp.real_path} is not position-independent (ET_EXEC)",
                           WARNING, interp.real_path))
    if interp.libpython is None:
        out.append(Finding("static-libpython", "libpython is linked statically into the interpreter", INFO,
                           interp.real_path))
    for (kind, module), source in sorted(analysis.effects.start_facts.items()):
        out.append(Finding(kind, FACT_MESSAGES.get(kind, kind).format(detail=f"{module}, as it serves; {source}"),
                           WARNING))
    for command in analysis.shell_skipped:
        vms = ("oci and microvm run it; a unikernel target starts the app alone" if closure.launch.shell_argv
               else "a VM target starts the app alone")
        what = "its needs are kept" if command in analysis.chain_analysed else "only the app's command is analysed"
        if command in analysis.chain_absent:  # a venv's python or pip, a downloaded tool: nothing to follow
            what = (f"`{analysis.chain_absent[command]}` is not in the image (made as the line runs?), so what it "
                    "needs is unknown and only what the rest keeps is there")
        out.append(Finding("shell-chain", f"the entrypoint's shell runs `{command[:80]}` besides the app: {what}; "
                                          f"{vms}", WARNING))
    if analysis.app.unresolved_main:
        out.append(Finding("unresolved-entrypoint", analysis.app.unresolved_main, WARNING, closure.launch.workdir))
    if any(f in closure.launch.flags for f in ("-E", "-I")):
        out.append(Finding("ignore-environment", "the interpreter runs with -E/-I: PYTHONPATH and PYTHONHOME are ignored",
                           WARNING))
    for name, record in sorted(analysis.modules.items()):
        spec = record.spec
        if spec.kind == "extension" and record.app:
            out.append(Finding("c-extension", f"{name} is a C extension module linked against "
                                              f"{_libc_needed(analysis, spec.origin) or interp.libc}", WARNING,
                               spec.origin))
        elif spec.kind == "bytecode":
            out.append(Finding("sourceless-module", f"{name} has no source; its imports are guessed from the names "
                                                    "in its bytecode", INFO, spec.origin))
    seen = set()
    for where, fact in analysis.imports.facts:
        key = (fact.kind, where, fact.lineno)
        if key in seen:
            continue
        seen.add(key)
        out.append(Finding(fact.kind, FACT_MESSAGES.get(fact.kind, fact.kind).format(detail=fact.detail),
                           INFO if fact.kind in TARGET_FACTS else WARNING, f"{where}:{fact.lineno}"))
    for name, (where, optional) in sorted(analysis.missing.items()):
        if not optional and not where.startswith(("module:", "file:", "entrypoint")) and \
                closure.owner_of(where.rsplit(":", 1)[0]) == "app":
            out.append(Finding("unresolved-import", f"import {name} is not provided by any sys.path entry", WARNING,
                               where))
    for obj, soname in analysis.native.unresolved:
        out.append(Finding("unresolved-library", f"{soname} (needed by {obj}) is not in the image", WARNING, obj))
    for pth, lineno, line in analysis.sys.pth_imports:
        out.append(Finding("pth-import", f"runs at startup: {line.strip()[:80]}", INFO, f"{pth}:{lineno}"))
    out.extend(dict.fromkeys(analysis.found))  # computed imports, unreadable extensions
    out.extend(dict.fromkeys(f for path, f in analysis.found_unless_kept
                             if not _kept_whole(closure.graph, image.fs, path)))
    for port in image.config.exposed_ports:
        out.append(Finding("port", f"exposes {port}", INFO))
    return out


def _libc_needed(analysis, path: str) -> str | None:
    """glibc / musl from the extension's own DT_NEEDED (None when it names no libc)."""
    info = analysis.native.info(path)
    for soname in info.needed if info else ():
        if soname.startswith("libc.musl") or soname.startswith("ld-musl"):
            return "musl"
        if soname == "libc.so.6":
            return "glibc"
    return None
