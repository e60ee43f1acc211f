"""Writers for OCI image layouts and `docker save`-style archives (what `oci:` and `docker-archive:` read)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Mapping, Sequence

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Blob:
    digest: str  # "sha256:…" of the bytes as stored
    size: int
    media_type: str
    diff_id: str = ""  # sha256 of the uncompressed tar, for layers
    annotations: Mapping[str, str] = field(default_factory=dict)

    def descriptor(self, **extra) -> dict:
        desc = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            desc["annotations"] = dict(self.annotations)
        desc.update(extra)
        return desc

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


class _Hashing(io.RawIOBase):
    """Counts and hashes what passes through to `inner`."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner, self.sha, self.size = inner, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.inner.write(data)
        return len(data)


class Layout:
    """An OCI image layout directory being written: blobs first, index.json last."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    def blob_path(self, blob: Blob) -> Path:
        return self.root / "blobs" / "sha256" / blob.hex

    def add_bytes(self, data: bytes, media_type: str, annotations: Mapping[str, str] | None = None) -> Blob:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blob = Blob(digest, len(data), media_type, annotations=annotations or {})
        self.blob_path(blob).write_bytes(data)
        return blob

    def add_json(self, doc: Mapping, media_type: str) -> Blob:
        return self.add_bytes(json.dumps(doc, separators=(",", ":")).encode(), media_type)

    def add_layer(self, write_tar: Callable[[BinaryIO], None], *, compress: bool = True,
                  annotations: Mapping[str, str] | None = None) -> Blob:
        """Stream a tar through gzip into a blob, computing digest and diff_id on the way."""
        tmp = self.root / "blobs" / "sha256" / ".incoming"
        with open(tmp, "wb") as raw:
            stored = _Hashing(raw)
            if compress:
                with gzip.GzipFile(fileobj=stored, mode="wb", mtime=0, compresslevel=6) as gz:
                    plain = _Hashing(gz)
                    write_tar(plain)
            else:
                plain = stored
                write_tar(plain)
        blob = Blob("sha256:" + stored.sha.hexdigest(), stored.size, LAYER_GZIP if compress else LAYER_TAR,
                    "sha256:" + plain.sha.hexdigest(), annotations or {})
        os.replace(tmp, self.blob_path(blob))
        return blob

    def add_manifest(self, config: Blob, layers: Sequence[Blob], annotations: Mapping[str, str] | None = None) -> Blob:
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
               "layers": [l.descriptor() for l in layers]}
        if annotations:
            doc["annotations"] = dict(annotations)
        return self.add_json(doc, OCI_MANIFEST)

    def write_index(self, manifests: Sequence[dict], annotations: Mapping[str, str] | None = None) -> None:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(manifests)}
        if annotations:
            doc["annotations"] = dict(annotations)
        (self.root / "index.json").write_text(json.dumps(doc, indent=2))


def created_time(base: Mapping) -> str:
    """$SOURCE_DATE_EPOCH, else the source image's own time: set (never null), and the same bytes for the
    same source, so a rebuild keeps its digest."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
    created = base.get("created")
    return created if isinstance(created, str) and created else "1970-01-01T00:00:00Z"


def image_config(base: Mapping, diff_ids: Sequence[str], history_comment: str) -> dict:
    """An OCI image config: runtime config and platform from `base`, rootfs = the new layers."""
    config = {k: v for k, v in (base.get("config") or {}).items() if v not in (None, [], {})}
    created = created_time(base)
    return {
        "created": created,
        "architecture": base.get("architecture", "amd64"),
        "os": base.get("os", "linux"),
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": created, "created_by": history_comment, "comment": "faktory"} for _ in diff_ids],
    }


def write_oci_image(root: Path, layers_writers: Sequence[Callable[[BinaryIO], None]], base_config: Mapping,
                    ref_name: str, comment: str) -> tuple[Blob, list[Blob]]:
    layout = Layout(root)
    layers = [layout.add_layer(w) for w in layers_writers]
    config = layout.add_json(image_config(base_config, [l.diff_id for l in layers], comment), OCI_CONFIG)
    manifest = layout.add_manifest(config, layers)
    layout.write_index([manifest.descriptor(annotations={"org.opencontainers.image.ref.name": ref_name})])
    return manifest, layers


def write_docker_archive(layout_root: Path, archive: Path, repo_tag: str) -> None:
    """A `docker load`-able tar holding the layout's blobs plus the legacy manifest.json (docker ≥ 25 style)."""
    layout_root = Path(layout_root)
    index = json.loads((layout_root / "index.json").read_text())
    manifest_desc = index["manifests"][0]
    manifest = json.loads((layout_root / "blobs/sha256" / manifest_desc["digest"].split(":")[1]).read_text())
    legacy = [{
        "Config": "blobs/sha256/" + manifest["config"]["digest"].split(":")[1],
        "RepoTags": [repo_tag],
        "Layers": ["blobs/sha256/" + l["digest"].split(":")[1] for l in manifest["layers"]],
    }]
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("oci-layout",):
            tar.add(layout_root / name, arcname=name)
        _add_bytes(tar, "index.json", json.dumps(index).encode())
        for desc in [manifest_desc, manifest["config"], *manifest["layers"]]:
            hexd = desc["digest"].split(":")[1]
            tar.add(layout_root / "blobs/sha256" / hexd, arcname=f"blobs/sha256/{hexd}")
        _add_bytes(tar, "manifest.json", json.dumps(legacy).encode())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
