"""Image roots on the host: a container's filesystem via `docker export` (the engine's view, independent of
faktory's merged filesystem), and a closure written out from image.fs (the product's writer)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from faktory.observe.rootfs import materialise

__all__ = ["export_image", "materialise"]


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
