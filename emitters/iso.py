"""ISO9660 + Rock Ridge images with pycdlib: ISO names are generated (D0000001, F0000001.;1), the real names,
modes and symlinks live in the Rock Ridge records, which is what rumprun's cd9660 and `xorriso` read."""

from __future__ import annotations

import itertools
import posixpath
from pathlib import Path

import pycdlib

from faktory.emitters.rootfs import Rootfs
from faktory.image import DIR, FILE, SYMLINK


def write_iso(rootfs: Rootfs, out: Path, scratch: Path, volume: str = "FAKTORY") -> None:
    """Files are staged under `scratch` first: pycdlib reads them when it writes the image."""
    scratch.mkdir(parents=True, exist_ok=True)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, rock_ridge="1.09", vol_ident=volume)
    iso_dir = {"/": "/"}
    counter = itertools.count(1)
    try:
        for entry in rootfs.sorted():
            if entry.path == "/":
                continue
            parent_iso = iso_dir[posixpath.dirname(entry.path)]
            name = posixpath.basename(entry.path)
            n = next(counter)
            if entry.kind == DIR:
                iso_path = posixpath.join(parent_iso, f"D{n:07d}")
                iso.add_directory(iso_path, rr_name=name, file_mode=0o040000 | (entry.mode & 0o7777))
                iso_dir[entry.path] = iso_path
            elif entry.kind == SYMLINK:
                iso.add_symlink(posixpath.join(parent_iso, f"L{n:07d}.;1"), rr_symlink_name=name,
                                rr_path=entry.linkname)
            elif entry.kind == FILE:
                staged = scratch / f"f{n}"
                with open(staged, "wb") as fh:
                    for chunk in rootfs.chunks(entry):
                        fh.write(chunk)
                iso.add_file(str(staged), posixpath.join(parent_iso, f"F{n:07d}.;1"), rr_name=name,
                             file_mode=0o100000 | (entry.mode & 0o7777))
        iso.write(str(out))
    finally:
        iso.close()
