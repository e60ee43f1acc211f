"""Image files written out on the host from image.fs: a closure's paths, or the whole merged tree (bounded)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable

from faktory.errors import FaktoryError
from faktory.image import DIR, FILE, SYMLINK, Entry

# Mount points the sandbox puts its own /dev, /proc, /tmp on: a read-only root cannot grow them later.
MOUNT_POINTS = ("dev", "proc", "tmp")
DEFAULT_MAX_BYTES = 8 << 30


class RootTooLarge(FaktoryError):
    pass


def _write(fs, entry: Entry, dest: Path) -> int:
    host = dest / entry.path.lstrip("/")
    if entry.kind == DIR:
        host.mkdir(parents=True, exist_ok=True)
        os.chmod(host, (entry.mode & 0o1777) or 0o755)
        return 0
    host.parent.mkdir(parents=True, exist_ok=True)
    if entry.kind == SYMLINK:
        if not host.is_symlink():
            os.symlink(entry.linkname, host)
        return 0
    if entry.kind != FILE:
        return 0  # device nodes and fifos: the sandbox has its own /dev
    with fs.open(entry.path) as src, open(host, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    os.chmod(host, (entry.mode & 0o1777) or 0o644)  # no setuid/setgid bits on the host copy
    return entry.size


def materialise(fs, paths: Iterable[str], dest: Path) -> int:
    """Write `paths` (parents first) from the image filesystem into dest, plus the sandbox's mount points;
    returns bytes of regular files."""
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in paths:
        entry = fs.entry(path)
        if entry is not None:
            total += _write(fs, entry, dest)
    for name in MOUNT_POINTS:
        _mkdirs(dest, name)
    return total


def materialise_image(fs, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES, workdir: str = "/") -> int:
    """The whole merged tree, refused before anything is written when it holds more than `max_bytes` or
    more than the disk under dest has free."""
    entries = list(fs.walk("/"))
    need = sum(e.size for e in entries if e.kind == FILE)
    dest.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest).free
    if need > max_bytes or need > free:
        raise RootTooLarge(f"observe: the image's files hold {need >> 20} MiB; the limit is {max_bytes >> 20} MiB "
                           f"and {free >> 20} MiB are free under {dest.parent}")
    total = sum(_write(fs, entry, dest) for entry in entries if entry.path != "/")
    for name in (*MOUNT_POINTS, fs.resolve(workdir or "/")):
        _mkdirs(dest, name)
    return total


def _mkdirs(dest: Path, path: str) -> None:
    """mkdir -p inside dest that never goes through a symlink (it could point anywhere on the host)."""
    here = dest
    for part in [p for p in path.split("/") if p and p not in (".", "..")]:
        here = here / part
        if here.is_symlink():
            return
        if not here.exists():
            here.mkdir()
