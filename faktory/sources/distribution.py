"""What the registry and the OCI layout share: manifest (or index) -> config -> layers, every blob verified."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from typing import BinaryIO, Protocol

from faktory.cache import LayerCache, LayerIndex
from faktory.digests import require
from faktory.errors import DigestMismatch, ImageNotFound, InvalidImage
from faktory.image import Layer, Platform
from faktory.registry.limits import ENV, Limits
from faktory.sources import manifest as mf
from faktory.sources.loaded import LoadedImage, assemble

MAX_INDEX_DEPTH = 4


class BlobStore(Protocol):
    # True for blobs read in place (an OCI layout): they are checked against their digests even when the
    # cache already holds a verified copy, since anyone may have edited the files since.
    local: bool = False

    def fetch_manifest(self, digest: str) -> tuple[bytes, str | None]:
        """Manifest bytes and the media type the store reports (None if it does not say)."""

    def open_blob(self, digest: str) -> BinaryIO: ...


def check_digest(data: bytes, digest: str, what: str) -> None:
    require(digest, what)
    got = "sha256:" + hashlib.sha256(data).hexdigest()
    if got != digest:
        raise DigestMismatch(f"{what}: content has digest {got}, expected {digest}")


def verify_blob(store: BlobStore, digest: str, label: str) -> None:
    """Hash a blob as the store holds it (about 1 GB/s) and compare it with its descriptor's digest."""
    h = hashlib.sha256()
    with store.open_blob(digest) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    if "sha256:" + h.hexdigest() != digest:
        raise DigestMismatch(f"{label}: blob content has digest sha256:{h.hexdigest()}, the manifest says {digest}")


def read_json_blob(store: BlobStore, digest: str, what: str) -> bytes:
    cap = Limits.from_env().config
    with store.open_blob(digest) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise InvalidImage(f"{what} {digest} is over the {cap} byte cap (${ENV['config'][0]})")
    check_digest(data, digest, what)
    return data


def resolve_manifest(
    store: BlobStore, data: bytes, media_type: str | None, platform: Platform | None, ref: str,
    cache: LayerCache | None = None,
) -> tuple[bytes, dict, str | None]:
    """Follow image indexes down to one image manifest. Returns (bytes, parsed, digest of the top index).

    With a cache, every manifest and index passed through is kept by digest (see faktory.sources.warm).
    """
    index_digest = None
    for _ in range(MAX_INDEX_DEPTH):
        doc = mf.parse_json(data, f"{ref}: manifest")
        mt = mf.media_type_of(doc, media_type)
        if cache is not None and (mt in mf.INDEX_TYPES or mt in mf.MANIFEST_TYPES):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if cache.get_manifest(digest) is None:
                cache.put_manifest(digest, data)
        if mt in mf.INDEX_TYPES:
            if index_digest is None:
                index_digest = "sha256:" + hashlib.sha256(data).hexdigest()
            desc = mf.select_platform(doc, platform, ref)
            data, media_type = store.fetch_manifest(desc["digest"])
            check_digest(data, desc["digest"], f"{ref}: manifest")
            media_type = desc.get("mediaType") or media_type
            continue
        if mt in mf.MANIFEST_TYPES:
            return data, doc, index_digest
        raise InvalidImage(f"{ref}: unknown manifest media type {mt!r}")
    raise InvalidImage(f"{ref}: image indexes nested too deep")


