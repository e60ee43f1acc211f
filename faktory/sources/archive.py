"""`docker save` tarballs: from a file (`docker-archive:PATH[:NAME:TAG]`) or streamed from the daemon.

Both the legacy layout (`<id>/layer.tar`, `<hex>.json`, `manifest.json`) and the OCI-style layout of newer
engines (`blobs/sha256/…` plus `manifest.json`) are read through `manifest.json`, which both write.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from faktory.cache import LayerCache, LayerIndex
from faktory.errors import ImageNotFound, InvalidImage, SourceUnavailable
from faktory.image import Layer
from faktory.sources import manifest as mf
from faktory.sources.loaded import LoadedImage, assemble

SMALL = 1 << 20  # members up to this size are kept in memory while streaming (configs, manifests)
LINK_DEPTH = 8


def _entry_for(entries: list, selector: str | None, ref: str) -> dict:
    if not entries:
        raise InvalidImage(f"{ref}: manifest.json lists no image")
    if selector is None:
        if len(entries) == 1:
            return entries[0]
        tags = [t for e in entries for t in (e.get("RepoTags") or [])]
        raise ImageNotFound(f"{ref}: the archive holds {len(entries)} images; add :NAME:TAG (one of {', '.join(tags)})")
    if selector.startswith("@") and selector[1:].isdigit():
        i = int(selector[1:])
        if i < len(entries):
            return entries[i]
    for e in entries:
        tags = e.get("RepoTags") or []
        if selector in tags or (":" not in selector and f"{selector}:latest" in tags):
            return e
    raise ImageNotFound(f"{ref}: no image {selector!r} in the archive")


def _manifest_entries(data: bytes, ref: str) -> list:
    try:
        entries = json.loads(data)
    except ValueError as exc:
        raise InvalidImage(f"{ref}: manifest.json is not valid JSON ({exc})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidImage(f"{ref}: manifest.json is not a list of images")
    for e in entries:
        if not isinstance(e.get("Config"), str) or not isinstance(e.get("Layers"), list):
            raise InvalidImage(f"{ref}: manifest.json entry without Config/Layers")
    return entries


def layer_descriptor(name: str, ix: LayerIndex) -> Layer:
    # A `docker save` layer is an uncompressed tar: its blob digest is its diff_id.
    return Layer(media_type=mf.UNCOMPRESSED_LAYER, digest=ix.diff_id, diff_id=ix.diff_id, size=ix.size,
                 uncompressed_size=ix.size, annotations={"org.opencontainers.image.title": name})


def _norm(name: str) -> str:
    return posixpath.normpath(name)


# ------------------------------------------------------------------ archive on disk (seekable)


def open_tar_file(path: str, ref: str, what: str, mode: str = "r:") -> tarfile.TarFile:
    """A tarball on disk for a source, or the user's one-line error: no such file, or not `what`."""
    if Path(path).is_dir():
        hint = " (an OCI layout directory is oci:DIR)" if (Path(path) / "index.json").exists() else ""
        raise SourceUnavailable(f"{ref}: {path} is a directory, not {what}{hint}")
    if not Path(path).is_file():
        raise SourceUnavailable(f"{ref}: no such file {path}")
    try:
        return tarfile.open(path, mode)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # "r:*" lists every codec tried
        raise InvalidImage(f"{ref}: {path} is not {what} ({reason})") from None


