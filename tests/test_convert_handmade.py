"""convert() end to end on a hand-made image (a real CPython from the host, real glibc): atomic OUTDIR,
blockers and --force, --compact, and one real QEMU boot of the microvm output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from faktory.analyzers.model import BLOCKER, Finding
from faktory.emitters.base import EmitOptions
from faktory.emitters.convert import MANIFEST, OutdirInUse, UnknownTarget, convert
from faktory.errors import ConversionBlocked, FaktoryError
from faktory.runner.structure import cpio_members
from tests.handmade import python_image

FAKTORY = str(Path(__file__).resolve().parents[1] / ".venv/bin/faktory")


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    return python_image(tmp_path_factory.mktemp("img") / "root")


@pytest.fixture(scope="module")
def microvm_out(handmade, tmp_path_factory):
    image, closure = handmade
    out = tmp_path_factory.mktemp("mv") / "out"
    convert(image, closure, "microvm", out)
    return out


def test_manifest_and_readme_describe_the_output(microvm_out):
    doc = json.loads((microvm_out / MANIFEST).read_text())
    assert doc["target"] == "microvm" and doc["source"]["ref"] == "handmade:latest"
    assert set(doc["files"]) == {"vmlinuz", "initrd.cpio"}
    assert doc["files"]["initrd.cpio"] == (microvm_out / "initrd.cpio").stat().st_size
    assert doc["run"] == f"faktory run {microvm_out}"
    assert doc["run"] in (microvm_out / "README.md").read_text()
    # the first archive of the initrd is exactly the listed rootfs; the init overlay follows it
    assert cpio_members(microvm_out / "initrd.cpio") == doc["contents"]["initrd.cpio"]


def test_faktory_run_boots_prints_and_returns_the_app_exit_code(microvm_out):
    proc = subprocess.run([FAKTORY, "run", str(microvm_out), "--timeout", "400", "--", "python3", "/app/main.py",
                           "booted", "7"], capture_output=True, text=True, timeout=600)
    assert "hello from ['booted', '7']" in proc.stdout
    assert "faktory-init: exit status 7" in proc.stdout
    assert proc.returncode == 7, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_run_refuses_outputs_it_cannot_boot(handmade, tmp_path):
    image, closure = handmade
    convert(image, closure, "rumprun", tmp_path / "r", EmitOptions(force=True))
    proc = subprocess.run([FAKTORY, "run", str(tmp_path / "r")], capture_output=True, text=True)
    assert proc.returncode == 2 and "boots microvm, unikraft and nanos outputs" in proc.stderr
    # a nanos output boots only with Nanos' own kernel and mkfs: without an OPS installation, one line
    convert(image, closure, "nanos", tmp_path / "n")
    proc = subprocess.run([FAKTORY, "run", str(tmp_path / "n"), "--nanos", str(tmp_path)], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "kernel.img, boot.img and mkfs" in proc.stderr


def test_unknown_target_and_foreign_outdir_are_user_errors(handmade, tmp_path):
    image, closure = handmade
    with pytest.raises(UnknownTarget, match="unknown target 'vmware'"):
        convert(image, closure, "vmware", tmp_path / "o")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutdirInUse):
        convert(image, closure, "oci", foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_failure_leaves_no_partial_outdir(handmade, tmp_path):
    image, closure = handmade
    out = tmp_path / "out"
    with pytest.raises(FaktoryError, match="kernel"):
        convert(image, closure, "microvm", out, EmitOptions(kernel=tmp_path / "no-such-kernel"))
    assert not out.exists()
    assert os.listdir(tmp_path) == []  # no staging dir left behind either


def test_blockers_stop_unless_forced_and_forced_ones_are_recorded(handmade, tmp_path):
    image, closure = handmade
    with pytest.raises(ConversionBlocked, match="python-version"):
        convert(image, closure, "rumprun", tmp_path / "r")
    assert not (tmp_path / "r").exists()
    convert(image, closure, "rumprun", tmp_path / "r", EmitOptions(force=True))
    doc = json.loads((tmp_path / "r" / MANIFEST).read_text())
    assert [f["kind"] for f in doc["forced_blockers"]] == ["python-version"]
    assert doc["forced_blockers"][0]["severity"] == BLOCKER


def test_fork_fact_blocks_unikraft_with_location(handmade, tmp_path):
    image, closure = handmade
    closure.findings.append(Finding("subprocess", "subprocess.run", location="/app/main.py:3"))
    try:
        with pytest.raises(ConversionBlocked, match=r"/app/main.py:3"):
            convert(image, closure, "unikraft", tmp_path / "u")
    finally:
        closure.findings.pop()


def test_same_fact_in_a_library_is_only_a_warning(handmade, tmp_path):
    image, closure = handmade
    closure.findings.append(Finding("subprocess", "os.system", location="/usr/local/lib/python3.12/os.py:10"))
    try:
        from faktory.emitters.convert import check

        found = [f for f in check(closure, "unikraft") if f.kind == "subprocess"]
        assert len(found) == 1 and found[0].severity == "warning" and found[0].message.startswith("stdlib starts")
        convert(image, closure, "unikraft", tmp_path / "u")
        doc = json.loads((tmp_path / "u" / MANIFEST).read_text())
        assert [f["kind"] for f in doc["findings"]] == ["subprocess"] and doc["forced_blockers"] == []
    finally:
        closure.findings.pop()


def test_debug_sections_are_stripped_by_default_and_kept_on_request(handmade, tmp_path):
    image, closure = handmade
    convert(image, closure, "microvm", tmp_path / "plain")
    convert(image, closure, "microvm", tmp_path / "debug", EmitOptions(keep_debug=True))
    plain = json.loads((tmp_path / "plain" / MANIFEST).read_text())
    debug = json.loads((tmp_path / "debug" / MANIFEST).read_text())
    assert plain["debug_stripped"]["elf_files"] >= 1 and plain["debug_stripped"]["bytes_saved"] > 0
    assert "debug_stripped" not in debug
    saved = plain["debug_stripped"]["bytes_saved"]
    assert plain["files"]["initrd.cpio"] <= debug["files"]["initrd.cpio"] - saved + 4096  # cpio padding
    assert plain["contents"] == debug["contents"]  # the same files, only smaller


def test_compact_strips_elf_and_ships_sourceless_bytecode(handmade, tmp_path):
    image, closure = handmade
    debug = convert(image, closure, "oci", tmp_path / "debug", EmitOptions(keep_debug=True))
    plain = convert(image, closure, "oci", tmp_path / "plain")
    small = convert(image, closure, "oci", tmp_path / "small", EmitOptions(compact=True))
    doc = json.loads((tmp_path / "small" / MANIFEST).read_text())
    # this image has no __pycache__: each module ships the lighter of its source and its bytecode, weighed
    # deflated in a gzip'd layer (where source text, which deflates about twice as well, mostly wins)
    assert doc["compact"]["stripped_elf_files"] >= 1
    assert doc["compact"]["compiled_modules"] + doc["compact"]["kept_source"] >= 5
    assert "app/main.py" in doc["contents"]["layer"]  # the launched script keeps its source
    assert small.image.compressed_size < debug.image.compressed_size / 2
    assert small.image.compressed_size <= plain.image.compressed_size
    uncompressed = convert(image, closure, "unikraft", tmp_path / "uk", EmitOptions(compact=True, force=True))
    listed = uncompressed.contents["rootfs.cpio"]  # a plain cpio: bytes weigh as they are
    assert "usr/local/lib/python3.12/encodings/aliases.pyc" in listed
    assert "usr/local/lib/python3.12/encodings/aliases.py" not in listed
    assert small.details["uncompressed_layer_size"] <= plain.details["uncompressed_layer_size"]
    subprocess.run(["docker", "load", "-i", str(tmp_path / "small/image.tar")], check=True, capture_output=True)
    run = subprocess.run(["docker", "run", "--rm", "--network=none", small.image.tag],
                         capture_output=True, text=True)
    assert run.stdout.strip() == "hello from ['world']", run.stderr


def test_cli_convert_error_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([FAKTORY, "convert", "docker-archive:/nonexistent.tar", "--to", "oci", "-o",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("faktory: error: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_compact_microvm_initrd_is_gzip_then_an_aligned_overlay(handmade, tmp_path):
    import zlib

    image, closure = handmade
    convert(image, closure, "microvm", tmp_path / "c", EmitOptions(compact=True))
    data = (tmp_path / "c" / "initrd.cpio").read_bytes()
    inflate = zlib.decompressobj(wbits=31)
    rootfs = inflate.decompress(data)
    assert rootfs.startswith(b"070701")
    rest = inflate.unused_data
    overlay = rest.lstrip(b"\0")
    offset = len(data) - len(overlay)
    assert overlay.startswith(b"070701") and offset % 4 == 0  # Linux only reads a header at 4-byte offsets


def test_compact_takes_the_images_own_bytecode_and_is_never_larger(tmp_path):
    """A current `__pycache__` pyc of the image becomes the sourceless module as it is (no host compiler
    needed); a module whose bytecode is bigger than its source keeps the source."""
    import networkx as nx  # noqa: F401  (the closure graph is networkx)

    from tests.handmade import pyenv_prefix

    root = tmp_path / "root"
    image, closure = python_image(root)
    stdlib = root / "usr/local/lib/python3.12"
    python = str(pyenv_prefix("3.12") / "bin/python3.12")
    subprocess.run([python, "-m", "py_compile", str(stdlib / "encodings/utf_8.py")], check=True)
    cached = stdlib / "encodings/__pycache__/utf_8.cpython-312.pyc"
    assert cached.is_file()
    (root / "app/tiny.py").write_text("X = 1\n")
    closure.graph.add_node("file:/app/tiny.py", path="/app/tiny.py", size=6, kind="file")
    closure.graph.add_edge("entrypoint", "file:/app/tiny.py", reason="handmade")
    plain = convert(image, closure, "oci", tmp_path / "plain")
    small = convert(image, closure, "oci", tmp_path / "small", EmitOptions(compact=True))
    doc = json.loads((tmp_path / "small" / MANIFEST).read_text())
    assert doc["compact"]["from_image_cache"] >= 1
    assert doc["compact"]["kept_source"] >= 1 and "app/tiny.py" in doc["contents"]["layer"]
    assert "usr/local/lib/python3.12/encodings/utf_8.pyc" in doc["contents"]["layer"]
    assert "usr/local/lib/python3.12/encodings/__pycache__/utf_8.cpython-312.pyc" not in doc["contents"]["layer"]
    assert small.details["uncompressed_layer_size"] < plain.details["uncompressed_layer_size"]
    subprocess.run(["docker", "load", "-i", str(tmp_path / "small/image.tar")], check=True, capture_output=True)
    run = subprocess.run(["docker", "run", "--rm", "--network=none", small.image.tag, "python3", "-c",
                          "import encodings.utf_8 as m; print(m.__file__, type(m.__loader__).__name__)"],
                         capture_output=True, text=True)
    assert run.stdout.strip() == "/usr/local/lib/python3.12/encodings/utf_8.pyc SourcelessFileLoader", run.stderr
