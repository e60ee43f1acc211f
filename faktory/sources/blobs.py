"""Stream a layer blob once: hash it as stored, decompress it, hash and write the tar."""

from __future__ import annotations

import hashlib
import zlib
from typing import BinaryIO

from faktory.errors import InvalidImage

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def sniff(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def _read_full(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if not data or len(data) >= size:
        return data or b""
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def decompress_to(stream: BinaryIO, out: BinaryIO, compression: str | None, label: str) -> tuple[str, str, int]:
    """Copy `stream` decompressed into `out`. Returns (digest as stored, digest of the tar, tar size)."""
    stored = hashlib.sha256()
    plain = hashlib.sha256()
    size = 0
    first = _read_full(stream, CHUNK)
    kind = compression or sniff(first)

    def emit(data: bytes) -> None:
        nonlocal size
        if data:
            plain.update(data)
            out.write(data)
            size += len(data)

    def chunks():
        chunk = first
        while chunk:
            stored.update(chunk)
            yield chunk
            chunk = stream.read(CHUNK)

    try:
        if kind == "none":
            for chunk in chunks():
                emit(chunk)
        elif kind == "gzip":
            _gunzip(chunks(), emit, label)
        elif kind == "zstd":
            _unzstd(chunks(), emit, label)
        else:
            raise InvalidImage(f"{label}: unsupported compression {kind!r}")
    except OSError as exc:
        raise InvalidImage(f"{label}: cannot read layer ({exc})") from None
    return "sha256:" + stored.hexdigest(), "sha256:" + plain.hexdigest(), size


def _gunzip(chunks, emit, label: str) -> None:
    # Concatenated gzip members are legal (pigz, some builders): start a new decoder after each one.
    decoder = zlib.decompressobj(wbits=31)
    fed = False  # the current decoder has taken input and not reached the end of its member
    try:
        for chunk in chunks:
            while chunk:
                emit(decoder.decompress(chunk))
                fed = True
                if not decoder.eof:
                    break
                chunk = decoder.unused_data
                decoder = zlib.decompressobj(wbits=31)
                fed = False
                if chunk and not chunk.startswith(GZIP_MAGIC[: len(chunk)]):
                    if chunk.strip(b"\0"):
                        raise InvalidImage(f"{label}: trailing garbage after the gzip stream")
                    break  # zero padding after the last member
        emit(decoder.flush())
    except zlib.error as exc:
        raise InvalidImage(f"{label}: corrupt gzip data ({exc})") from None
    if fed and not decoder.eof:
        raise InvalidImage(f"{label}: truncated gzip data")


def _unzstd(chunks, emit, label: str) -> None:
    import zstandard

    try:
        decoder = zstandard.ZstdDecompressor().decompressobj()
        for chunk in chunks:
            while chunk:
                emit(decoder.decompress(chunk))
                if decoder.eof:
                    chunk = decoder.unused_data
                    decoder = zstandard.ZstdDecompressor().decompressobj()
                else:
                    chunk = b""
        emit(decoder.flush())
    except zstandard.ZstdError as exc:
        raise InvalidImage(f"{label}: corrupt zstd data ({exc})") from None
