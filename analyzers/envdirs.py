"""A directory named by an Env value or the command line (`HTTPIE_CONFIG_DIR=/etc/httpie`,
`MPLCONFIGDIR=/opt/mplconfig`): the program reads its files by their default names, so the files are kept —
only when the directory is small and not a system directory, where a value is more likely a search root
(`PREFIX=/usr`) than a config dir."""

from __future__ import annotations

from faktory.analyzers.keeper import Keeper
from faktory.analyzers.model import WARNING, Finding
from faktory.image import DIR

MAX_FILES = 64
MAX_BYTES = 4 << 20
ROOTS = frozenset({"/", "/bin", "/sbin", "/lib", "/lib64", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib",
                   "/usr/local", "/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/usr/share", "/etc",
                   "/var", "/var/lib", "/opt", "/srv", "/root", "/home", "/tmp", "/run", "/proc", "/sys", "/dev"})


def small_dir_files(fs, path: str) -> list[str] | None:
    """The regular files under `path` (symlinks resolved by the caller), None when it is too big to keep whole."""
    if path in ROOTS:
        return None
    files, size = [], 0
    for entry in fs.walk(path):
        if entry.kind == DIR:
            continue
        files.append(entry.path)
        size += entry.size or 0
        if len(files) > MAX_FILES or size > MAX_BYTES:
            return None
    return files


def keep_small_dir(keeper: Keeper, fs, path: str, src: str, reason: str) -> None:
    files = small_dir_files(fs, path)
    for file in files or ():
        keeper.keep_path(file, src, reason, path)


# the system's own directories (platformdirs names /var/cache, numpy's build config /usr/local/lib/pkgconfig):
# a library naming one does not read the files there as its data
SYSTEM_LEAVES = frozenset({"cache", "log", "tmp", "run", "spool", "mail", "include", "pkgconfig", "doc", "man",
                           "share", "lib", "lib64", "bin", "sbin", "local", "info", "games", "src", "lock"})


def keep_named_data_dir(keeper: Keeper, path: str, src: str, where: str) -> None:
    """A data directory a library's code names (`/usr/share/nltk_data`): its files when there are few, else a
    finding, since which of them the program reads depends on its input."""
    if path in ROOTS or path.rsplit("/", 1)[-1] in SYSTEM_LEAVES:
        return
    files, todo = [], [path]
    while todo:
        here = todo.pop()
        for name in sorted(keeper.listdir(here)):
            child = f"{here}/{name}"
            (todo if keeper.is_dir(child) else files).append(child)
        if len(files) > MAX_FILES:
            keeper.finding(Finding("data-dir-not-kept", f"{path} is named as a data directory but has over "
                                   f"{MAX_FILES} files: --include what the app reads there", WARNING, where))
            return
    for file in files:
        keeper.keep_path(file, src, "named-data-dir", where)
