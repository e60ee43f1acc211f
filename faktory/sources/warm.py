"""A warm registry load in one request: HEAD the manifest, take everything else from the cache.

A tag can move, so every load asks the registry what the tag names now. When the answer is a digest whose
manifest (or index), config and layers are all cached, that HEAD is the whole conversation, and the standard
library's http.client makes it: importing oras-py and requests alone takes longer than the rest of a warm
load. A digest reference needs no request at all. A HEAD is what registries expect for "has this changed"
(Docker Hub does not count it as a pull).

Anything else returns None and the caller takes the full path through oras-py: a registry that wants a
login (auth stays oras-py's), a proxy in the environment, an answer without Docker-Content-Digest, a network
error (the full path retries and words it), or a digest something of which is not cached.
"""

from __future__ import annotations

import http.client
import os
from typing import BinaryIO

from faktory.cache import LayerCache
from faktory.digests import is_digest
from faktory.image import Platform
from faktory.sources import manifest as mf
from faktory.sources.distribution import load_from_manifest
from faktory.sources.loaded import LoadedImage
from faktory.sources.reference import DEFAULT_REGISTRY, RegistryRef

HEAD_TIMEOUT = 5.0  # the full path has its own, longer timeouts and retries


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


def load_warm(ref: RegistryRef, cache: LayerCache, platform: Platform | None) -> LoadedImage | None:
    if ref.digest is None and not cache.holds_manifests():
        return None  # a fresh cache: the HEAD could not help
    digest = ref.digest or _head_digest(ref)
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


def _proxied() -> bool:
    return any(key.lower().endswith("_proxy") and key.lower() != "no_proxy" and value
               for key, value in os.environ.items())


def _head_digest(ref: RegistryRef) -> str | None:
    """What the tag names now, if the registry says so to an anonymous HEAD."""
    from faktory.sources.registry import plain_http

    if ref.host == DEFAULT_REGISTRY or _proxied():
        return None  # Docker Hub always wants a token; a proxy is requests' business
    conn: http.client.HTTPConnection
    if plain_http(ref.host):
        conn = http.client.HTTPConnection(ref.host, timeout=HEAD_TIMEOUT)
    else:
        conn = http.client.HTTPSConnection(ref.host, timeout=HEAD_TIMEOUT)
    try:
        conn.request("HEAD", f"/v2/{ref.repository}/manifests/{ref.reference}",
                     headers={"Accept": ", ".join(mf.ACCEPT)})
        resp = conn.getresponse()
        resp.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    digest = resp.getheader("Docker-Content-Digest") or ""
    if resp.status != 200 or not is_digest(digest):
        return None
    return digest
