"""Modules the interpreter imports before any user code, per version, plus the files getpath looks at.

The AST closure of these roots adds the rest (encodings' codecs, os's imports, ...). `site` is left out
under -S, as the interpreter does.
"""

from __future__ import annotations

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
