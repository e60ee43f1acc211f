"""A warm registry load: ask what the tag names now, take everything else from the cache.

A tag can move, so every load sends a HEAD of the manifest (Docker Hub does not count it as a pull). When
the answer is a digest whose manifest (or index), config and layers are all cached, that HEAD (after the
transport's /v2/ ping) is the whole conversation. A digest reference needs no request at all. Anything else
returns None and the caller fetches what is missing.
"""

from __future__ import annotations

from typing import BinaryIO

from faktory.cache import LayerCache
from faktory.image import Platform
from faktory.registry.client import RegistryClient
from faktory.sources.distribution import load_from_manifest
from faktory.sources.loaded import LoadedImage
from faktory.sources.reference import RegistryRef


class _NotCached(Exception):
    pass


class _CacheStore:
    """The BlobStore seam over the cache alone: a miss ends the warm attempt."""

    def __init__(self, cache: LayerCache):
        self.cache = cache

    def fetch_manifest(self, digest: str) -> tuple[bytes, str | None]:
        data = self.cache.get_manifest(digest)
        if data is None:
            raise _NotCached(digest)
        return data, None

    def open_blob(self, digest: str) -> BinaryIO:
        raise _NotCached(digest)


def load_warm(ref: RegistryRef, cache: LayerCache, platform: Platform | None,
              client: RegistryClient) -> LoadedImage | None:
    if ref.digest is None and not cache.holds_manifests():
        return None  # a fresh cache: the HEAD could not help
    digest = ref.digest or client.manifest_digest(ref.repository, ref.reference)
    if digest is None:
        return None
    data = cache.get_manifest(digest)
    if data is None:
        return None
    try:
        return load_from_manifest(_CacheStore(cache), data, None, ref=str(ref), source="registry", cache=cache,
                                  platform=platform)
    except _NotCached:
        return None
