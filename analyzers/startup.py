"""Modules the interpreter imports before any user code, per version, plus the files getpath looks at.

The AST closure of these roots adds the rest (encodings' codecs, os's imports, ...). `site` is left out
under -S, as the interpreter does.
"""

from __future__ import annotations

from faktory.analyzers.graphbuild import fnode
from faktory.analyzers.imports import scan_source
from faktory.analyzers.keeper import Keeper

COMMON = ("encodings", "codecs", "io", "abc", "os", "stat", "posixpath", "genericpath", "_collections_abc")
SITE = ("site", "_sitebuiltins")
BY_VERSION = {
    (3, 8): ("_bootlocale",),
    (3, 9): ("_bootlocale",),
}
OPTIONAL_CUSTOMIZE = ("sitecustomize", "usercustomize")


def startup_modules(version: tuple[int, int, int], no_site: bool) -> tuple[str, ...]:
    mods = COMMON + BY_VERSION.get(version[:2], ())
    return mods if no_site else mods + SITE


def keep_startup(keeper: Keeper, src: str, version: tuple[int, int, int], sp) -> None:
    """What the interpreter imports before the app: its start-up modules, site's customize hooks and the
    import lines of .pth files (site exec()s them)."""
    for name in startup_modules(version, sp.no_site):
        keeper.keep_module(name, src, "startup")
    if sp.no_site:
        return
    for name in OPTIONAL_CUSTOMIZE:
        keeper.keep_module(name, src, "startup", optional=True)
    for pth, lineno, line in sp.pth_imports:
        for ref in scan_source(line.encode()).imports:
            if ref.level == 0 and ref.module:
                keeper.keep_module(ref.module, fnode(pth), "pth-import", f"{pth}:{lineno}", optional=True)

# Standard-library modules for development, tests and interactive use. A function-level (lazy) import of one
# of them from library code is not followed: `pickle._test()` importing doctest, `warnings` importing
# tracemalloc for a report, `site` enabling readline for the REPL. Module-level imports are always followed.
DEV_ONLY = frozenset({
    "test", "unittest", "doctest", "pydoc", "pydoc_data", "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib",
    "lib2to3", "ensurepip", "venv", "distutils", "pdb", "bdb", "cProfile", "profile", "pstats", "trace",
    "tracemalloc", "timeit", "tabnanny", "compileall", "py_compile", "msilib", "readline", "rlcompleter", "curses",
    "_curses", "_curses_panel", "code", "codeop", "dbm", "_dbm", "_gdbm", "idle", "_testcapi", "_testinternalcapi",
    "_testbuffer", "_testimportmultiple", "_testmultiphase", "_xxtestfuzz", "_ctypes_test", "xxlimited",
    "_pyrepl", "_testlimitedcapi", "setuptools", "pip", "wheel", "pytest", "_pytest", "_testsinglephase", "_testexternalinspection", "_testclinic",
})
