"""What a program the app starts runs and reads by paths built into it: its helper directory and its data.

`git clone` runs `git-upload-pack` from git's exec path, /usr/lib/git-core, a directory only a string in git's
binary names (its builtins there are links back to git; `git-remote-https`, `git-submodule` are programs of
their own). So a program's read-only strings are read (nothing is run):
- an absolute directory of the image they name, and entries of it that whole strings name and that are
  executable: helpers, kept as the program is (`helper-program`), at most MAX_HELPERS a directory;
- an absolute program they name (`/bin/sh`, for hooks and aliases): kept the same way (another file named so
  is not: static glibc names /etc/shadow, and the system files' rules keep what the resolver reads);
- a directory named relative to the program's prefix (`share/git-core/templates` under /usr), or absolutely
  and holding no named helper: data, kept when small (`program-data`, the Env-named directory's limits).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Callable, Protocol

from faktory.analyzers import envdirs
from faktory.analyzers.elfread import SHT_NOBITS, ElfFormatError, open_view, printable_runs
from faktory.analyzers.model import INFO, WARNING, Finding
from faktory.image import FILE

MAX_PROGRAM_BYTES = 64 << 20  # a program's strings are read whole; a bigger one is not mined
MAX_HELPERS = 256  # git names ~180 (most links to itself); more looks like a search root, not a helper dir
HELPER = "helper-program"
DATA = "program-data"
_SECTIONS = (".rodata", ".data.rel.ro")
_ABSOLUTE = re.compile(rb"(?:/[A-Za-z0-9._+-]+)+")
# a build's relative install dirs (autoconf's datadir, libexecdir): resolved against the program's prefix
_RELATIVE = re.compile(rb"(?:share|lib|libexec|etc)(?:/[A-Za-z0-9._+-]+)+")
_WORD = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
# never a helper or data dir, whatever a program says: pseudo filesystems and scratch
_NEVER = ("/proc", "/sys", "/dev", "/tmp", "/run", "/var/tmp")
# documentation, and the message catalogues the locale files' rule keeps: a program reads none to do its work
_DOCS = ("/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/locale", "/usr/local/share/doc",
         "/usr/local/share/man", "/usr/local/share/info", "/usr/local/share/locale")


@dataclass(frozen=True)
class ProgramStrings:
    absolute: frozenset[str]  # "/usr/lib/git-core", "/bin/sh"
    relative: frozenset[str]  # "share/git-core/templates"
    words: frozenset[str]  # "git-upload-pack": whole strings that can be file names


def program_strings(data) -> ProgramStrings | None:
    """The path-like and name-like whole strings of an ELF program's read-only data; None when not ELF."""
    elf = open_view(data)
    if elf is None:
        return None
    try:
        chunks = [elf.section_data(s) for s in elf.sections()
                  if s.type != SHT_NOBITS and (s.name in _SECTIONS or s.name.startswith(".rodata."))]
    except (ElfFormatError, OSError, ValueError):
        return None
    runs: set[bytes] = set()
    for chunk in chunks:
        runs.update(printable_runs(chunk))
    absolute, relative, words = set(), set(), set()
    for raw in runs:
        if _ABSOLUTE.fullmatch(raw):
            absolute.add(posixpath.normpath(raw.decode("ascii")))
        elif _RELATIVE.fullmatch(raw):
            relative.add(posixpath.normpath(raw.decode("ascii")))
        elif _WORD.fullmatch(raw):
            words.add(raw.decode("ascii"))
    return ProgramStrings(frozenset(absolute), frozenset(relative), frozenset(words))


class HelperKeeper(Protocol):
    def keep_path(self, path: str, src: str, reason: str, detail: str | None = None) -> str | None: ...

    def finding(self, finding: Finding) -> None: ...

    def read_bytes(self, path: str) -> bytes: ...

    def listdir(self, path: str) -> frozenset[str]: ...

    def is_dir(self, path: str) -> bool: ...

    def is_file(self, path: str) -> bool: ...

    def realpath(self, path: str) -> str: ...


