"""convert(): check, emit into a staging dir, write faktory.json + README, rename into place.

One registry of emitters (name -> Emitter). Blockers stop the conversion unless `force`; forced blockers are
recorded in the manifest. OUTDIR never holds a half-written artifact: everything is written to a sibling
staging dir that is renamed over OUTDIR at the very end.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from faktory.analyzers.model import BLOCKER, Closure, Finding
from faktory.emitters.base import Artifact, EmitOptions, Emitter
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
MANIFEST = "faktory.json"
README = "README.md"


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


def check(closure: Closure, target: str) -> list[Finding]:
    """The target's own check, plus what blocks every target (an entrypoint whose code is missing)."""
    from faktory.emitters.rules import unrunnable

    return unrunnable(closure, target) + list(emitter_for(target).check(closure))


def blockers(findings) -> list[Finding]:
    return [f for f in findings if f.severity == BLOCKER]


def describe(finding: Finding) -> str:
    where = f" ({finding.location})" if finding.location else ""
    return f"{finding.kind}: {finding.message}{where}"


def convert(image: Image, closure: Closure, target: str, outdir: Path, options: EmitOptions | None = None) -> Artifact:
    options = options or EmitOptions()
    emitter = emitter_for(target)
    outdir = Path(outdir).absolute()
    _check_outdir(outdir)
    findings = check(closure, target)
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
        artifact = Artifact(artifact.target, outdir, artifact.files, artifact.run_command.replace(str(staging), str(outdir)),
                            tuple(findings), artifact.extra)
        _write_manifest(staging, outdir, image, artifact, blocking if options.force else [], options,
                        time.monotonic() - started)
        _write_readme(staging, outdir, image, artifact)
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


def _write_manifest(staging: Path, outdir: Path, image: Image, artifact: Artifact, forced: list[Finding],
                    options: EmitOptions, seconds: float) -> None:
    files = _files(staging)
    doc = {
        "faktory": 1,
        "source": {"ref": image.ref, "digest": image.digest, "size": image.size},
        "target": artifact.target,
        "files": files,
        "size": sum(files.values()),
        "run": artifact.run_command,
        "findings": [f.to_dict() for f in artifact.findings],
        "forced_blockers": [f.to_dict() for f in forced],
        "options": {"compact": options.compact, "force": options.force,
                    "kernel": str(options.kernel) if options.kernel else None, "base": options.base_ref},
        "seconds": round(seconds, 3),
    }
    doc.update({k: v for k, v in artifact.extra.items()})
    text = json.dumps(doc, indent=2) + "\n"
    (staging / MANIFEST).write_text(text.replace(str(staging), str(outdir)))


def _write_readme(staging: Path, outdir: Path, image: Image, artifact: Artifact) -> None:
    notes = artifact.extra.get("readme", "")
    lines = [
        f"# {artifact.target} image of {image.ref}",
        "",
        f"Source digest: `{image.digest}`",
        "",
        "Run it:",
        "",
        "```sh",
        artifact.run_command,
        "```",
        "",
    ]
    if notes:
        lines += [str(notes), ""]
    if artifact.findings:
        lines += ["Findings:", ""] + [f"- {f.severity}: {describe(f)}" for f in artifact.findings] + [""]
    lines += ["`faktory.json` lists every file of this directory with its size, and the findings."]
    (staging / README).write_text(("\n".join(lines) + "\n").replace(str(staging), str(outdir)))


def load_manifest(outdir: Path) -> dict:
    path = Path(outdir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FaktoryError(f"{outdir} is not a faktory output (no {MANIFEST})") from None
    except json.JSONDecodeError as exc:
        raise FaktoryError(f"{path}: not valid JSON ({exc})") from None
