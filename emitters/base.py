"""The seam every target implements. Adding a target = adding one module and one registry line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol

from faktory.analyzers.model import Closure, Finding
from faktory.image import Image


@dataclass(frozen=True)
class EmitOptions:
    compact: bool = False
    keep_debug: bool = False  # ship ELF debug sections (stripped by default: lossless for running)
    force: bool = False
    kernel: Path | None = None  # unikraft: kraftkit package kernel; microvm: Linux kernel
    base_ref: str | None = None  # km: the runenv-python base image
    name: str | None = None
    tag: str | None = None  # the output image's NAME:TAG (oci, km); default faktory/<name>:<target>[-compact]-<src>


@dataclass(frozen=True)
class Artifact:
    target: str
    outdir: Path
    files: Mapping[str, int]  # relative path in outdir -> size
    run_command: str
    findings: tuple[Finding, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)


class Emitter(Protocol):
    name: str

    def check(self, closure: Closure) -> list[Finding]:
        """Per-target findings; those with severity BLOCKER stop a conversion unless --force."""

    def emit(self, image: Image, closure: Closure, outdir: Path, options: EmitOptions) -> Artifact:
        """Write the artifact into `outdir` (an empty staging dir; the caller renames it into place)."""