# keep_program(path, src node, detail, reason): a helper is kept as the program that runs it is
KeepProgram = Callable[[str, str, str, str], None]


def _never(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in _NEVER + _DOCS)


def _executable(fs, path: str) -> bool:
    entry = fs.stat(path)
    return entry is not None and entry.kind == FILE and bool(entry.mode & 0o111)


class BuiltInPaths:
    """Each program's built-in paths, read once; each helper directory said once (git's helpers name it too)."""

    def __init__(self, k: HelperKeeper, fs, keep_program: KeepProgram) -> None:
        self._k, self._fs, self._keep_program = k, fs, keep_program
        self._mined: set[str] = set()  # real paths of programs read
        self._said: set[str] = set()  # helper directories reported

    def keep(self, program: str, node: str) -> None:
        """The helpers and data `program` (kept, an ELF) names by built-in paths."""
        k = self._k
        real = k.realpath(program)
        if real in self._mined:
            return
        self._mined.add(real)
        found = self._strings(real)
        if found is None:
            return
        data_dirs = [posixpath.join(posixpath.dirname(posixpath.dirname(real)), rel) for rel in sorted(found.relative)]
        for path in sorted(found.absolute):
            if path == "/" or _never(path) or path == real:
                continue
            if k.is_file(path):  # a program, or a system file (static glibc names /etc/shadow): not this rule's
                if _executable(self._fs, k.realpath(path)):
                    self._keep_program(path, node, f"{path} named in {real}", HELPER)
            elif k.is_dir(path) and not self._keep_helpers(path, found.words, node, real):
                data_dirs.append(path)
        for path in data_dirs:
            _keep_data_dir(k, self._fs, path, node, real)

    def _strings(self, real: str) -> ProgramStrings | None:
        entry = self._fs.stat(real)
        if entry is None or entry.size > MAX_PROGRAM_BYTES:
            return None
        try:
            return program_strings(self._k.read_bytes(real))
        except OSError:
            return None

    def _keep_helpers(self, path: str, words: frozenset[str], node: str, program: str) -> bool:
        """The executables of directory `path` that the program's strings name; False when it names none."""
        k, directory = self._k, self._k.realpath(path)
        helpers = sorted(n for n in words & k.listdir(directory)
                         if ".so" not in n and _executable(self._fs, k.realpath(posixpath.join(directory, n))))
        if not helpers:
            return False
        if len(helpers) > MAX_HELPERS:
            k.finding(Finding(HELPER, f"{program} names {len(helpers)} programs of {path}: none kept, too many to "
                                      f"be its helpers (hint: --include '{path}/NAME')", WARNING, program))
            return True
        if directory not in self._said:  # said before the helpers are kept: they name it too
            self._said.add(directory)
            own = sorted({k.realpath(posixpath.join(directory, n)) for n in helpers} - {program})
            shown = ", ".join(posixpath.basename(p) for p in own[:8]) + (", …" if len(own) > 8 else "")
            k.finding(Finding(HELPER, f"{program} runs helpers from {path}, a directory its strings name: kept "
                                      f"the {len(helpers)} it names, {len(own)} of them programs of their own "
                                      f"({shown}); which one runs depends on the command and the URL", INFO, program))
        for name in helpers:
            self._keep_program(posixpath.join(path, name), node, f"{path} named in {program}", HELPER)
        return True


def _keep_data_dir(k: HelperKeeper, fs, path: str, node: str, program: str) -> None:
    """A small directory the program names (git's templates, copied into every new repository)."""
    if _never(path) or not k.is_dir(path):
        return
    # nothing when it is a system root, or too big to be this program's
    envdirs.keep_small_dir(k, fs, k.realpath(path), node, DATA, f"{path} named in {program}")
