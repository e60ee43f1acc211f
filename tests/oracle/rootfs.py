"""Image roots on the host: a container's filesystem via `docker export` (the engine's view, independent of
faktory's merged filesystem), and a closure written out from image.fs (the product's writer)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from faktory.observe.rootfs import materialise as _materialise
from faktory.observe.sandbox import give_to_sandbox

__all__ = ["export_image", "materialise"]


def materialise(fs, paths, dest: Path) -> int:
    """A closure written out, owned by the sandbox's uid (as a container's root owns its files)."""
    total = _materialise(fs, paths, dest)
    give_to_sandbox(dest)
    return total


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
    give_to_sandbox(dest)  # the container's root owned these; in the sandbox, its own uid 0 does
    return dest
