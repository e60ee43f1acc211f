"""OCI image layout directories (`oci:DIR[:TAG]`): index.json + blobs/<alg>/<hex>."""

from __future__ import annotations

import json
import os
import posixpath
import stat
from pathlib import Path
from typing import BinaryIO

from faktory.cache import LayerCache
from faktory.digests import hex_of
from faktory.errors import ImageNotFound, InvalidImage, SourceUnavailable
from faktory.image import Platform
from faktory.sources import manifest as mf
from faktory.sources.archive import open_tar_file
from faktory.sources.distribution import check_digest, load_from_manifest
from faktory.sources.loaded import LoadedImage

REF_NAME = "org.opencontainers.image.ref.name"


class LayoutStore:
    local = True  # files anyone may have edited: checked even when the cache holds them

    def __init__(self, root: Path, ref: str):
        self.root, self.ref = root, ref

    def _blob_name(self, digest: str) -> str:
        return f"blobs/sha256/{hex_of(digest, self.ref)}"

    def _path(self, digest: str) -> Path:
        return self.root / self._blob_name(digest)

    def open_blob(self, digest: str) -> BinaryIO:
        path = self._path(digest)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise InvalidImage(f"{self.ref}: blob {digest} is missing from the layout") from None
        except OSError as exc:
            raise InvalidImage(f"{self.ref}: blob {digest} cannot be read ({exc.strerror})") from None
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # a directory, fifo or device named like a blob
            fh.close()
            raise InvalidImage(f"{self.ref}: blob {digest} is not a regular file in the layout")
        return fh

    def fetch_manifest(self, digest: str) -> tuple[bytes, str | None]:
        with self.open_blob(digest) as fh:
            return fh.read(), None


class ArchivedLayoutStore(LayoutStore):
    """An OCI layout packed in a tar (`oci-archive:`, buildx `-o type=oci`): blobs read in place by offset."""

    def __init__(self, tar, ref: str):
        self.tar, self.ref = tar, ref
        self.members = {posixpath.normpath(m.name): m for m in tar.getmembers() if m.isfile()}

    def read_member(self, name: str) -> bytes | None:
        member = self.members.get(name)
        if member is None:
            return None
        fh = self.tar.extractfile(member)
        return fh.read() if fh is not None else None

    def open_blob(self, digest: str) -> BinaryIO:
        member = self.members.get(self._blob_name(digest))
        fh = self.tar.extractfile(member) if member is not None else None
        if fh is None:
            raise InvalidImage(f"{self.ref}: blob {digest} is missing from the archive")
        return fh


def load_oci_archive(path: str, tag: str | None, ref: str, cache: LayerCache, platform: Platform | None) -> LoadedImage:
    with open_tar_file(path, ref, "an OCI archive", "r:*") as tar:
        store = ArchivedLayoutStore(tar, ref)
        index_bytes = store.read_member("index.json")
        if index_bytes is None:
            raise InvalidImage(f"{ref}: {path} is not an OCI archive (no index.json)")
        check_layout_file(store.read_member("oci-layout"), ref)
        return _load_index(store, index_bytes, tag, ref, cache, platform)


def _name_matches(desc: dict, tag: str) -> bool:
    name = (desc.get("annotations") or {}).get(REF_NAME)
    if not name:
        return False
    return name == tag or name.endswith(":" + tag) or name.rsplit("/", 1)[-1] == tag


def load_layout(path: str, tag: str | None, ref: str, cache: LayerCache, platform: Platform | None) -> LoadedImage:
    root = Path(path)
    index_path = root / "index.json"
    if not root.is_dir():
        raise SourceUnavailable(f"{ref}: no such directory {path}")
    if not index_path.is_file():
        raise InvalidImage(f"{ref}: {path} is not an OCI image layout (no index.json)")
    marker = root / "oci-layout"
    check_layout_file(marker.read_bytes() if marker.is_file() else None, ref)
    return _load_index(LayoutStore(root, ref), index_path.read_bytes(), tag, ref, cache, platform)


def check_layout_file(data: bytes | None, ref: str) -> None:
    """The `oci-layout` marker the image-layout spec requires, at a version this reader knows (1.x)."""
    if data is None:
        raise InvalidImage(f"{ref}: not an OCI image layout (no oci-layout file)")
    version = mf.parse_json(data, f"{ref}: oci-layout").get("imageLayoutVersion")
    if not isinstance(version, str) or version.split(".")[0] != "1":
        raise InvalidImage(f"{ref}: unsupported imageLayoutVersion {version!r} in oci-layout (this reader knows 1.x)")


def _load_index(store: LayoutStore, index_bytes: bytes, tag: str | None, ref: str, cache: LayerCache,
                platform: Platform | None) -> LoadedImage:
    index = mf.parse_json(index_bytes, f"{ref}: index.json")
    entries = index.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise InvalidImage(f"{ref}: index.json lists no manifests")
    entries = [mf.descriptor(entry, f"{ref}: index.json entry {n}") for n, entry in enumerate(entries)]
    if tag is not None:
        chosen = [d for d in entries if isinstance(d, dict) and _name_matches(d, tag)]
        if not chosen:
            names = sorted({(d.get("annotations") or {}).get(REF_NAME, "?") for d in entries if isinstance(d, dict)})
            raise ImageNotFound(f"{ref}: no image tagged {tag!r} in the layout (tags: {', '.join(names)})")
        entries = chosen
    for number, entry in enumerate(entries):
        kind = entry.get("mediaType")
        if kind is not None and kind not in mf.ACCEPT:
            raise InvalidImage(f"{ref}: index.json entry {number} has media type {kind!r}, not a manifest or index")
    if len(entries) == 1:
        desc = mf.descriptor(entries[0], f"{ref}: index.json entry")
        data, _ = store.fetch_manifest(desc["digest"])
        check_digest(data, desc["digest"], f"{ref}: manifest")
        return load_from_manifest(store, data, desc.get("mediaType"), ref=ref, source="oci", cache=cache,
                                  platform=platform)
    # Several manifests, one per platform: index.json itself is the image index.
    sub_index = dict(index, manifests=entries)
    return load_from_manifest(store, json.dumps(sub_index).encode(), mf.OCI_INDEX, ref=ref, source="oci",
                              cache=cache, platform=platform)
