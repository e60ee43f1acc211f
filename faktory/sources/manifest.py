"""Media types, manifests, image indexes and the config blob: the parts every source shares."""

from __future__ import annotations

import json
import posixpath
from typing import Any, Mapping

from faktory.digests import require
from faktory.errors import ImageNotFound, InvalidImage
from faktory.image import HistoryEntry, ImageConfig, Platform

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)

# Layer media type -> compression. Foreign/non-distributable layers are ordinary tars too.
UNCOMPRESSED_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
LAYER_COMPRESSION = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd": "zstd",
    UNCOMPRESSED_LAYER: "none",
}
DEFAULT_PLATFORM = Platform("linux", "amd64")


def parse_json(data: bytes, what: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidImage(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidImage(f"{what} is not a JSON object")
    return doc


def layer_compression(media_type: str, label: str) -> str:
    try:
        return LAYER_COMPRESSION[media_type]
    except KeyError:
        raise InvalidImage(f"{label}: unknown layer media type {media_type!r}") from None


def media_type_of(doc: Mapping, fallback: str | None = None) -> str:
    mt = doc.get("mediaType") or fallback
    if not mt:  # OCI allows omitting it: tell an index from a manifest by shape
        mt = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    return mt


def descriptor(doc: Any, what: str) -> dict:
    if not isinstance(doc, dict) or not isinstance(doc.get("digest"), str):
        raise InvalidImage(f"{what}: malformed descriptor")
    require(doc["digest"], what)
    annotations = doc.get("annotations")
    if annotations is not None and (not isinstance(annotations, dict)
                                    or not all(isinstance(v, str) for v in annotations.values())):
        raise InvalidImage(f"{what}: annotations must be an object of strings")
    if not isinstance(doc.get("mediaType"), (str, type(None))):
        raise InvalidImage(f"{what}: mediaType must be a string")
    size = doc.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise InvalidImage(f"{what}: size must be a non-negative integer")
    return doc


def platform_of(desc: Mapping) -> Platform | None:
    p = desc.get("platform")
    if not isinstance(p, dict) or not p.get("os") or not p.get("architecture"):
        return None
    if not all(isinstance(p.get(k), str) for k in ("os", "architecture")) or \
            not isinstance(p.get("variant") or "", str):
        raise InvalidImage("index entry: platform fields must be strings")
    return Platform(p["os"], p["architecture"], p.get("variant") or None)


def platform_matches(have: Platform, want: Platform) -> bool:
    if (have.os, have.architecture) != (want.os, want.architecture):
        return False
    if want.variant is None:
        return True
    return (have.variant or _default_variant(have.architecture)) == want.variant


def _default_variant(arch: str) -> str | None:
    return {"arm64": "v8", "arm": "v7"}.get(arch)


def select_platform(index: Mapping, want: Platform | None, ref: str) -> dict:
    """The manifest descriptor of `index` for the wanted platform, or an error naming those available."""
    want = want or DEFAULT_PLATFORM
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        raise InvalidImage(f"{ref}: image index has no manifest list")
    available = []
    for raw in manifests:
        desc = descriptor(raw, f"{ref}: index entry")
        plat = platform_of(desc)
        if plat is None or plat.os == "unknown":
            continue  # attestation manifests (buildx) carry unknown/unknown
        available.append(str(plat))
        if platform_matches(plat, want):
            return desc
    listing = ", ".join(sorted(set(available))) or "none"
    raise ImageNotFound(f"{ref}: no image for platform {want} (available: {listing})")


def image_config(raw: Mapping) -> ImageConfig:
    """The OCI config object, each field of the type the spec gives it, or InvalidImage naming the field."""
    cfg = raw.get("config") or {}
    if not isinstance(cfg, dict):
        raise InvalidImage("image config: 'config' is not an object")

    def wrong(key: str, want: str):
        return InvalidImage(f"image config: config.{key} must be {want}, not {type(cfg[key]).__name__}")

    def strings(key: str) -> tuple[str, ...] | None:
        value = cfg.get(key)
        if value is None:
            return None
        if isinstance(value, str):  # Docker accepts a plain string for Entrypoint/Cmd
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong(key, "a list of strings")
        return tuple(value)

    def text(key: str) -> str:
        value = cfg.get(key)
        if value is not None and not isinstance(value, str):
            raise wrong(key, "a string")
        return value or ""

    def mapping(key: str) -> dict:
        value = cfg.get(key)
        if value is not None and not isinstance(value, dict):
            raise wrong(key, "an object")
        return value or {}

    labels = mapping("Labels")
    if not all(isinstance(v, str) for v in labels.values()):
        raise InvalidImage("image config: config.Labels values must be strings")
    return ImageConfig(
        env=strings("Env") or (),
        entrypoint=strings("Entrypoint"),
        cmd=strings("Cmd"),
        working_dir=text("WorkingDir"),
        user=text("User"),
        exposed_ports=tuple(sorted(mapping("ExposedPorts"))),
        labels=dict(labels),
        stop_signal=text("StopSignal") or None,
        volumes=tuple(sorted({posixpath.normpath("/" + v.strip().lstrip("/")) for v in mapping("Volumes")
                              if isinstance(v, str) and v.strip().strip("/")})),
    )


def image_platform(raw: Mapping) -> Platform:
    fields = [raw.get(k) or None for k in ("os", "architecture", "variant")]
    if not all(f is None or isinstance(f, str) for f in fields):
        raise InvalidImage("image config: os, architecture and variant must be strings")
    return Platform(fields[0] or "linux", fields[1] or "amd64", fields[2])


def diff_ids(raw: Mapping, what: str) -> tuple[str, ...]:
    rootfs = raw.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidImage(f"{what}: config has no rootfs.diff_ids")
    for number, diff_id in enumerate(ids):
        require(diff_id, f"{what}: rootfs.diff_ids[{number}]")
    return tuple(ids)


def history(raw: Mapping, layer_count: int) -> tuple[HistoryEntry, ...]:
    """History steps, each non-empty one matched to the layer it made (in order, like `docker history`)."""
    out = []
    next_layer = 0
    steps = raw.get("history") or []  # absent or null: no history (a list, so the type check below holds)
    if not isinstance(steps, list):
        raise InvalidImage("image config: history must be a list")
    for step in steps:
        if not isinstance(step, dict):
            continue
        if not all(isinstance(step.get(k), (str, type(None))) for k in ("created", "created_by", "comment")):
            raise InvalidImage("image config: history fields created, created_by and comment must be strings")
        empty = bool(step.get("empty_layer"))
        index = None
        if not empty and next_layer < layer_count:
            index = next_layer
            next_layer += 1
        out.append(HistoryEntry(
            created=step.get("created"), created_by=step.get("created_by") or "", comment=step.get("comment"),
            empty_layer=empty, layer_index=index,
        ))
    return tuple(out)
