"""--compact stores identical files once where the target's unpacker links them: cpio hardlinks unpacked by GNU
cpio and by a real Linux boot, tar hardlinks run by the docker engine, hardlinks in the Nanos sysroot, and
full copies (with the reason in faktory.json and the README) for Unikraft, whose ukcpio extracts no links."""

from __future__ import annotations

import json
import os
import subprocess
import zlib
from pathlib import Path

import pytest

from faktory.emitters.base import EmitOptions
from faktory.emitters.convert import MANIFEST, convert
from faktory.emitters.dedupe import find_duplicates
from faktory.emitters.rootfs import materialise
from faktory.runner.structure import cpio_members
from tests.handmade import python_image

FAKTORY = str(Path(__file__).resolve().parents[1] / ".venv/bin/faktory")
DATA = bytes(range(256)) * 40  # 10 KiB, the same in three files
TWINS = ("/app/data/a.bin", "/app/data/b.bin", "/app/other/c.bin")
APP = """import os, sys
names = {names!r}
blobs = [open(n, "rb").read() for n in names]
same = len({{os.stat(n).st_ino for n in names}}) == 1
print("twins", len(blobs[0]), all(b == blobs[0] for b in blobs), "one-inode" if same else "copies",
      oct(os.stat("/app/lone.bin").st_mode & 0o777), open("/app/lone.bin", "rb").read() == blobs[0])
"""


def twins_image(root: Path):
    """The hand-made image plus three identical files (one mtime, one mode), a fourth with the same bytes but
    another mode (never linked: a hardlink shares its mode), and an app that reads them all."""
    image, closure = python_image(root)
    for path in (*TWINS, "/app/lone.bin"):
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(DATA)
        os.chmod(dest, 0o600 if path == "/app/lone.bin" else 0o644)
        os.utime(dest, (1_700_000_000, 1_700_000_000))
        closure.graph.add_node(f"file:{path}", path=path, size=len(DATA), kind="file")
        closure.graph.add_edge("entrypoint", f"file:{path}", reason="handmade")
    (root / "app/main.py").write_text(APP.format(names=list(TWINS)))
    return image, closure


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    return twins_image(tmp_path_factory.mktemp("twins") / "root")


EXPECTED = f"twins {len(DATA)} True one-inode 0o600 True"


def test_duplicates_group_same_bytes_mode_and_mtime_only(twins):
    image, closure = twins
    rootfs = materialise(image, closure.paths())
    dups = find_duplicates(rootfs)
    assert dups.group("/app/data/a.bin") == TWINS
    assert dups.group("/app/lone.bin") == ()
    assert dups.files == 2 and dups.saved == 2 * len(DATA)


def test_cpio_hardlinks_unpack_to_one_inode_with_gnu_cpio(twins, tmp_path):
    image, closure = twins
    rootfs = materialise(image, closure.paths())
    with open(tmp_path / "plain.cpio", "wb") as out:
        rootfs.write_cpio(out)
    rootfs.duplicates = find_duplicates(rootfs)
    with open(tmp_path / "linked.cpio", "wb") as out:
        rootfs.write_cpio(out)
    assert (tmp_path / "plain.cpio").stat().st_size - (tmp_path / "linked.cpio").stat().st_size >= 2 * len(DATA)
    assert cpio_members(tmp_path / "linked.cpio") == cpio_members(tmp_path / "plain.cpio")
    dest = tmp_path / "x"
    dest.mkdir()
    with open(tmp_path / "linked.cpio", "rb") as fh:
        subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], stdin=fh, cwd=dest, check=True)
    stats = [(dest / p.lstrip("/")).stat() for p in TWINS]
    assert {s.st_ino for s in stats} == {stats[0].st_ino} and stats[0].st_nlink == 3
    assert all((dest / p.lstrip("/")).read_bytes() == DATA for p in (*TWINS, "/app/lone.bin"))
    assert (dest / "app/lone.bin").stat().st_ino != stats[0].st_ino