def load_archive(path: str, selector: str | None, ref: str, cache: LayerCache) -> LoadedImage:
    with open_tar_file(path, ref, "a docker save tarball") as tf:
        members = {_norm(m.name): m for m in tf.getmembers()}

        def member(name: str) -> tarfile.TarInfo:
            info = members.get(_norm(name))
            for _ in range(LINK_DEPTH):
                if info is None or not (info.issym() or info.islnk()):
                    break
                target = info.linkname if info.islnk() else posixpath.join(posixpath.dirname(info.name), info.linkname)
                info = members.get(_norm(target))
            if info is None or not info.isfile():
                raise InvalidImage(f"{ref}: blob {name} is missing from the archive")
            return info

        def read(name: str) -> bytes:
            fh = tf.extractfile(member(name))
            assert fh is not None
            return fh.read()

        if "manifest.json" not in members:
            raise InvalidImage(f"{ref}: no manifest.json (not a docker save tarball)")
        entry = _entry_for(_manifest_entries(read("manifest.json"), ref), selector, ref)
        config_bytes = read(entry["Config"])
        config = mf.parse_json(config_bytes, f"{ref}: image config")
        want = mf.diff_ids(config, ref)
        if len(want) != len(entry["Layers"]):
            raise InvalidImage(f"{ref}: config lists {len(want)} layers, manifest.json {len(entry['Layers'])}")
        indexes, layers = [], []
        for number, (name, diff_id) in enumerate(zip(entry["Layers"], want)):
            label = f"{ref}: layer {number} ({name})"
            ix = cache.get(diff_id)
            if ix is None:
                with cache.lock(diff_id):
                    fh = tf.extractfile(member(name))
                    assert fh is not None
                    ix = cache.ingest(fh, label=label, diff_id=diff_id)
            indexes.append(ix)
            layers.append(layer_descriptor(name, ix))
    image = assemble(ref=ref, digest=None, source="docker-archive", manifest=entry, config_bytes=config_bytes,
                     config_digest=_config_digest_from_name(entry["Config"]), layers=layers, indexes=indexes)
    if cache.get_config(image.config_digest) is None:  # the same image in the engine then loads warm
        cache.put_config(image.config_digest, config_bytes)
    return image


def _config_digest_from_name(name: str) -> str | None:
    base = posixpath.basename(name)
    hexd = base[:-5] if base.endswith(".json") else base
    if len(hexd) == 64 and all(c in "0123456789abcdef" for c in hexd):
        return "sha256:" + hexd
    return None


# ------------------------------------------------------------------ streamed (daemon `image.save()`)


class ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (what the docker SDK streams)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = iter(chunks)
        self._buf = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._pos >= len(self._buf):
            try:
                self._buf, self._pos = memoryview(next(self._chunks)), 0
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buf) - self._pos)
        buffer[:n] = self._buf[self._pos:self._pos + n]  # an offset, not a re-slice: chunks are megabytes
        self._pos += n
        return n


def load_save_stream(
    stream: BinaryIO, selector: str | None, ref: str, cache: LayerCache, source: str = "daemon",
    on_error: Callable[[Exception], Exception] | None = None,
) -> LoadedImage:
    """Read a `docker save` stream in one pass: big members go straight into the layer cache."""
    small: dict[str, bytes] = {}
    ingested: dict[str, LayerIndex] = {}
    aliases: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for info in tf:
                name = _norm(info.name)
                if info.issym() or info.islnk():
                    target = info.linkname if info.islnk() else posixpath.join(posixpath.dirname(info.name), info.linkname)
                    aliases[name] = _norm(target)
                elif info.isfile():
                    fh = tf.extractfile(info)
                    assert fh is not None
                    if info.size <= SMALL:
                        small[name] = fh.read()
                    else:
                        ingested[name] = cache.ingest(fh, label=f"{ref}: {name}")
    except tarfile.TarError as exc:
        raise InvalidImage(f"{ref}: the saved image stream is not a valid tar ({exc})") from None
    except Exception as exc:  # transport errors from the engine's stream
        if on_error is not None:
            mapped = on_error(exc)
            if mapped is not None:
                raise mapped from None
        raise

    def resolve(name: str) -> str:
        name = _norm(name)
        for _ in range(LINK_DEPTH):
            if name not in aliases:
                break
            name = aliases[name]
        return name

    if "manifest.json" not in small:
        raise InvalidImage(f"{ref}: the saved image has no manifest.json")
    entry = _entry_for(_manifest_entries(small["manifest.json"], ref), selector, ref)
    config_name = resolve(entry["Config"])
    if config_name not in small:
        raise InvalidImage(f"{ref}: config {entry['Config']} is missing from the saved image")
    config_bytes = small[config_name]
    indexes, layers = [], []
    for number, name in enumerate(entry["Layers"]):
        real = resolve(name)
        ix = ingested.get(real)
        if ix is None:
            if real not in small:
                raise InvalidImage(f"{ref}: layer {name} is missing from the saved image")
            ix = cache.ingest(io.BytesIO(small[real]), label=f"{ref}: layer {number} ({name})")
            ingested[real] = ix
        indexes.append(ix)
        layers.append(layer_descriptor(name, ix))
    image = assemble(ref=ref, digest=None, source=source, manifest=entry, config_bytes=config_bytes,
                     config_digest=_config_digest_from_name(entry["Config"]), layers=layers, indexes=indexes)
    cache.put_config(image.config_digest, config_bytes)
    return image
