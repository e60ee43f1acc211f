"""The layer indexer's own tar reader agrees with the standard library on every header dialect layers use."""

from __future__ import annotations

import io
import tarfile

import pytest

from faktory.cache import index_tar
from faktory.errors import InvalidImage

LONG = "usr/lib/python3.12/site-packages/" + "very_long_package_name/" * 6 + "module_with_a_long_name.py"


def _tar(fmt: int, members: list[tarfile.TarInfo], payloads: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for info in members:
            data = payloads.get(info.name)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _members(uid: int) -> tuple[list[tarfile.TarInfo], dict[str, bytes]]:
    payloads = {LONG: b"long" * 100, "etc/caf\udce9": b"latin-1 name", "bin/big-uid": b"x"}
    infos = []
    for name in ("usr", LONG, "etc/caf\udce9", "bin/big-uid"):
        info = tarfile.TarInfo(name)
        if name == "usr":
            info.type, info.mode = tarfile.DIRTYPE, 0o755
        else:
            info.size, info.mode = len(payloads[name]), 0o4755 if name == "bin/big-uid" else 0o644
        info.uid = uid if name == "bin/big-uid" else 0
        info.mtime = 1_700_000_123
        infos.append(info)
    link = tarfile.TarInfo("usr/" + "l" * 120)
    link.type, link.linkname = tarfile.SYMTYPE, "../" + "t" * 110
    hard = tarfile.TarInfo("bin/again")
    hard.type, hard.linkname = tarfile.LNKTYPE, "bin/big-uid"
    dev = tarfile.TarInfo("dev/null")
    dev.type, dev.devmajor, dev.devminor, dev.mode = tarfile.CHRTYPE, 1, 3, 0o666
    return infos + [link, hard, dev], payloads


@pytest.mark.parametrize("fmt, uid", [(tarfile.PAX_FORMAT, 5_000_000), (tarfile.GNU_FORMAT, 5_000_000),
                                      (tarfile.USTAR_FORMAT, 1000)])
def test_index_matches_tarfile(tmp_path, fmt, uid):
    infos, payloads = _members(uid)
    if fmt == tarfile.USTAR_FORMAT:  # ustar can only split long names at a '/', and has no long link names
        infos = [i for i in infos if not (i.issym() and len(i.name) > 100)]
    path = tmp_path / "layer.tar"
    path.write_bytes(_tar(fmt, infos, payloads))
    ours = index_tar(str(path), "layer")
    with tarfile.open(path, encoding="utf-8", errors="surrogateescape") as tf:
        theirs = [("/" + i.name.rstrip("/"), i.mode, i.uid, i.size if i.isreg() else 0, int(i.mtime),
                   i.linkname if (i.issym() or i.islnk()) else "", i.offset_data if i.isreg() else 0,
                   i.devmajor if i.ischr() else 0, i.devminor if i.ischr() else 0) for i in tf]
        for rec in ours:
            if rec.kind == "file":
                tf.fileobj.seek(rec.offset)
                assert tf.fileobj.read(rec.size) == payloads[rec.path[1:]]
    mine = [(r.path, r.mode, r.uid, r.size, r.mtime, r.linkname if r.kind != "hardlink" else r.linkname[1:],
             r.offset, r.devmajor, r.devminor) for r in ours]
    assert mine == theirs
    assert {r.path: r.kind for r in ours}["/bin/again"] == "hardlink"


def test_corrupt_header_is_an_invalid_image(tmp_path):
    infos, payloads = _members(0)
    data = bytearray(_tar(tarfile.PAX_FORMAT, infos, payloads))
    data[600] ^= 0xFF  # inside the second header block
    path = tmp_path / "bad.tar"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidImage, match="checksum"):
        index_tar(str(path), "layer 3")


def test_truncated_tar_is_an_invalid_image(tmp_path):
    infos, payloads = _members(0)
    data = _tar(tarfile.GNU_FORMAT, infos, payloads)
    path = tmp_path / "cut.tar"
    path.write_bytes(data[:700])
    with pytest.raises(InvalidImage, match="truncated"):
        index_tar(str(path), "layer 3")
