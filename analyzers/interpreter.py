"""Who the interpreter is, from the image's files only: version, ABI tag, libc, libpython, prefix, stdlib.

The prefix is found as CPython's getpath does: walk up from the executable's directory until
`lib/python3.X/os.py` (the landmark) exists. The micro version is the PY_VERSION string compiled into
libpython (or into the executable when libpython is static).
"""

from __future__ import annotations

import posixpath
import re

from faktory.analyzers import sysfiles
from faktory.analyzers.elf import ElfInfo
from faktory.analyzers.graphbuild import ENTRY, GraphBuilder, fnode
from faktory.analyzers.model import Interpreter
from faktory.analyzers.native import NativeResolver
from faktory.errors import FaktoryError

LIBPYTHON = re.compile(r"^libpython(\d)\.(\d+)[a-z]*\.so")
EXE_VERSION = re.compile(r"python(\d)\.(\d+)")
STDLIB_DIR = re.compile(r"^python(\d)\.(\d+)$")
EXT_TAG = re.compile(r"\.(cpython-\d+[a-z]*-[A-Za-z0-9_]+-[a-z]+-[a-z]+)\.so$")
MICRO_TAIL = re.compile(rb"(\d+)(?:[abrc+][0-9a-z+]*)?\x00")
SYSCONFIGDATA = re.compile(r"^_sysconfigdata_[a-z]*_(?:linux_)?(.+)\.py$")


class InterpreterNotFound(FaktoryError):
    """The entrypoint's interpreter cannot be pinned down (no stdlib, no version) from the image."""


def _libc_of(interp: str | None) -> str:
    if not interp:
        return "static"
    name = posixpath.basename(interp)
    if "musl" in name:
        return "musl"
    if name.startswith("ld-linux") or name.startswith("ld64"):
        return "glibc"
    return "unknown"


def find_prefix(gb: GraphBuilder, exe_dirs: list[str], versions: list[tuple[int, int]]) -> tuple[str, tuple[int, int]] | None:
    """(prefix, (major, minor)) of the first dir walking up from the executable that holds the landmark."""
    for start in exe_dirs:
        d = start
        while True:
            lib = posixpath.join(d, "lib")
            candidates = versions or sorted(
                ((int(m.group(1)), int(m.group(2))) for m in map(STDLIB_DIR.match, gb.listdir(lib)) if m), reverse=True)
            for major, minor in candidates:
                if gb.is_file(posixpath.join(lib, f"python{major}.{minor}", "os.py")) or gb.is_file(
                        posixpath.join(lib, f"python{major}.{minor}", "os.pyc")):
                    return d, (major, minor)
            if d == "/":
                break
            d = posixpath.dirname(d)
    return None


def _micro(gb: GraphBuilder, binary: str, major: int, minor: int) -> int:
    """PY_VERSION as compiled in: "X.Y.Z" right before a NUL, not preceded by a digit or a dot.

    It may share its bytes with a longer string ending the same way (".../Python-3.12.1\\0"): the linker
    merges string tails. str.find runs at C speed over a 30 MB libpython; a regex with a look-behind does not.
    """
    data = gb.fs.read_bytes(binary)
    prefix = b"%d.%d." % (major, minor)
    pos = data.find(prefix)
    while pos != -1:
        if pos == 0 or data[pos - 1:pos] not in b"0123456789.":
            m = MICRO_TAIL.match(data, pos + len(prefix))
            if m:
                return int(m.group(1))
        pos = data.find(prefix, pos + 1)
    return 0


def _abi_tag(gb: GraphBuilder, stdlib: str, dynload: str | None, major: int, minor: int) -> str:
    for name in sorted(gb.listdir(dynload)) if dynload else ():
        m = EXT_TAG.search(name)
        if m and m.group(1).startswith(f"cpython-{major}{minor}"):
            return m.group(1)
    for name in sorted(gb.listdir(stdlib)):
        m = SYSCONFIGDATA.match(name)
        if m:
            return f"cpython-{major}{minor}-{m.group(1)}"
    return f"cpython-{major}{minor}-x86_64-linux-gnu"


def identify(gb: GraphBuilder, native: NativeResolver, path: str, info: ElfInfo | None) -> Interpreter:
    real = gb.realpath(path)
    versions: list[tuple[int, int]] = []
    libpython = None
    for soname in info.needed if info else ():
        m = LIBPYTHON.match(soname)
        if m:
            versions.append((int(m.group(1)), int(m.group(2))))
            libpython = native.find_library(soname, info, posixpath.dirname(real))
    for name in (posixpath.basename(real), posixpath.basename(path)):
        m = EXE_VERSION.search(name)
        if m and (int(m.group(1)), int(m.group(2))) not in versions:
            versions.append((int(m.group(1)), int(m.group(2))))
    found = find_prefix(gb, [posixpath.dirname(posixpath.dirname(real)), posixpath.dirname(posixpath.dirname(path))], versions)
    if found is None:
        found = find_prefix(gb, ["/usr/local", "/usr"], versions)
    if found is None:
        raise InterpreterNotFound(f"no standard library (lib/python3.X/os.py) found for the interpreter {real}")
    prefix, (major, minor) = found
    stdlib = posixpath.join(prefix, "lib", f"python{major}.{minor}")
    dynload = posixpath.join(stdlib, "lib-dynload")
    dynload = dynload if gb.is_dir(dynload) else None
    micro = _micro(gb, gb.realpath(libpython) if libpython else real, major, minor)
    return Interpreter(
        path=path, real_path=real, version=(major, minor, micro),
        abi_tag=_abi_tag(gb, stdlib, dynload, major, minor), libc=_libc_of(info.interp if info else None),
        pt_interp=info.interp if info else None, libpython=libpython, prefix=prefix, stdlib_dir=stdlib,
        dynload_dir=dynload, pie=bool(info and info.pie),
    )


def builtin_modules(gb: GraphBuilder, interp: Interpreter) -> frozenset[str]:
    """Modules compiled into the interpreter: the PyInit_<name> symbols of libpython (or the executable)."""
    binary = interp.libpython or interp.real_path
    try:
        data = gb.fs.read_bytes(gb.realpath(binary))
    except OSError:
        return frozenset({"sys", "builtins"})
    names = set()
    pos = data.find(b"\x00PyInit_")
    while pos != -1:
        end = data.find(b"\x00", pos + 8)
        name = data[pos + 8:end]
        if name and re.fullmatch(rb"\w+", name):
            names.add(name.decode())
        pos = data.find(b"\x00PyInit_", pos + 1)
    return frozenset(names | {"sys", "builtins", "_frozen_importlib", "_frozen_importlib_external", "_imp"})


def keep_interpreter(gb: GraphBuilder, native: NativeResolver, hops, path: str, env: dict[str, str]) -> Interpreter:
    """The interpreter as a contributor: the programs on the way to it (shells, env, init shims, wrapper
    scripts), its ELF closure, the prefix landmark getpath looks for, lib-dynload and the files libc reads."""
    for hop, reason in hops:
        native.keep_elf(hop, ENTRY, reason)
    info = native.keep_elf(path, ENTRY, "interpreter")
    interp = identify(gb, native, path, info)
    inode = fnode(interp.real_path)
    gb.keep_path(posixpath.join(interp.stdlib_dir, "os.py"), inode, "landmark")
    if interp.dynload_dir:
        gb.keep_path(interp.dynload_dir, inode, "lib-dynload")
    sysfiles.keep_runtime_files(gb, inode, env, interp.libc)
    return interp
