"""The one Image implementation every source returns: immutable metadata plus a lazily merged filesystem."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping, Sequence

from faktory.cache import LayerIndex
from faktory.errors import DigestMismatch, InvalidImage
from faktory.fs import MergedFS
from faktory.image import HistoryEntry, ImageConfig, Layer, Platform
from faktory.sources import manifest as mf


@dataclass(frozen=True)
class LoadedImage:
    ref: str
    digest: str
    platform: Platform
    manifest: Mapping
    raw_config: Mapping
    config: ImageConfig
    history: tuple[HistoryEntry, ...]
    layers: tuple[Layer, ...]
    config_digest: str
    source: str  # "daemon" | "registry" | "docker-archive" | "oci"
    layer_indexes: tuple[LayerIndex, ...] = field(repr=False, compare=False)
    index_digest: str | None = None  # the multi-platform index the manifest was picked from, if any

    @property
    def size(self) -> int:
        return sum(ix.size for ix in self.layer_indexes)

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)

    @cached_property
    def fs(self) -> MergedFS:  # built on first use; frozen dataclasses still allow cached_property
        fs = MergedFS(self.layer_indexes)
        # The merged view now holds what the layer records said: keeping them would double a big layer's cost.
        object.__setattr__(self, "layer_indexes", tuple(ix.summary() for ix in self.layer_indexes))
        return fs


def verify_config(config_bytes: bytes, config_digest: str | None, what: str) -> str:
    got = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    if config_digest is not None and got != config_digest:
        raise DigestMismatch(f"{what}: config blob has digest {got}, expected {config_digest}")
    return got


def _config(raw: Mapping, ref: str):
    try:
        return mf.image_config(raw)
    except InvalidImage as exc:
        raise InvalidImage(f"{ref}: {exc}") from None


def assemble(
    *,
    ref: str,
    digest: str | None,
    source: str,
    manifest: Mapping,
    config_bytes: bytes,
    config_digest: str | None,
    layers: Sequence[Layer],
    indexes: Sequence[LayerIndex],
) -> LoadedImage:
    config_digest = verify_config(config_bytes, config_digest, ref)
    raw = mf.parse_json(config_bytes, f"{ref}: image config")
    ids = mf.diff_ids(raw, ref)
    if len(ids) != len(indexes):
        raise InvalidImage(f"{ref}: config lists {len(ids)} layers, the manifest {len(indexes)}")
    final_layers = []
    for number, (want, layer, ix) in enumerate(zip(ids, layers, indexes)):
        if ix.diff_id != want:
            raise DigestMismatch(f"{ref}: layer {number} has diff_id {ix.diff_id}, the config says {want}")
        final_layers.append(Layer(
            media_type=layer.media_type, digest=layer.digest, diff_id=want, size=layer.size,
            uncompressed_size=ix.size, annotations=dict(layer.annotations),
        ))
    return LoadedImage(
        ref=ref,
        digest=digest or config_digest,
        platform=mf.image_platform(raw),
        manifest=manifest,
        raw_config=raw,
        config=_config(raw, ref),
        history=mf.history(raw, len(final_layers)),
        layers=tuple(final_layers),
        config_digest=config_digest,
        source=source,
        layer_indexes=tuple(indexes),
    )
