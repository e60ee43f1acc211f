"""Scratch directories named after their process (<prefix><host>-<pid>[-<random>]), so the ones a killed process
left behind (SIGKILL, an OOM kill, a CI timeout) are found and removed by the next process that makes one,
instead of piling up in the cache for ever."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def _owner_pid(name: str, prefix: str, host: str) -> int | None:
    """The pid in `<prefix><host>-<pid>` or `<prefix><host>-<pid>-<random>`; None for a name not of that shape."""
    if not name.startswith(prefix + host + "-"):
        return None
    pid = name[len(prefix) + len(host) + 1:].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def sweep_dead(root: Path, prefix: str) -> int:
    """Remove `root`'s scratch dirs of `prefix` whose process on this host has ended; how many were removed."""
    host, removed = socket.gethostname(), 0
    try:
        entries = list(root.iterdir())
    except OSError:
        return 0
    for entry in entries:
        pid = _owner_pid(entry.name, prefix, host)
        if pid is not None and pid != os.getpid() and not pid_alive(pid) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def own_dir(root: Path, prefix: str = "") -> Path:
    """This process's long-lived scratch dir under `root` (not created), dead processes' ones swept first."""
    sweep_dead(root, prefix)
    return root / f"{prefix}{socket.gethostname()}-{os.getpid()}"


@contextmanager
def scratch(root: Path, prefix: str) -> Iterator[Path]:
    """A fresh temporary dir under `root`, removed on exit; dead processes' ones of `prefix` are swept first."""
    root.mkdir(parents=True, exist_ok=True)
    sweep_dead(root, prefix)
    with tempfile.TemporaryDirectory(dir=root, prefix=f"{prefix}{socket.gethostname()}-{os.getpid()}-") as tmp:
        yield Path(tmp)
