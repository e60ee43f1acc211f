"""Format writers on hand-made inputs, checked with the real tools (GNU cpio, xorriso, skopeo, docker)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from faktory.emitters.cpio import CpioError, NewcWriter
from faktory.emitters.iso import write_iso
from faktory.emitters.oci_layout import write_docker_archive, write_oci_image
from faktory.emitters.rootfs import Layout, materialise
from faktory.emitters.rumprun import rumprun_config
from faktory.emitters.unikraft import kernel_cmdline
from faktory.image import FILE, SYMLINK
from faktory.runner.structure import cpio_members, iso_members
from tests.handmade import python_image


def _cpio_extract(archive: bytes, dest: Path) -> None:
    subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], input=archive, cwd=dest, check=True)


def test_newc_archive_is_read_back_by_gnu_cpio(tmp_path):
    buf = io.BytesIO()
    with NewcWriter(buf) as w:
        w.add_dir("/usr", 0o755)
        w.add_dir("/usr/lib", 0o700)
        w.add_file("/usr/lib/data.bin", bytes(range(256)) * 3 + b"x", mode=0o640)
        w.add_file("/usr/lib/streamed", iter([b"ab", b"cde"]), size=5, mode=0o755)
        w.add_symlink("/lib", "usr/lib")
    raw = buf.getvalue()
    assert raw[:6] == b"070701" and len(raw) % 512 == 0
    listed = subprocess.run(["cpio", "-it", "--quiet"], input=raw, capture_output=True, check=True).stdout.decode()
    assert listed.split() == ["usr", "usr/lib", "usr/lib/data.bin", "usr/lib/streamed", "lib"]
    _cpio_extract(raw, tmp_path)
    assert (tmp_path / "usr/lib/data.bin").read_bytes() == bytes(range(256)) * 3 + b"x"
    assert (tmp_path / "usr/lib/streamed").read_bytes() == b"abcde"
    assert stat.S_IMODE((tmp_path / "usr/lib/streamed").stat().st_mode) == 0o755
    assert os.readlink(tmp_path / "lib") == "usr/lib"


def test_newc_rejects_wrong_sizes():
    w = NewcWriter(io.BytesIO())
    with pytest.raises(CpioError, match="announced 10 bytes, got 3"):
        w.add_file("/f", iter([b"abc"]), size=10)
    with pytest.raises(CpioError, match="32-bit"):
        w.add_file("/big", iter(()), size=1 << 32)


def test_newc_span_copies_the_same_bytes_as_add_file(tmp_path):
    """Into a file the kernel copies a span (sendfile), into anything else Python does: both as add_file."""
    source = tmp_path / "layer.tar"
    source.write_bytes(b"H" * 100 + bytes(range(256)) * 5 + b"T" * 7)
    expected = io.BytesIO()
    with NewcWriter(expected) as w:
        w.add_dir("/d")
        w.add_file("/d/f", bytes(range(256)) * 5, mode=0o600)
        w.add_symlink("/l", "d/f")
    fd = os.open(source, os.O_RDONLY)
    try:
        in_memory = io.BytesIO()
        with NewcWriter(in_memory) as w:
            w.add_dir("/d")
            w.add_file_span("/d/f", fd, 100, 1280, mode=0o600)
            w.add_symlink("/l", "d/f")
        with open(tmp_path / "out.cpio", "wb") as out, NewcWriter(out) as w:
            w.add_dir("/d")
            w.add_file_span("/d/f", fd, 100, 1280, mode=0o600)
            w.add_symlink("/l", "d/f")
        with pytest.raises(CpioError, match="announced 99 bytes, got 7"):
            NewcWriter(io.BytesIO()).add_file_span("/short", fd, 1380, 99)
    finally:
        os.close(fd)
    assert in_memory.getvalue() == expected.getvalue()
    assert (tmp_path / "out.cpio").read_bytes() == expected.getvalue()


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    return python_image(tmp_path_factory.mktemp("img") / "root")


def test_rootfs_keeps_usrmerge_symlinks_and_modes(handmade):
    image, closure = handmade
    rootfs = materialise(image, ["/lib64/ld-linux-x86-64.so.2", "/usr/local/bin/python3"])
    entries = rootfs.entries
    assert entries["/lib64"].kind == SYMLINK and entries["/lib64"].linkname == "usr/lib64"
    # the loader is itself a symlink into /lib -> usr/lib: every hop is kept, and the real file
    assert entries["/usr/lib64/ld-linux-x86-64.so.2"].kind == SYMLINK
    assert entries["/lib"].kind == SYMLINK
    assert entries["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"].kind == FILE
    assert entries["/usr/local/bin/python3"].linkname == "python3.12"
    real = entries["/usr/local/bin/python3.12"]
    assert real.kind == FILE and real.mode & 0o111
    order = [e.path for e in rootfs.sorted()]
    for path in order[1:]:
        parent = os.path.dirname(path)
        assert order.index(parent) < order.index(path), path


def test_rootfs_layout_excludes_and_skips_devices(tmp_path, handmade):
    image, _ = handmade
    if not (image.root / "dev/fifo").exists():
        os.mkfifo(image.root / "dev/fifo")
    layout = Layout(exclude=lambda p: p == "/etc/hostname", dirs=(("/tmp", 0o1777),))
    rootfs = materialise(image, ["/etc/hostname", "/app/main.py", "/nowhere/file", "/dev/fifo"], layout)
    assert "/etc/hostname" not in rootfs.entries and "/dev/fifo" not in rootfs.entries
    assert "/dev/fifo: fifo node left out" in rootfs.skipped
    assert rootfs.entries["/tmp"].mode == 0o1777
    assert any("/nowhere/file" in s for s in rootfs.skipped)


def test_rootfs_cpio_matches_listing_and_contents(tmp_path, handmade):
    image, closure = handmade
    rootfs = materialise(image, closure.paths())
    archive = tmp_path / "r.cpio"
    with open(archive, "wb") as out:
        rootfs.write_cpio(out)
    expected = [e.path.lstrip("/") for e in rootfs.sorted() if e.path != "/"]
    assert cpio_members(archive) == expected
    dest = tmp_path / "x"
    dest.mkdir()
    _cpio_extract(archive.read_bytes(), dest)
    assert (dest / "app/main.py").read_bytes() == (image.root / "app/main.py").read_bytes()
    assert (dest / "usr/local/bin/python3.12").stat().st_size == (image.root / "usr/local/bin/python3.12").stat().st_size


def test_iso_rock_ridge_listing_by_xorriso(tmp_path, handmade):
    image, _ = handmade
    rootfs = materialise(image, ["/app/main.py", "/lib64/ld-linux-x86-64.so.2"])
    iso = tmp_path / "a.iso"
    write_iso(rootfs, iso, tmp_path / "scratch")
    expected = sorted(e.path.lstrip("/") for e in rootfs.sorted() if e.path != "/")
    assert sorted(iso_members(iso)) == expected
    out = subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/app/main.py",
                          str(tmp_path / "main.py")], capture_output=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "main.py").read_bytes() == (image.root / "app/main.py").read_bytes()


def test_oci_layout_read_by_skopeo_and_loaded_by_docker(tmp_path, handmade):
    image, closure = handmade
    rootfs = materialise(image, closure.paths())
    manifest, layers = write_oci_image(tmp_path / "layout", [rootfs.write_tar], image.raw_config,
                                       "faktory-test/formats:latest", "test")
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{tmp_path / 'layout'}:faktory-test/formats:latest"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(raw)["layers"][0]["digest"] == layers[0].digest
    write_docker_archive(tmp_path / "layout", tmp_path / "image.tar", "faktory-test/formats:latest")
    subprocess.run(["docker", "load", "-i", str(tmp_path / "image.tar")], check=True, capture_output=True)
    run = subprocess.run(["docker", "run", "--rm", "--network=none", "faktory-test/formats:latest"],
                         capture_output=True, text=True)
    assert run.stdout.strip() == "hello from ['world']"


def test_unikraft_cmdline_quotes_env_and_argv():
    line = kernel_cmdline({"A": 'say "hi"', "B": "1"}, ["/usr/bin/python3", "-c", "print(1)", "two words"])
    assert line.startswith('vfs.fstab=[ "initrd0:/:extract::ramfs=1:" ] env.vars=[ "A=say \\"hi\\"" "B=1" ] -- ')
    assert line.endswith('-- /usr/bin/python3 -c print(1) "two words"')


def test_rumprun_config_repeats_env_key():
    text = rumprun_config("python.hvt -m main", {"PYTHONHOME": "/python", "X": "1"})
    assert text.count('"env":') == 2
    assert text.startswith('{"cmdline": "python.hvt -m main", "env": "PYTHONHOME=/python", "env": "X=1", "blk": ')
