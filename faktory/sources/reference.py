"""Parse image references into the source that serves them.

    docker-archive:PATH[:NAME:TAG|:@N]    a `docker save` tarball
    oci:DIR[:REF]                         an OCI image layout directory (REF: a ref.name, `faktory/app:oci`)
    oci-archive:PATH[:TAG]                the same, packed in a tar
    docker-daemon:NAME[:TAG]              the local engine only
    docker://HOST[:PORT]/REPO[:TAG|@sha256:…]   a registry
    [HOST[:PORT]/]REPO[:TAG|@…]           the local engine, then the registry it names (like `docker run`)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from faktory.errors import ReferenceError_

DEFAULT_REGISTRY = "docker.io"
_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class RegistryRef:
    host: str  # "127.0.0.1:5000", "docker.io"
    repository: str  # "fixtures/flask", "library/python"
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes after /manifests/ in the distribution API."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else f":{self.tag or 'latest'}"
        return f"{self.host}/{self.repository}{suffix}"


@dataclass(frozen=True)
class DaemonRef:
    name: str  # as the engine knows it: "faktory-fixture/flask:latest", "sha256:…"
    registry: RegistryRef | None  # where a bare name falls back to; None for docker-daemon:

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ArchiveRef:
    path: str
    selector: str | None = None

    def __str__(self) -> str:
        return f"docker-archive:{self.path}" + (f":{self.selector}" if self.selector else "")


@dataclass(frozen=True)
class LayoutRef:
    path: str
    tag: str | None = None
    archive: bool = False  # oci-archive: the layout packed in a tar

    def __str__(self) -> str:
        return f"{'oci-archive' if self.archive else 'oci'}:{self.path}" + (f":{self.tag}" if self.tag else "")


Reference = RegistryRef | DaemonRef | ArchiveRef | LayoutRef


def _looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_docker_ref(text: str, original: str | None = None) -> RegistryRef:
    """Docker's NAME[:TAG][@DIGEST] with docker.io/library defaults."""
    shown = original or text
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ReferenceError_(f"invalid digest in image reference {shown!r}")
    parts = rest.split("/")
    if len(parts) > 1 and _looks_like_host(parts[0]):
        host, path = parts[0], "/".join(parts[1:])
    else:
        host, path = DEFAULT_REGISTRY, rest
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ReferenceError_(f"invalid tag {tag!r} in image reference {shown!r}")
    if not path or not _REPO.match(path):
        raise ReferenceError_(f"invalid repository name in image reference {shown!r}")
    if host == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if tag is None and digest is None:
        tag = "latest"
    return RegistryRef(host=host, repository=path, tag=tag, digest=digest)


def _split_existing(rest: str, exists) -> tuple[str, str | None]:
    """PATH[:SUFFIX] where PATH may itself contain ':' — the longest existing prefix wins."""
    if exists(rest):
        return rest, None
    positions = [i for i, c in enumerate(rest) if c == ":"]
    for i in reversed(positions):
        if exists(rest[:i]):
            return rest[:i], rest[i + 1:] or None
    if positions:
        i = positions[0]
        return rest[:i], rest[i + 1:] or None
    return rest, None


def parse(text: str) -> Reference:
    text = text.strip()
    if not text:
        raise ReferenceError_("empty image reference")
    if text.startswith("docker-archive:"):
        path, selector = _split_existing(text[len("docker-archive:"):], os.path.isfile)
        if not path:
            raise ReferenceError_(f"docker-archive reference without a path: {text!r}")
        return ArchiveRef(path=path, selector=selector)
    if text.startswith("oci-archive:"):
        path, tag = _split_existing(text[len("oci-archive:"):], os.path.isfile)
        if not path:
            raise ReferenceError_(f"oci-archive reference without a path: {text!r}")
        return LayoutRef(path=path, tag=tag, archive=True)
    if text.startswith("oci:"):
        rest = text[len("oci:"):]
        # As skopeo reads it: DIR, then the ref name, which may hold '/' and ':' (`faktory/flask:oci`).
        path, tag = _split_existing(rest, os.path.isdir)
        if not path:
            raise ReferenceError_(f"oci reference without a directory: {text!r}")
        return LayoutRef(path=path, tag=tag)
    if text.startswith("docker-daemon:"):
        name = text[len("docker-daemon:"):]
        if not name:
            raise ReferenceError_(f"docker-daemon reference without a name: {text!r}")
        if not _DIGEST.match(name):
            parse_docker_ref(name, text)  # validate
        return DaemonRef(name=name, registry=None)
    if text.startswith("docker://"):
        return parse_docker_ref(text[len("docker://"):], text)
    if "://" in text or text.split(":", 1)[0] in ("dir", "containers-storage"):
        raise ReferenceError_(
            f"unsupported image reference {text!r} (use NAME[:TAG], docker://…, docker-daemon:…, docker-archive:PATH, "
            "oci:DIR, oci-archive:PATH)"
        )
    if _DIGEST.match(text):
        return DaemonRef(name=text, registry=None)
    # Like `docker run`: the local engine first, then the registry the name points at.
    return DaemonRef(name=text, registry=parse_docker_ref(text))