def load_from_manifest(
    store: BlobStore,
    data: bytes,
    media_type: str | None,
    *,
    ref: str,
    source: str,
    cache: LayerCache,
    platform: Platform | None,
) -> LoadedImage:
    data, doc, index_digest = resolve_manifest(store, data, media_type, platform, ref, cache)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    config_desc = mf.descriptor(doc.get("config"), f"{ref}: manifest config")
    config_type = config_desc.get("mediaType")
    if config_type in mf.LAYER_COMPRESSION or config_type in mf.ACCEPT:
        raise InvalidImage(f"{ref}: the manifest's config has media type {config_type!r}, which is not a config")
    config_digest = config_desc["digest"]
    local = getattr(store, "local", False)
    config_bytes = None if local else cache.get_config(config_digest)
    if config_bytes is None:
        config_bytes = read_json_blob(store, config_digest, f"{ref}: config blob")
        cache.put_config(config_digest, config_bytes)
    raw_config = mf.parse_json(config_bytes, f"{ref}: image config")
    if platform is not None and index_digest is None:  # a single-platform image must still be the one asked for
        have = mf.image_platform(raw_config)
        if not mf.platform_matches(have, platform):
            raise ImageNotFound(f"{ref}: no image for platform {platform} (available: {have})")
    want_ids = mf.diff_ids(raw_config, ref)
    descs = doc.get("layers")
    if not isinstance(descs, list):
        raise InvalidImage(f"{ref}: manifest has no layer list")
    if len(descs) != len(want_ids):
        raise InvalidImage(f"{ref}: manifest lists {len(descs)} layers, the config {len(want_ids)}")
    jobs = []
    for number, (raw_desc, diff_id) in enumerate(zip(descs, want_ids)):
        desc = mf.descriptor(raw_desc, f"{ref}: layer {number}")
        label = f"{ref}: layer {number} ({desc['digest']})"
        media = desc.get("mediaType") or mf.UNCOMPRESSED_LAYER
        jobs.append((desc, diff_id, label, media, mf.layer_compression(media, label)))

    def fetch(job) -> LayerIndex:
        desc, diff_id, label, _media, compression = job
        ix = cache.get(diff_id)
        if ix is not None and local:
            verify_blob(store, desc["digest"], label)
        if ix is None:
            with cache.lock(diff_id):
                ix = cache.get(diff_id)
                if ix is None:
                    with store.open_blob(desc["digest"]) as fh:
                        ix = cache.ingest(fh, label=label, compression=compression, blob_digest=desc["digest"],
                                          diff_id=diff_id)
        return ix

    indexes = in_parallel(fetch, jobs)
    layers = [Layer(media_type=media, digest=desc["digest"], diff_id=diff_id, size=int(desc.get("size") or 0),
                    uncompressed_size=ix.size, annotations=dict(desc.get("annotations") or {}))
              for (desc, diff_id, _label, media, _c), ix in zip(jobs, indexes)]
    image = assemble(ref=ref, digest=digest, source=source, manifest=doc, config_bytes=config_bytes,
                     config_digest=config_digest, layers=layers, indexes=indexes)
    return _with_index(image, index_digest)


def layer_workers(count: int) -> int:
    """Layers fetched at once: one per core (inflating, hashing and writing release the GIL)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(count, cores))


def in_parallel(fn, jobs: list) -> list:
    """fn over jobs on up to layer_workers() daemon threads, results in order. The first failure in job order
    is raised, once the jobs before it have ended, as a loop would; a Ctrl-C leaves at once (daemon threads
    die with the process, and each layer's temp file is dropped by the layer cache's own cleanup)."""
    if layer_workers(len(jobs)) <= 1:
        return [fn(job) for job in jobs]
    results: list = [None] * len(jobs)
    errors: list[BaseException | None] = [None] * len(jobs)
    done = [threading.Event() for _ in jobs]
    todo = iter(range(len(jobs)))
    take = threading.Lock()
    stop = threading.Event()  # a failure or the caller leaving: start no further job

    def worker() -> None:
        while True:
            with take:
                i = next(todo, None)
            if i is None or stop.is_set():
                return
            try:
                results[i] = fn(jobs[i])
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                errors[i] = exc
                stop.set()
            finally:
                done[i].set()

    for _ in range(layer_workers(len(jobs))):
        threading.Thread(target=worker, daemon=True).start()
    try:
        for i, event in enumerate(done):
            while not event.wait(0.5):  # a timed wait keeps the caller's thread open to Ctrl-C
                pass
            if errors[i] is not None:
                raise errors[i]
    finally:
        stop.set()
    return results


def _with_index(image: LoadedImage, index_digest: str | None) -> LoadedImage:
    if index_digest is None:
        return image
    return dataclasses.replace(image, index_digest=index_digest)