def test_compact_microvm_with_hardlinks_boots_under_linux(twins, tmp_path):
    """The kernel's own initramfs unpacker: the gzip'd archive's linked names read back whole, as one inode."""
    image, closure = twins
    out = tmp_path / "mv"
    convert(image, closure, "microvm", out, EmitOptions(compact=True))
    doc = json.loads((out / MANIFEST).read_text())
    assert doc["compact"]["deduped_files"] == 2 and doc["compact"]["dedupe_bytes_saved"] == 2 * len(DATA)
    with open(out / "initrd.cpio", "rb") as fh:
        assert fh.read(2) == b"\x1f\x8b"
    assert "gzip'd" in (out / "README.md").read_text()
    proc = subprocess.run([FAKTORY, "run", str(out), "--timeout", "400"], capture_output=True, text=True,
                          timeout=600)
    assert EXPECTED in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_compact_oci_layer_hardlinks_run_in_docker(twins, tmp_path):
    image, closure = twins
    plain = convert(image, closure, "oci", tmp_path / "plain", EmitOptions(tag="faktory-test/dedupe:plain"))
    out = tmp_path / "oci"
    convert(image, closure, "oci", out, EmitOptions(compact=True, tag="faktory-test/dedupe:compact"))
    doc = json.loads((out / MANIFEST).read_text())
    assert doc["compact"]["deduped_files"] == 2
    listed = subprocess.run(["tar", "-tvzf", str(_layer(out))], capture_output=True, text=True, check=True).stdout
    assert "app/data/b.bin link to app/data/a.bin" in listed
    assert doc["image"]["compressed_size"] <= json.loads((plain.outdir / MANIFEST).read_text())["image"][
        "compressed_size"]
    subprocess.run(["docker", "load", "-i", str(out / "image.tar")], check=True, capture_output=True)
    try:
        run = subprocess.run(["docker", "run", "--rm", "--network=none", "faktory-test/dedupe:compact"],
                             capture_output=True, text=True, timeout=120)
        assert EXPECTED in run.stdout, run.stderr
    finally:
        subprocess.run(["docker", "image", "rm", "-f", "faktory-test/dedupe:compact"], capture_output=True)


def _layer(out: Path) -> Path:
    layout = out / "image"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    return layout / "blobs/sha256" / manifest["layers"][-1]["digest"].split(":")[1]


def test_compact_nanos_sysroot_links_identical_files(twins, tmp_path):
    image, closure = twins
    out = tmp_path / "nanos"
    convert(image, closure, "nanos", out, EmitOptions(compact=True, force=True))
    sysroot = next(out.glob("*/sysroot"))
    stats = [(sysroot / p.lstrip("/")).stat() for p in TWINS]
    assert {s.st_ino for s in stats} == {stats[0].st_ino}
    notes = json.loads((out / MANIFEST).read_text())["compact"]["notes"]
    assert any("no compression" in n for n in notes) and any("mkfs" in n for n in notes)


def test_compact_unikraft_keeps_full_copies_and_says_why(twins, tmp_path):
    """ukcpio extracts every name as a file of its own: a linked name without data would come out empty."""
    image, closure = twins
    out = tmp_path / "uk"
    convert(image, closure, "unikraft", out, EmitOptions(compact=True, force=True))
    raw = (out / "rootfs.cpio").read_bytes()
    assert raw[:6] == b"070701"  # plain newc: ukcpio reads no compressed initrd
    nlinks = _newc_file_nlinks(raw)
    assert nlinks and set(nlinks) == {1}
    doc = json.loads((out / MANIFEST).read_text())
    assert "deduped_files" in doc["compact"] and doc["compact"]["deduped_files"] == 0
    readme = (out / "README.md").read_text()
    assert "not compressed" in readme and "hardlinks" in readme
    dest = tmp_path / "x"
    dest.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], input=raw, cwd=dest, check=True)
    assert all((dest / p.lstrip("/")).read_bytes() == DATA for p in TWINS)


def _newc_file_nlinks(raw: bytes) -> list[int]:
    """nlink of every regular file in a newc archive."""
    out, pos = [], 0
    while raw[pos:pos + 6] == b"070701":
        mode, nlink, size, namesize = (int(raw[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in (1, 4, 6, 11))
        name = raw[pos + 110:pos + 110 + namesize - 1]
        if name == b"TRAILER!!!":
            break
        if mode & 0o170000 == 0o100000:
            out.append(nlink)
        pos = (pos + 110 + namesize + 3) & ~3
        pos = (pos + size + 3) & ~3
    return out


def test_gzip_initrd_never_larger_than_plain(twins, tmp_path):
    image, closure = twins
    convert(image, closure, "microvm", tmp_path / "plain")
    convert(image, closure, "microvm", tmp_path / "small", EmitOptions(compact=True))
    assert (tmp_path / "small/initrd.cpio").stat().st_size < (tmp_path / "plain/initrd.cpio").stat().st_size
    assert zlib.decompressobj(wbits=31).decompress((tmp_path / "small/initrd.cpio").read_bytes())[:6] == b"070701"
