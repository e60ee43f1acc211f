"""Push a conversion result: OCI layouts as images, anything else as an OCI artifact (oras style).

Blobs first, manifest last: the tag only ever names a manifest whose blobs are all there. Pushing the
same result twice is harmless: blobs are skipped by digest, and a tag that already carries this source
digest and target is left alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from faktory.emitters.base import ImageOut
from faktory.errors import FaktoryError, InvalidImage
from faktory.registry.client import RegistryClient, sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
FILE_MEDIA_TYPE = "application/vnd.faktory.file.v1"
TITLE = "org.opencontainers.image.title"

SOURCE_DIGEST = "dev.faktory.source.digest"
SOURCE_REF = "dev.faktory.source.ref"
TARGET = "dev.faktory.target"

_REF = re.compile(r"^(?P<registry>[^/]+)/(?P<repository>[a-z0-9][a-z0-9._/-]*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$")


class DestinationError(FaktoryError):
    pass


@dataclass(frozen=True)
class Destination:
    registry: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, ref: str) -> "Destination":
        m = _REF.match(ref)
        if not m:
            raise DestinationError(f"destination {ref!r} is not REGISTRY/REPOSITORY:TAG")
        return cls(m["registry"], m["repository"], m["tag"])

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def artifact_type(target: str) -> str:
    return f"application/vnd.faktory.{target}.v1"


def result_annotations(source_name: str, source_ref: str, source_digest: str, target: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.base.digest": source_digest,
        "org.opencontainers.image.base.name": source_name,
        SOURCE_DIGEST: source_digest,
        SOURCE_REF: source_ref,
        TARGET: target,
    }


def already_published(client: RegistryClient, dest: Destination, source_digest: str, target: str) -> str | None:
    """The digest at the destination tag if it already is this source's result for this target."""
    found = client.manifest(dest.repository, dest.tag)
    if found is None:
        return None
    try:
        annotations = json.loads(found.data).get("annotations") or {}
    except ValueError:
        return None
    if annotations.get(SOURCE_DIGEST) == source_digest and annotations.get(TARGET) == target:
        return found.digest
    return None


def retag(client: RegistryClient, previous_ref: str, dest: Destination, source_digest: str, target: str) -> str | None:
    """Put an earlier result of the same conversion under dest's tag, if it lives in dest's repository.

    The manifest is copied byte for byte (same digest); its blobs are already in the repository."""
    name, _, digest = previous_ref.partition("@")
    try:
        previous = Destination.parse(name)
    except DestinationError:
        return None
    if (previous.registry, previous.repository) != (dest.registry, dest.repository) or not digest:
        return None
    found = client.manifest(dest.repository, digest)
    if found is None:
        return None
    annotations = json.loads(found.data).get("annotations") or {}
    if annotations.get(SOURCE_DIGEST) != source_digest or annotations.get(TARGET) != target:
        return None
    return client.put_manifest(dest.repository, dest.tag, found.data, found.media_type)


def is_oci_layout(outdir: Path) -> bool:
    return (outdir / "oci-layout").is_file() and (outdir / "index.json").is_file()


def _serialize(doc: Mapping) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def push_layout(client: RegistryClient, outdir: Path, dest: Destination, annotations: Mapping[str, str]) -> str:
    """Push the image an OCI layout holds (one manifest or index; several become an index) under dest."""
    return client.push_layout(outdir, dest.repository, dest.tag, annotations)


def push_artifact(
    client: RegistryClient, outdir: Path, dest: Destination, target: str, annotations: Mapping[str, str]
) -> str:
    """Push every file of outdir as one layer (title = relative path) under an artifact manifest."""
    files = sorted(p for p in outdir.rglob("*") if p.is_file() and not p.is_symlink())
    if not files:
        raise InvalidImage(f"{outdir} holds no files to publish")
    layers = []
    for path in files:
        digest, size = _file_digest(path)
        client.push_blob(dest.repository, path, digest, size)
        layers.append({"mediaType": FILE_MEDIA_TYPE, "digest": digest, "size": size,
                       "annotations": {TITLE: path.relative_to(outdir).as_posix()}})
    with tempfile.TemporaryDirectory(prefix="faktory-empty-") as tmp:
        empty = Path(tmp) / "config"
        empty.write_bytes(EMPTY_CONFIG)
        config_digest = sha256_digest(EMPTY_CONFIG)
        client.push_blob(dest.repository, empty, config_digest, len(EMPTY_CONFIG))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type(target),
        "config": {"mediaType": EMPTY_CONFIG_TYPE, "digest": config_digest, "size": len(EMPTY_CONFIG)},
        "layers": layers,
        "annotations": dict(annotations),
    }
    return client.put_manifest(dest.repository, dest.tag, _serialize(manifest), OCI_MANIFEST)


def _file_digest(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def image_layout(outdir: Path, image: ImageOut | None = None) -> Path | None:
    """Where a conversion result keeps its OCI image layout, if it is an image at all.

    Emitters that produce images say so in Artifact.image (oci/km images, the unikraft kraftkit package), a
    layout dir relative to outdir; an outdir that is itself a layout counts too.
    """
    if image is not None:
        candidate = (outdir / image.layout).resolve()
        if candidate.is_relative_to(outdir.resolve()) and is_oci_layout(candidate):
            return candidate
    return outdir if is_oci_layout(outdir) else None


def publish(
    client: RegistryClient,
    outdir: Path,
    dest: Destination,
    target: str,
    annotations: Mapping[str, str],
    image: ImageOut | None = None,
) -> str:
    """Images go out as images, everything else as an OCI artifact of type application/vnd.faktory.<target>.v1."""
    layout = image_layout(outdir, image)
    if layout is not None:
        return push_layout(client, layout, dest, annotations)
    return push_artifact(client, outdir, dest, target, annotations)


__all__ = ["Destination", "already_published", "publish", "push_artifact", "push_layout"]
