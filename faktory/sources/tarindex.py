"""Index an uncompressed layer tar: one record per member with the offset of its data, data never read.

A purpose-built reader of ustar, pax ('x' records) and GNU long names ('L'/'K'): the standard library's
tarfile builds a full TarInfo per member and is the slowest step of a cold load on layers with many small
files. Headers are checksummed; anything malformed is an InvalidImage naming the layer.
"""

from __future__ import annotations

from typing import Callable, Iterator

from faktory.errors import InvalidImage

BLOCK = 512
KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink", b"3": "char",
         b"4": "block", b"5": "dir", b"6": "fifo"}


class Member:
    __slots__ = ("name", "kind", "mode", "uid", "gid", "size", "mtime", "linkname", "offset", "devmajor", "devminor")

    def __init__(self, name, kind, mode, uid, gid, size, mtime, linkname, offset, devmajor, devminor):
        self.name, self.kind, self.mode, self.uid, self.gid = name, kind, mode, uid, gid
        self.size, self.mtime, self.linkname, self.offset = size, mtime, linkname, offset
        self.devmajor, self.devminor = devmajor, devminor


def _number(field: bytes, label: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for values that do not fit in octal
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise InvalidImage(f"{label}: bad number {field!r} in a tar header") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _checksum_ok(header: bytes) -> bool:
    stored = header[148:156].split(b"\0", 1)[0].strip()
    try:
        want = int(stored, 8)
    except ValueError:
        return False
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    if unsigned == want:
        return True
    signed = sum(b - 256 if b > 127 else b for b in header[:148]) + 256 + sum(
        b - 256 if b > 127 else b for b in header[156:])
    return signed == want


def _pax(data: bytes, label: str) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise InvalidImage(f"{label}: malformed pax header") from None
        if length <= 0:
            raise InvalidImage(f"{label}: malformed pax header")
        record = data[space + 1:pos + length - 1]  # drop the trailing newline
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def members(read_at: Callable[[int, int], bytes], label: str) -> Iterator[Member]:
    """Walk the headers of a tar through `read_at(offset, size)` (a pread)."""
    offset = 0
    pax: dict[str, str] = {}
    global_pax: dict[str, str] = {}
    long_name = long_link = None
    while True:
        header = read_at(offset, BLOCK)
        if len(header) < BLOCK or header == bytes(BLOCK):
            if len(header) and len(header) < BLOCK:
                raise InvalidImage(f"{label}: tar ends inside a header (truncated layer)")
            return  # end-of-archive marker, or a tar without one
        if not _checksum_ok(header):
            raise InvalidImage(f"{label}: bad tar header checksum at offset {offset}")
        typeflag = header[156:157]
        size = _number(header[124:136], label)
        data_at = offset + BLOCK
        next_at = data_at + (size + BLOCK - 1) // BLOCK * BLOCK
        if typeflag in (b"x", b"g", b"L", b"K"):
            body = read_at(data_at, size)
            if len(body) < size:
                raise InvalidImage(f"{label}: tar ends inside an extended header (truncated layer)")
            if typeflag == b"x":
                pax.update(_pax(body, label))
            elif typeflag == b"g":
                global_pax.update(_pax(body, label))
            elif typeflag == b"L":
                long_name = body.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            else:
                long_link = body.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            offset = next_at
            continue
        if typeflag == b"S":
            raise InvalidImage(f"{label}: GNU sparse tar members are not supported")
        fields = {**global_pax, **pax}
        name = _text(header[0:100])
        if header[257:263] == b"ustar\0":  # POSIX ustar: a prefix field extends the name
            prefix = _text(header[345:500])
            if prefix:
                name = f"{prefix}/{name}"
        name = fields.get("path") or long_name or name
        linkname = fields.get("linkpath") or long_link or _text(header[157:257])
        if "size" in fields:
            size = int(fields["size"])
            next_at = data_at + (size + BLOCK - 1) // BLOCK * BLOCK
        kind = KINDS.get(typeflag)
        if kind == "file" and typeflag in (b"0", b"\0") and name.endswith("/"):
            kind = "dir"  # old v7 tars mark directories with a trailing slash only
        if kind is None:
            kind = "other"  # unknown types: their data is skipped like a file's
        mtime = fields.get("mtime")
        yield Member(
            name=name, kind=kind, mode=_number(header[100:108], label) & 0o7777,
            uid=int(fields["uid"]) if "uid" in fields else _number(header[108:116], label),
            gid=int(fields["gid"]) if "gid" in fields else _number(header[116:124], label),
            size=size if kind in ("file", "other") else 0,
            mtime=int(float(mtime)) if mtime else _number(header[136:148], label),
            linkname=linkname, offset=data_at,
            devmajor=_number(header[329:337], label) if kind in ("char", "block") else 0,
            devminor=_number(header[337:345], label) if kind in ("char", "block") else 0,
        )
        pax, long_name, long_link = {}, None, None
        offset = next_at if kind in ("file", "other") else data_at
