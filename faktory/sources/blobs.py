"""Stream a layer blob once: hash it as stored, decompress it, hash and write the tar."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import zlib
from typing import BinaryIO

from faktory.errors import InvalidImage

try:  # ISA-L's inflate is about twice as fast as zlib's and releases the GIL too; zlib stays the fallback
    from isal import isal_zlib as inflate_lib

    INFLATE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, inflate_lib.error)
except ImportError:  # pragma: no cover - isal is a declared dependency
    inflate_lib = zlib  # type: ignore[assignment]
    INFLATE_ERRORS = (zlib.error,)

CHUNK = 1 << 20
OUT_CHUNK = 4 << 20  # most decompressed bytes taken from one decoder call
ZSTD_PIECE = 2048  # zstd input per decoder call: at most 64 MiB out
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


def decompress_to(stream: BinaryIO, out, compression: str | None, label: str,
                  check=None) -> tuple[str | None, int]:
    """Copy `stream` decompressed into `out` (anything with .write).

    `check(out_bytes, in_bytes)`, when given, sees the running totals before each write and raises to stop
    (the cache's limits: a gzip bomb is refused a few MiB past the limit, never written whole).

    Returns (digest of the blob as stored, tar size). An uncompressed blob is its own tar: its digest is left
    to whoever hashes the output (None here), so the same bytes are not hashed twice.
    """
    stored = hashlib.sha256()
    size = consumed = 0
    first = _read_full(stream, CHUNK)
    kind = compression or sniff(first)

    def emit(data: bytes) -> None:
        nonlocal size
        if data:
            if check is not None:
                check(size + len(data), consumed)
            out.write(data)
            size += len(data)

    def chunks():
        nonlocal consumed
        chunk = first
        while chunk:
            consumed += len(chunk)
            if kind != "none":
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
    return (None if kind == "none" else "sha256:" + stored.hexdigest()), size


def _gunzip(chunks, emit, label: str) -> None:
    # Concatenated gzip members are legal (pigz, some builders): start a new decoder after each one.
    # Output is taken OUT_CHUNK at a time: a few kilobytes of gzip can expand to gigabytes of zeros.
    decoder = inflate_lib.decompressobj(wbits=31)
    fed = False  # the current decoder has taken input and not reached the end of its member
    try:
        for chunk in chunks:
            data = chunk
            while data or fed:
                out = decoder.decompress(data, OUT_CHUNK)
                emit(out)
                fed = fed or bool(data)
                if decoder.eof:
                    data = decoder.unused_data
                    decoder = inflate_lib.decompressobj(wbits=31)
                    fed = False
                    if data and not data.startswith(GZIP_MAGIC[: len(data)]):
                        if data.strip(b"\0"):
                            raise InvalidImage(f"{label}: trailing garbage after the gzip stream")
                        data = b""  # zero padding after the last member
                    continue
                data = decoder.unconsumed_tail
                if not data and len(out) < OUT_CHUNK:
                    break  # this input is used up and nothing is pending: next chunk
        emit(decoder.flush())
    except INFLATE_ERRORS as exc:
        raise InvalidImage(f"{label}: corrupt gzip data ({exc})") from None
    if fed and not decoder.eof:
        raise InvalidImage(f"{label}: truncated gzip data")


def _unzstd(chunks, emit, label: str) -> None:
    import zstandard

    def fresh():
        return zstandard.ZstdDecompressor().decompressobj()

    # The zstd decoder object has no output limit, and 4 bytes of zstd can stand for 128 KiB: feeding it
    # ZSTD_PIECE bytes at a time bounds one call's output (to 32768 x ZSTD_PIECE) whatever the blob holds.
    decoder = fresh()
    fed = False  # as for gzip: a frame that took input and never ended means the blob was cut short
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                piece, view = view[:ZSTD_PIECE], view[ZSTD_PIECE:]
                while piece:
                    out = decoder.decompress(piece)
                    for at in range(0, len(out), OUT_CHUNK):
                        emit(out[at:at + OUT_CHUNK])
                    fed = True
                    if not decoder.eof:
                        break
                    piece, decoder, fed = decoder.unused_data, fresh(), False
    except zstandard.ZstdError as exc:
        raise InvalidImage(f"{label}: corrupt zstd data ({exc})") from None
    if fed and not decoder.eof:
        raise InvalidImage(f"{label}: truncated zstd data")


class _Written:
    """How far the tar on disk has been written; lets the indexer follow the writer."""

    def __init__(self):
        self.cond = threading.Condition()
        self.size = 0
        self.done = False
        self.aborted = False

    def advance(self, n: int) -> None:
        with self.cond:
            self.size += n
            self.cond.notify_all()

    def finish(self, aborted: bool = False) -> None:
        with self.cond:
            self.done = True
            self.aborted = self.aborted or aborted
            self.cond.notify_all()

    def wait_for(self, end: int) -> None:
        with self.cond:
            while self.size < end and not self.done:
                self.cond.wait()
            if self.aborted:
                raise _Aborted()


class _Aborted(Exception):
    pass


def stream_layer(stream: BinaryIO, fd: int, compression: str | None, label: str, index,
                 check=None) -> tuple[str, str, int, list]:
    """Decompress `stream` into the file `fd` once, three stages overlapping on separate threads:
    read + decompress (here), hash + write (writer), tar header indexing (indexer, following the writer).
    zlib, zstd, hashlib and os.write release the GIL, so on two cores a cold load costs about one gunzip.

    `index(read_at, label)` builds the member index from pread-style reads. Returns
    (digest as stored, digest of the tar, tar size, index result).
    """
    written = _Written()
    chunks: queue.Queue = queue.Queue(maxsize=8)  # bounded: memory stays flat whatever the layer size
    plain = hashlib.sha256()
    errors: list[BaseException] = []
    result: list = []

    def writer() -> None:
        try:
            while True:
                data = chunks.get()
                if data is None:
                    break
                plain.update(data)
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                written.advance(len(data))
            written.finish()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
            written.finish(aborted=True)
            while chunks.get() is not None:  # keep the producer from blocking on a full queue
                pass

    def read_at(offset: int, size: int) -> bytes:
        written.wait_for(offset + size)
        return os.pread(fd, size, offset)

    def indexer() -> None:
        try:
            result.append(index(read_at, label))
        except _Aborted:
            pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, daemon=True), threading.Thread(target=indexer, daemon=True)]
    for t in threads:
        t.start()
    try:
        stored, size = decompress_to(stream, _QueueSink(chunks), compression, label, check)
    except BaseException:
        chunks.put(None)
        written.finish(aborted=True)
        for t in threads:
            t.join()
        raise
    chunks.put(None)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    tar_digest = "sha256:" + plain.hexdigest()
    return stored or tar_digest, tar_digest, size, result[0]


class _QueueSink:
    def __init__(self, q: queue.Queue):
        self.q = q

    def write(self, data: bytes) -> None:
        self.q.put(data)
