"""The seam every target implements. Adding a target = adding one module and one registry line.

An emitter says what it can do (`Capabilities`) so nothing outside emitters/ tests a target's name, and
returns a typed `Artifact`: the image it wrote, how it boots, how it launches, what each archive holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

from faktory.analyzers.model import Closure, Finding
from faktory.analyzers.runas import RunAs

if TYPE_CHECKING:
    from faktory.image import Image

# How an output is run (Capabilities.run): the runner picks the first one it has what it needs for.
RUN_DOCKER = "docker"  # an OCI image for the Docker engine
RUN_LINUX = "linux"  # the initrd under a Linux kernel with faktory's init (QEMU)
RUN_ELFLOADER = "elfloader"  # the initrd in a Unikraft ELF-loader kernel given with --kernel (QEMU)
RUN_NANOS = "nanos"  # a disk made by Nanos' own mkfs from an OPS installation (QEMU)

PUSH_IMAGE = "image"  # always an OCI image layout
PUSH_WITH_KERNEL = "with-kernel"  # an OCI package only when --kernel was given


@dataclass(frozen=True)
class Capabilities:
    push: str | None = None  # PUSH_IMAGE | PUSH_WITH_KERNEL | None
    run: tuple[str, ...] = ()  # RUN_* in order of preference
    options: tuple[str, ...] = ()  # the EmitOptions fields the target reads (beyond compact/force/name)
    provided_paths: tuple[str, ...] = ()  # paths the runtime makes itself: an output must not carry them

    def pushable(self, options: "EmitOptions") -> bool:
        return self.push == PUSH_IMAGE or (self.push == PUSH_WITH_KERNEL and options.kernel is not None)


@dataclass(frozen=True)
class EmitOptions:
    compact: bool = False
    keep_debug: bool = False  # ship ELF debug sections (stripped by default: lossless for running)
    force: bool = False
    kernel: Path | None = None  # unikraft: kraftkit package kernel; microvm: Linux kernel
    base_ref: str | None = None  # km: the runenv-python base image's reference (recorded)
    name: str | None = None
    tag: str | None = None  # the output image's NAME:TAG (oci, km); default faktory/<name>:<target>[-compact]-<src>
    base: "Image | None" = None  # km: that base, loaded by the caller (like mutate.Rebase's newBase)


@dataclass(frozen=True)
class ImageOut:
    """An OCI image layout in the output: what `--push` and the runners take."""

    layout: str  # dir relative to the output
    tag: str
    digest: str  # manifest digest
    archive: str | None = None  # a `docker load` tarball next to it
    compressed_size: int = 0

    def to_dict(self) -> dict:
        doc = {"tag": self.tag, "manifest_digest": self.digest, "layout": self.layout}
        if self.archive:
            doc["archive"] = self.archive
        if self.compressed_size:
            doc["compressed_size"] = self.compressed_size
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping) -> "ImageOut":
        return cls(doc["layout"], doc.get("tag", ""), doc.get("manifest_digest", ""), doc.get("archive"),
                   int(doc.get("compressed_size") or 0))


@dataclass(frozen=True)
class Boot:
    """What QEMU boots: files relative to the output (kernel None: the runner brings one)."""

    initrd: str
    cmdline: str
    memory_mb: int
    kernel: str | None = None

    def to_dict(self) -> dict:
        return {"kernel": self.kernel, "initrd": self.initrd, "cmdline": self.cmdline, "memory_mb": self.memory_mb}

    @classmethod
    def from_dict(cls, doc: Mapping) -> "Boot":
        return cls(doc["initrd"], doc.get("cmdline", ""), int(doc.get("memory_mb") or 512), doc.get("kernel"))


@dataclass(frozen=True)
class LaunchOut:
    """How the app starts in the output; `entrypoint` gives `run -- ARGS` docker run semantics."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    workdir: str = "/"
    entrypoint: tuple[str, ...] = ()
    user: RunAs | None = None  # the image's non-root USER, where the target has users (a Linux microVM)
    hostname: str = ""  # the VM's host name (a Linux microVM), like a container's id

    def to_dict(self) -> dict:
        doc = {"argv": list(self.argv), "env": dict(self.env), "workdir": self.workdir,
               "entrypoint": list(self.entrypoint)}
        if self.user is not None:
            doc["user"] = {"uid": self.user.uid, "gid": self.user.gid, "groups": list(self.user.groups),
                           "home": self.user.home, "spec": self.user.spec}
        if self.hostname:
            doc["hostname"] = self.hostname
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping) -> "LaunchOut":
        user = doc.get("user")
        run_as = None
        if isinstance(user, Mapping):
            run_as = RunAs(int(user.get("uid") or 0), int(user.get("gid") or 0),
                           tuple(int(g) for g in user.get("groups") or ()), str(user.get("home") or "/"),
                           str(user.get("spec") or ""))
        return cls(tuple(doc.get("argv") or ()), dict(doc.get("env") or {}), doc.get("workdir") or "/",
                   tuple(doc.get("entrypoint") or ()), run_as, str(doc.get("hostname") or ""))


@dataclass(frozen=True)
class Artifact:
    target: str
    outdir: Path
    files: Mapping[str, int]  # relative path in outdir -> size
    run_command: str
    findings: tuple[Finding, ...] = ()
    image: ImageOut | None = None
    boot: Boot | None = None
    launch: LaunchOut | None = None
    contents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # archive/tree -> member names
    ports: tuple[int, ...] = ()
    notes: str = ""  # more README text
    details: Mapping[str, object] = field(default_factory=dict)  # target-specific, recorded in faktory.json


class Emitter(Protocol):
    name: str
    capabilities: Capabilities

    def validate(self, image: "Image", options: EmitOptions) -> None:
        """Refuse options that cannot work (one FaktoryError) before any analysis is spent."""

    def check(self, closure: Closure, options: EmitOptions = EmitOptions()) -> list[Finding]:
        """Per-target findings; those with severity BLOCKER stop a conversion unless --force."""

    def emit(self, image: "Image", closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        """Write the artifact into `outdir` (an empty staging dir; the caller renames it into place)."""
