"""A directory named by an Env value or the command line (`HTTPIE_CONFIG_DIR=/etc/httpie`,
`MPLCONFIGDIR=/opt/mplconfig`): the program reads its files by their default names, so the files are kept —
only when the directory is small and not a system directory, where a value is more likely a search root
(`PREFIX=/usr`) than a config dir."""

from __future__ import annotations

import re

from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import WARNING, Finding
from faktory.image import DIR

MAX_FILES = 64
MAX_BYTES = 4 << 20
ROOTS = frozenset({"/", "/bin", "/sbin", "/lib", "/lib64", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib",
                   "/usr/local", "/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/usr/share", "/etc",
                   "/var", "/var/lib", "/opt", "/srv", "/root", "/home", "/tmp", "/run", "/proc", "/sys", "/dev"})


def dir_files(fs, path: str, max_bytes: int | None = MAX_BYTES, follow_links: bool = False,
              roots: frozenset[str] = ROOTS) -> list[str] | None:
    """Everything but directories under `path` (symlinks resolved by the caller), None when it is one of
    `roots` or too big to keep whole: over MAX_FILES files, or over `max_bytes` (None: any size).
    `follow_links`: a symlink to a directory is walked into, else it counts as a file."""
    if path in roots:
        return None
    files, size, todo, seen = [], 0, [path], set()
    while todo:
        here = todo.pop()
        if follow_links:  # a link back up (`loop -> ..`) is walked once, not for ever
            real = _real(fs, here)
            if real in seen or len(seen) > MAX_FILES:
                continue
            seen.add(real)
        try:
            names = sorted(fs.listdir(here))
        except (OSError, KeyError, ValueError):
            names = []
        for name in names:
            child = f"{here}/{name}"
            try:
                entry = fs.stat(child) if follow_links else fs.entry(child)
            except Exception:  # a symlink loop: names nothing to walk into
                entry = None
            if entry is not None and entry.kind == DIR:
                todo.append(child)
                continue
            files.append(child)
            size += (entry.size if entry is not None else 0) or 0
            if len(files) > MAX_FILES or (max_bytes is not None and size > max_bytes):
                return None
    return files


def _real(fs, path: str) -> str:
    try:
        return fs.resolve(path)
    except Exception:  # a loop the resolver gives up on: the path itself, once
        return path


def keep_small_dir(keeper: Keeper, fs, path: str, src: str, reason: str, detail: str | None = None) -> None:
    """The files of `path` (a real path) when it is small; `detail` defaults to the path."""
    files = dir_files(fs, path)
    for file in files or ():
        keeper.keep_path(file, src, reason, detail or path)


# the system's own directories (platformdirs names /var/cache, numpy's build config /usr/local/lib/pkgconfig):
# a library naming one does not read the files there as its data
SYSTEM_LEAVES = frozenset({"cache", "log", "tmp", "run", "spool", "mail", "include", "pkgconfig", "doc", "man",
                           "share", "lib", "lib64", "bin", "sbin", "local", "info", "games", "src", "lock"})


# /usr/lib/x86_64-linux-gnu and kin: where a library looks for shared libraries (imageio's findlib), not data
MULTIARCH = re.compile(r"[a-z0-9_]+-linux-(?:gnu|musl)\w*")


def keep_named_data_dir(keeper: Keeper, fs, path: str, src: str, where: str) -> None:
    """A data directory a library's code names (`/usr/share/nltk_data`, maybe a link): its files when there are
    few, whatever their size, else a finding, since which of them the program reads depends on its input."""
    leaf = path.rsplit("/", 1)[-1]
    if path in ROOTS or leaf in SYSTEM_LEAVES or MULTIARCH.fullmatch(leaf):
        return
    files = dir_files(fs, path, max_bytes=None, follow_links=True)
    if files is None:
        keeper.finding_unless_kept(path, Finding("data-dir-not-kept", f"{path} is named as a data directory but "
                                                 f"has over {MAX_FILES} files: --include what the app reads there",
                                                 WARNING, where))
        return
    for file in files:
        keeper.keep_path(file, src, "named-data-dir", where)
