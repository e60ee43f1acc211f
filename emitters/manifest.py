"""faktory.json: the one module that writes it (with the README next to it) and reads it back typed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from faktory.analyzers.model import Finding
from faktory.emitters.base import Artifact, Boot, EmitOptions, ImageOut, LaunchOut
from faktory.errors import FaktoryError
from faktory.image import Image

MANIFEST = "faktory.json"
README = "README.md"


@dataclass(frozen=True)
class OutputManifest:
    """faktory.json as the runners and pushers read it; `raw` keeps the whole document."""

    target: str
    files: Mapping[str, int] = field(default_factory=dict)
    run: str = ""
    image: ImageOut | None = None
    boot: Boot | None = None
    launch: LaunchOut | None = None
    contents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    raw: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: Mapping) -> "OutputManifest":
        def typed(key, kind):
            value = doc.get(key)
            return kind.from_dict(value) if isinstance(value, Mapping) else None

        return cls(str(doc.get("target") or ""), dict(doc.get("files") or {}), str(doc.get("run") or ""),
                   typed("image", ImageOut), typed("boot", Boot), typed("launch", LaunchOut),
                   {k: tuple(v) for k, v in (doc.get("contents") or {}).items()},
                   tuple(int(p) for p in doc.get("ports") or ()), dict(doc))


def describe(finding: Finding) -> str:
    where = f" ({finding.location})" if finding.location else ""
    return f"{finding.kind}: {finding.message}{where}"


def manifest_doc(image: Image, artifact: Artifact, files: Mapping[str, int], forced: list[Finding],
                 options: EmitOptions, seconds: float) -> dict:
    doc = {
        "faktory": 1,
        "source": {"ref": image.ref, "digest": image.digest, "size": image.size},
        "target": artifact.target,
        "files": dict(files),
        "size": sum(files.values()),
        "run": artifact.run_command,
        "findings": [f.to_dict() for f in artifact.findings],
        "forced_blockers": [f.to_dict() for f in forced],
        "options": {"compact": options.compact, "force": options.force,
                    "kernel": str(options.kernel) if options.kernel else None, "base": options.base_ref},
        "seconds": round(seconds, 3),
    }
    if artifact.image:
        doc["image"] = artifact.image.to_dict()
    if artifact.boot:
        doc["boot"] = artifact.boot.to_dict()
    if artifact.launch:
        doc["launch"] = artifact.launch.to_dict()
    doc["ports"] = list(artifact.ports)
    doc["contents"] = {k: list(v) for k, v in artifact.contents.items()}
    doc.update(artifact.details)
    return doc


def write_manifest(staging: Path, outdir: Path, image: Image, artifact: Artifact, files: Mapping[str, int],
                   forced: list[Finding], options: EmitOptions, seconds: float) -> None:
    doc = manifest_doc(image, artifact, files, forced, options, seconds)
    old, new = str(staging), str(outdir)
    # Written chunk by chunk (each string value is one chunk, so a path is never split): as one text, the
    # listing of a 200,000-file output would be held three times over (chunks, text, replaced text).
    with open(staging / MANIFEST, "w", encoding="utf-8") as out:
        for chunk in json.JSONEncoder(indent=2).iterencode(doc):
            out.write(chunk.replace(old, new))
        out.write("\n")


def write_readme(staging: Path, outdir: Path, image: Image, artifact: Artifact) -> None:
    lines = [f"# {artifact.target} image of {image.ref}", "", f"Source digest: `{image.digest}`", "", "Run it:", "",
             "```sh", artifact.run_command, "```", ""]
    if artifact.notes:
        lines += [artifact.notes, ""]
    compact_notes = (artifact.details.get("compact") or {}).get("notes") or []
    if compact_notes:
        lines += ["--compact:", ""] + [f"- {note}" for note in compact_notes] + [""]
    if artifact.findings:
        lines += ["Findings:", ""] + [f"- {f.severity}: {describe(f)}" for f in artifact.findings] + [""]
    lines += ["`faktory.json` lists every file of this directory with its size, and the findings."]
    (staging / README).write_text(("\n".join(lines) + "\n").replace(str(staging), str(outdir)))


def load_manifest(outdir: Path) -> dict:
    path = Path(outdir) / MANIFEST
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FaktoryError(f"{outdir} is not a faktory output (no {MANIFEST})") from None
    except json.JSONDecodeError as exc:
        raise FaktoryError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise FaktoryError(f"{path}: not a faktory manifest")
    return doc


def read_manifest(outdir: Path) -> OutputManifest:
    return OutputManifest.from_dict(load_manifest(outdir))
