"""Registry images: the BlobStore seam over faktory.registry for one repository, then the shared loader.

A tag can move, so each load asks what it names now (faktory.sources.warm); what the cache does not hold
is fetched here, every blob checked against its digest by faktory.sources.distribution.
"""

from __future__ import annotations

from faktory.cache import LayerCache
from faktory.image import Platform
from faktory.registry.auth import Keychain
from faktory.registry.client import RegistryClient
from faktory.registry.transport import BlobStream
from faktory.sources.distribution import load_from_manifest
from faktory.sources.loaded import LoadedImage
from faktory.sources.reference import RegistryRef
from faktory.sources.warm import load_warm


class RegistryStore:
    """Blob and manifest access for one repository."""

    def __init__(self, ref: RegistryRef, keychain: Keychain | None = None, client: RegistryClient | None = None):
        self.ref = ref
        self.client = client or RegistryClient(ref.host, keychain)

    def fetch_manifest(self, reference: str) -> tuple[bytes, str | None]:
        found = self.client.get_manifest(self.ref.repository, reference)
        return found.data, found.media_type or None

    def open_blob(self, digest: str) -> BlobStream:
        return self.client.open_blob(self.ref.repository, digest)


def load_registry(ref: RegistryRef, cache: LayerCache, platform: Platform | None,
                  keychain: Keychain | None = None) -> LoadedImage:
    client = RegistryClient(ref.host, keychain)
    warm = load_warm(ref, cache, platform, client)
    if warm is not None:
        return warm
    store = RegistryStore(ref, client=client)
    data, media = store.fetch_manifest(ref.reference)
    return load_from_manifest(store, data, media, ref=str(ref), source="registry", cache=cache, platform=platform)
