"""convert(): check, emit into a staging dir, write faktory.json + README, rename into place.

One registry of emitters (name -> Emitter). Blockers stop the conversion unless `force`; forced blockers are
recorded in the manifest. OUTDIR never holds a half-written artifact: everything is written to a sibling
staging dir that is renamed over OUTDIR at the very end.
"""

from __future__ import annotations

import errno
import importlib
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from faktory.analyzers.findings import noted, unresolved
from faktory.analyzers.model import BLOCKER, Closure, Finding
from faktory.emitters.base import Artifact, Capabilities, EmitOptions, Emitter
from faktory.emitters.manifest import MANIFEST, README, describe, load_manifest, read_manifest, write_manifest, write_readme
from faktory.emitters.rules import unrunnable
from faktory.errors import ConversionBlocked, FaktoryError
from faktory.image import Image

# target name -> module defining `EMITTER`
REGISTRY = {
    "unikraft": "faktory.emitters.unikraft",
    "km": "faktory.emitters.km",
    "rumprun": "faktory.emitters.rumprun",
    "nanos": "faktory.emitters.nanos",
    "microvm": "faktory.emitters.microvm",
    "oci": "faktory.emitters.oci",
}
ALL_TARGETS = tuple(REGISTRY)
__all__ = ["ALL_TARGETS", "MANIFEST", "README", "REGISTRY", "convert", "check", "describe", "load_manifest",
           "read_manifest", "capabilities", "pushable_targets"]


class UnknownTarget(FaktoryError):
    pass


class OutdirUnwritable(FaktoryError):
    """The -o filesystem refuses the output: full, read-only, a pseudo filesystem, no permission."""


# What writing the output can run into that the user fixes with another -o (or more space).
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


class OutdirInUse(FaktoryError):
    pass


def emitter_for(target: str) -> Emitter:
    if target not in REGISTRY:
        raise UnknownTarget(f"unknown target {target!r} (choose from {', '.join(REGISTRY)})")
    return importlib.import_module(REGISTRY[target]).EMITTER


def capabilities(target: str) -> Capabilities:
    return emitter_for(target).capabilities


def pushable_targets() -> str:
    """How the CLI says which targets --push takes, from the emitters' own declarations."""
    always = [t for t in REGISTRY if capabilities(t).push == "image"]
    kernel = [f"{t} --kernel FILE" for t in REGISTRY if capabilities(t).push == "with-kernel"]
    return ", ".join(f"--to {t}" for t in always + kernel)


def validate(image: Image, target: str, options: EmitOptions) -> None:
    """Options the target cannot work with are refused before the analysis (km without a usable --base)."""
    emitter_for(target).validate(image, options)


def check(closure: Closure, target: str, options: EmitOptions | None = None) -> list[Finding]:
    """The target's own check, plus what blocks every target (an entrypoint whose code is missing)."""
    return unrunnable(closure, target) + list(emitter_for(target).check(closure, options or EmitOptions()))


def blockers(findings) -> list[Finding]:
    return [f for f in findings if f.severity == BLOCKER]


def convert(image: Image, closure: Closure, target: str, outdir: Path, options: EmitOptions | None = None) -> Artifact:
    options = options or EmitOptions()
    emitter = emitter_for(target)
    outdir = Path(outdir).absolute()
    _check_outdir(outdir)
    emitter.validate(image, options)
    findings = check(closure, target, options)
    blocking = blockers(findings)
    if blocking and not options.force:
        reasons = "; ".join(describe(f) for f in blocking)
        raise ConversionBlocked(f"cannot convert to {target}: {len(blocking)} blocker(s): {reasons} (--force emits anyway)")
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".partial", dir=outdir.parent))
    except OSError as exc:
        raise OutdirUnwritable(f"cannot write {outdir}: {exc.strerror or exc}") from None
    started = time.monotonic()
    try:
        artifact = emitter.emit(image, closure, staging, options)
        # what the analysis could not resolve goes with the output too (the notes as well): faktory.json says it
        unsure = tuple(f for f in unresolved(closure.findings) + noted(closure.findings) if f not in findings)
        artifact = replace(artifact, outdir=outdir, findings=tuple(findings) + unsure,
                           run_command=artifact.run_command.replace(str(staging), str(outdir)))
        files = _files(staging)
        write_manifest(staging, outdir, image, artifact, files, blocking if options.force else [], options,
                       time.monotonic() - started)
        write_readme(staging, outdir, image, artifact)
        artifact = replace(artifact, files=files)
        _swap_into_place(staging, outdir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        raise OutdirUnwritable(f"cannot write {outdir}: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return artifact


def _check_outdir(outdir: Path) -> None:
    if outdir.exists() and (not outdir.is_dir() or (any(outdir.iterdir()) and not (outdir / MANIFEST).exists())):
        raise OutdirInUse(f"{outdir} exists and is not an earlier faktory output: choose another -o")


def _swap_into_place(staging: Path, outdir: Path) -> None:
    os.chmod(staging, 0o755)
    if outdir.exists():
        old = outdir.with_name(f".{outdir.name}.old-{os.getpid()}")
        os.rename(outdir, old)
        os.rename(staging, outdir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, outdir)


def _files(staging: Path) -> dict[str, int]:
    out = {}
    for path in sorted(staging.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(staging))] = path.stat().st_size
    return out
