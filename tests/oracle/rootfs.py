"""Image roots on the host: a container's filesystem via `docker export`, and a closure written out from image.fs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from faktory.image import DIR, FILE, SYMLINK


def export_image(tag: str, dest: Path) -> Path:
    """`docker create` + `docker export` of `tag`, extracted into dest (as root: owners and modes kept)."""
    dest.mkdir(parents=True, exist_ok=True)
    cid = subprocess.run(["docker", "create", tag], capture_output=True, text=True, check=True).stdout.strip()
    try:
        exporter = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(dest), "--numeric-owner"], stdin=exporter.stdout, check=True)
        exporter.wait()
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    return dest


def materialise(fs, paths: list[str], dest: Path) -> int:
    """Write `paths` (parents first) from the image filesystem into dest; returns bytes of regular files."""
    total = 0
    dest.mkdir(parents=True, exist_ok=True)
    for path in paths:
        entry = fs.entry(path)
        if entry is None:
            continue
        host = dest / path.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == DIR:
            host.mkdir(exist_ok=True)
            os.chmod(host, entry.mode or 0o755)
        elif entry.kind == SYMLINK:
            if not host.is_symlink():
                os.symlink(entry.linkname, host)
        elif entry.kind == FILE:
            data = fs.read_bytes(path)
            host.write_bytes(data)
            os.chmod(host, entry.mode or 0o644)
            total += len(data)
    return total
