"""Where the fleet comes from: refs given by hand, a file of refs, a registry (catalog/tags), the local engine."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from faktory.errors import FaktoryError, SourceUnavailable


def refs_from_file(path: Path) -> list[str]:
    """One ref per line; blank lines and `#` comments ignored."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise FaktoryError(f"cannot read ref file {path}: {exc.strerror or exc}") from exc
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def refs_from_daemon() -> list[str]:
    """Every tagged image of the local engine, as `repo:tag` (untagged `<none>` images are skipped)."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        images = client.images.list()
    except DockerException as exc:
        raise SourceUnavailable(f"docker daemon not reachable: {exc}") from exc
    refs = []
    for image in images:
        refs.extend(tag for tag in image.tags if not tag.startswith("<none>"))
    return sorted(set(refs))


def dedupe(refs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(refs))
