"""Structural checks: the real tools list exactly the members faktory.json says an output holds."""

from __future__ import annotations

import json
import os
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from faktory.emitters.manifest import OutputManifest


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str = ""
    original: str = ""
    converted: str = ""


def _compare(name: str, expected: list[str], actual: list[str]) -> Check:
    exp, act = set(expected), set(actual)
    if exp == act and len(expected) == len(actual):
        return Check(name, True, f"{len(act)} members", str(len(exp)), str(len(act)))
    missing, extra = sorted(exp - act)[:3], sorted(act - exp)[:3]
    return Check(name, False, f"missing {missing} extra {extra}", str(len(exp)), str(len(act)))


def first_archive(path: Path) -> bytes | None:
    """The first member decompressed when the file starts with a gzip stream (a compressed initramfs)."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return None
        fh.seek(0)
        inflate = zlib.decompressobj(wbits=31)
        parts = []
        while not inflate.eof:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            parts.append(inflate.decompress(chunk))
        return b"".join(parts)


def cpio_members(path: Path) -> list[str]:
    unpacked = first_archive(path)
    if unpacked is not None:
        proc = subprocess.run(["cpio", "-it", "--quiet"], input=unpacked, capture_output=True, check=True)
        return [l for l in proc.stdout.decode("utf-8", "surrogateescape").splitlines() if l]
    with open(path, "rb") as fh:
        proc = subprocess.run(["cpio", "-it", "--quiet"], stdin=fh, capture_output=True, check=True)
    return [l for l in proc.stdout.decode("utf-8", "surrogateescape").splitlines() if l]


def iso_members(path: Path) -> list[str]:
    proc = subprocess.run(["xorriso", "-indev", str(path), "-find", "/"], capture_output=True, check=True)
    out = []
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        line = line.strip()
        if line.startswith("'") and line.endswith("'"):
            name = line[1:-1].replace("'\"'\"'", "'")
            if name != "/":
                out.append(name.lstrip("/"))
    return out


def tree_members(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def last_layer_blob(layout: Path) -> Path:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / digest).read_text())
    return layout / "blobs/sha256" / manifest["layers"][-1]["digest"].split(":")[1]


def tar_members(blob: Path) -> list[str]:
    proc = subprocess.run(["tar", "-tzf", str(blob)], capture_output=True, check=True)
    return [l.rstrip("/") for l in proc.stdout.decode("utf-8", "surrogateescape").splitlines() if l]


def skopeo_layers(ref: str) -> list[str]:
    proc = subprocess.run(["skopeo", "inspect", "--raw", ref], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[:300])
    return [l["digest"] for l in json.loads(proc.stdout).get("layers", [])]


def structural_checks(outdir: Path, manifest: OutputManifest | Mapping) -> list[Check]:
    """Every listed archive compared with what cpio / xorriso / the filesystem show; images read by skopeo."""
    if not isinstance(manifest, OutputManifest):
        manifest = OutputManifest.from_dict(manifest)
    checks = []
    contents = {k: list(v) for k, v in manifest.contents.items()}
    for member, names in contents.items():  # archives and trees in OUTDIR
        path = outdir / member
        if member.endswith(".cpio"):
            checks.append(_compare(f"cpio -t {member}", names, cpio_members(path)))
        elif member.endswith(".iso"):
            checks.append(_compare(f"xorriso -find {member}", names, iso_members(path)))
        elif path.is_dir():
            checks.append(_compare(f"tree {member}", names, tree_members(path)))
    image = manifest.image
    layer_key = next((k for k in ("layer", "app-layer") if k in contents), None)
    if image is not None and layer_key:
        blob = last_layer_blob(outdir / image.layout)
        checks.append(_compare(f"tar -t {layer_key}", contents[layer_key], tar_members(blob)))
    if image is not None:
        try:
            layers = skopeo_layers(f"oci:{outdir / image.layout}")
            checks.append(Check(f"skopeo inspect {image.layout}", bool(layers), f"{len(layers)} layers"))
        except RuntimeError as exc:
            checks.append(Check(f"skopeo inspect {image.layout}", False, str(exc)))
    listed = manifest.files
    bad = [f for f, size in listed.items() if not (outdir / f).is_file() or (outdir / f).stat().st_size != size]
    checks.append(Check("files and sizes in faktory.json", not bad, f"{len(listed)} files" + (f", differ: {bad[:3]}" if bad else "")))
    return checks
