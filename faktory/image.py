"""The read-only Image every source returns, and the merged filesystem view over its layers.

Modelled on go-containerregistry's v1.Image: small immutable values, one Protocol. Sources live in
faktory/sources/ (daemon, registry, archive, layout) and all return an object satisfying `Image`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Mapping, Protocol, runtime_checkable

# Entry kinds of the merged filesystem.
FILE, DIR, SYMLINK, CHAR, BLOCK, FIFO = "file", "dir", "symlink", "char", "block", "fifo"


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> "Platform":
        parts = text.split("/")
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise ValueError(f"platform must be os/arch[/variant], got {text!r}")
        return cls(*parts)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of the image config (OCI `config` object), normalised."""

    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()  # "8080/tcp"
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str | None = None
    volumes: tuple[str, ...] = ()  # absolute, normalised: docker run mounts a volume there, seeded from the image

    @property
    def env_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    @property
    def argv(self) -> tuple[str, ...]:
        """What `docker run IMAGE` executes: Entrypoint + Cmd."""
        return tuple(self.entrypoint or ()) + tuple(self.cmd or ())


@dataclass(frozen=True)
class HistoryEntry:
    created: str | None
    created_by: str
    comment: str | None
    empty_layer: bool
    layer_index: int | None  # index into Image.layers, None for empty_layer steps


@dataclass(frozen=True)
class Layer:
    media_type: str
    digest: str  # of the blob as stored (compressed)
    diff_id: str  # of the uncompressed tar
    size: int  # blob size
    uncompressed_size: int | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)  # one per path: slots halve it on images with 100,000s of files
class Entry:
    """One path of the merged filesystem (after whiteouts). Paths are absolute, normalised, no trailing '/'."""

    path: str
    kind: str  # FILE | DIR | SYMLINK | CHAR | BLOCK | FIFO
    mode: int  # permission bits (0o7777)
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: str = ""  # symlink target as written in the layer
    layer: int = -1  # index of the layer that provided this entry's content
    devmajor: int = 0
    devminor: int = 0
    offset: int = 0  # where a file's bytes start in its layer's tar (the merged view reads them from there)

    @property
    def is_file(self) -> bool:
        return self.kind == FILE

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR

    @property
    def is_symlink(self) -> bool:
        return self.kind == SYMLINK


@runtime_checkable
class FileSystem(Protocol):
    """Merged view of all layers. All paths are resolved inside the image root, never on the host."""

    def entry(self, path: str) -> Entry | None:
        """The entry at `path` itself (a symlink is returned as a symlink); intermediate dir symlinks are followed."""

    def resolve(self, path: str) -> str:
        """Follow every symlink of `path` inside the image root; raises SymlinkLoop. Result may not exist."""

    def stat(self, path: str) -> Entry | None:
        """Like os.stat: the entry `path` finally points at, or None."""

    def read_bytes(self, path: str) -> bytes: ...

    def open(self, path: str) -> BinaryIO: ...

    def listdir(self, path: str) -> list[str]:
        """Names (not paths) directly under a directory, following symlinks to it."""

    def walk(self, top: str = "/") -> Iterator[Entry]:
        """Every entry at or under `top`, parents before children."""

    def shadowed(self) -> Iterator[Entry]:
        """Entries of earlier layers hidden in the merged view (overwritten or deleted by a later layer).

        What dive calls wasted space; the audit sums their sizes.
        """


@runtime_checkable
class Image(Protocol):
    ref: str  # what the user asked for, normalised ("docker-archive:/x.tar", "127.0.0.1:5000/app:1", ...)
    digest: str  # manifest digest ("sha256:…"); for daemon/archive images, the image id if no manifest digest
    platform: Platform
    manifest: Mapping
    raw_config: Mapping  # the config blob as parsed JSON
    config: ImageConfig
    history: tuple[HistoryEntry, ...]
    layers: tuple[Layer, ...]
    fs: FileSystem

    @property
    def size(self) -> int:
        """Sum of the uncompressed layer sizes."""
