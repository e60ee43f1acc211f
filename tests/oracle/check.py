"""Compare a static closure with what a traced run touched: recall, size, and a run of the closure alone."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from faktory.image import FILE

EXCLUDED_PREFIXES = ("/proc/", "/sys/", "/dev/")


@dataclass(frozen=True)
class OverriddenImage:
    """The same image with Cmd replaced, as `docker run IMAGE CMD…` does."""

    base: object
    config: object

    def __getattr__(self, name):
        return getattr(self.base, name)


def with_cmd(image, cmd: tuple[str, ...]):
    return OverriddenImage(image, dataclasses.replace(image.config, cmd=tuple(cmd)))


def dynamic_files(fs, paths) -> dict[str, int]:
    """Regular files of the image (symlinks followed) among the traced paths -> size."""
    out: dict[str, int] = {}
    for path in paths:
        if path.startswith(EXCLUDED_PREFIXES) or path in ("/proc", "/sys", "/dev"):
            continue
        try:
            entry = fs.stat(path)
        except Exception:
            continue
        if entry is None or entry.kind != FILE:
            continue
        out[fs.resolve(path)] = entry.size
    return out


def closure_files(closure) -> set[str]:
    return {d["path"] for _, d in closure.file_nodes() if d.get("kind") == FILE}
