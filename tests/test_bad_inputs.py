"""The bad-input corpus: each case as a user meets it, a real `faktory` process on real files.

A refusal is exit 2 and one line on stderr, with no traceback, nothing written outside -o (the working
directory and HOME stay empty, the cache keeps no temp file or partial layer) and no partial output. Inputs
the analysis can live with (a syntax error, a module too big or too deep to parse) are findings instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.handmade import python_layer as build_python_layer
from tests.imagefab import LayerTar, compress, config_for, manifest_for, sha, write_blob, write_docker_archive, \
    write_oci_layout

FAKTORY = [sys.executable, "-m", "faktory"]
PY_CMD = ("python3", "/app/main.py")
PY_ENV = ("PATH=/usr/local/bin:/usr/bin:/bin", "LD_LIBRARY_PATH=/usr/local/lib")


@pytest.fixture(scope="module")
def python_layer(tmp_path_factory) -> bytes:
    """A usrmerged root with a real CPython (from the host's pyenv), as one layer tar."""
    return build_python_layer(tmp_path_factory.mktemp("pyroot") / "root")


class Sandbox:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.cache, self.work, self.home = (tmp / n for n in ("cache", "work", "home"))
        for d in (self.cache, self.work, self.home):
            d.mkdir()
        self.env = dict(os.environ, FAKTORY_CACHE_DIR=str(self.cache), HOME=str(self.home))
        self.env.pop("DOCKER_CONFIG", None)

    def run(self, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(FAKTORY + list(args), cwd=self.work, env={**self.env, **env}, capture_output=True,
                              text=True, timeout=timeout)
        assert list(self.work.iterdir()) == [] and list(self.home.iterdir()) == []
        assert not list((self.cache / "v1" / "tmp").glob("*")), "a temp file was left in the cache"
        return proc

    def refused(self, *args: str, fragments: tuple[str, ...] = (), out: Path | None = None,
                **env: str) -> str:
        proc = self.run(*args, **env)
        assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("faktory: error: "), proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        for fragment in fragments:
            assert fragment in lines[0], lines[0]
        if out is not None:
            assert not out.exists(), "partial output"
            assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")], "staging left"
        return lines[0]

    def convert_refused(self, ref: str, *fragments: str, **env: str) -> str:
        out = self.tmp / "out" / "result"
        out.parent.mkdir(exist_ok=True)
        return self.refused("convert", ref, "--to", "oci", "-o", str(out), fragments=fragments, out=out, **env)

    def findings(self, ref: str) -> list[dict]:
        proc = self.run("analyze", ref, "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)["findings"]


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


def archive(tmp: Path, layers: list[bytes], name: str = "img.tar", **config_fields) -> str:
    doc = json.loads(config_for(layers, cmd=PY_CMD, env=PY_ENV))
    doc["config"].update(config_fields)
    path = write_docker_archive(tmp / name, layers, config=json.dumps(doc).encode())
    return f"docker-archive:{path}"


def app_layer(**files: bytes | str) -> bytes:
    layer = LayerTar().dir("app")
    for name, data in files.items():
        layer.file(f"app/{name}", data.encode() if isinstance(data, str) else data)
    return layer.bytes()


# ------------------------------------------------------------------------------------------ config fields

@pytest.mark.parametrize("field, value", [("Env", 42), ("ExposedPorts", ["8080/tcp"]), ("Labels", ["a=b"]),
                                          ("WorkingDir", ["/app"]), ("Cmd", {"a": 1})])
def test_config_fields_of_the_wrong_type(sandbox, tmp_path, field, value):
    ref = archive(tmp_path, [LayerTar().file("app/x", b"x").bytes()], **{field: value})
    sandbox.convert_refused(ref, f"config.{field} must be")
    sandbox.refused("inspect", ref, fragments=(f"config.{field}",))


# ------------------------------------------------------------------------------------------ entrypoint

@pytest.mark.parametrize("kind", ["fifo", "char"])
def test_entrypoint_script_that_is_a_fifo_or_a_device(sandbox, tmp_path, python_layer, kind):
    top = LayerTar().dir("app")
    if kind == "fifo":
        top.fifo("app/run")
    else:
        top.tf.addfile(top._info("app/run", tarfile.CHRTYPE, 0o755, devmajor=1, devminor=3))
    doc = json.loads(config_for([python_layer, top.bytes()], cmd=("/app/run",), env=PY_ENV))
    layers = [python_layer, top.bytes()]
    doc["rootfs"]["diff_ids"] = [sha(x) for x in layers]
    path = write_docker_archive(tmp_path / "ep.tar", layers, config=json.dumps(doc).encode())
    sandbox.convert_refused(f"docker-archive:{path}", "/app/run")


def test_syntax_error_in_the_entrypoint_script_is_a_finding(sandbox, tmp_path, python_layer):
    ref = archive(tmp_path, [python_layer, app_layer(**{"main.py": "import json\ndef broken(:\n    pass\n"})])
    found = [f for f in sandbox.findings(ref) if f["kind"] == "syntax-error"]
    assert found and found[0]["location"].startswith("/app/main.py:2"), found


def test_deep_expression_is_a_finding_not_a_crash(sandbox, tmp_path, python_layer):
    deep = "import json\nx = " + "-" * 100_000 + "1\n"
    ref = archive(tmp_path, [python_layer, app_layer(**{"main.py": "import deep\n", "deep.py": deep})])
    found = [f for f in sandbox.findings(ref) if f["kind"] == "not-scanned"]
    assert [f["location"] for f in found] == ["/app/deep.py:1"] and "nested too deeply" in found[0]["message"]


def test_a_50_mb_single_line_module_never_hangs(sandbox, tmp_path, python_layer):
    big = b"DATA = [" + b"1," * (25 << 20) + b"]"
    ref = archive(tmp_path, [python_layer, app_layer(**{"main.py": "import big\n", "big.py": big})])
    started = time.monotonic()
    found = [f for f in sandbox.findings(ref) if f["kind"] == "not-scanned"]
    assert time.monotonic() - started < 120
    assert [f["location"] for f in found] == ["/app/big.py:1"] and "scan limit" in found[0]["message"]
    # under the size limit, the time limit ends it (the parser runs in a child a deadline kills)
    slow = b"DATA = [" + b"1," * (3 << 20) + b"]"
    ref = archive(tmp_path, [python_layer, app_layer(**{"main.py": "import big\n", "big.py": slow})], "slow.tar")
    proc = sandbox.run("analyze", ref, "--json", FAKTORY_MODULE_SCAN_SECONDS="1")
    found = [f for f in json.loads(proc.stdout)["findings"] if f["kind"] == "not-scanned"]
    assert found and "took over 1 s" in found[0]["message"]


def test_a_scan_that_timed_out_is_not_cached(sandbox, tmp_path, python_layer):
    slow = "DATA = [" + "1," * 100_000 + "]\n"  # parsed in well under a second, never in a millisecond
    ref = archive(tmp_path, [python_layer, app_layer(**{"main.py": "import slow\n", "slow.py": slow})])

    def unscanned(**env: str) -> list[str]:
        proc = sandbox.run("analyze", ref, "--json", **env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return [f["message"] for f in json.loads(proc.stdout)["findings"]
                if f["kind"] == "not-scanned" and f["location"] == "/app/slow.py:1"]

    assert any("took over" in m for m in unscanned(FAKTORY_MODULE_SCAN_SECONDS="0.001"))
    assert unscanned() == []  # same cache, default limit: scanned now, not the timeout remembered


# ------------------------------------------------------------------------------------------ output dir

def test_enospc_on_the_output_filesystem(sandbox, tmp_path, python_layer):
    ref = archive(tmp_path, [python_layer, app_layer(**{"main.py": "print('hi')\n"})])
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        out = mnt / "result"
        sandbox.refused("convert", ref, "--to", "microvm", "-o", str(out), fragments=("No space left",), out=out)
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_output_under_proc(sandbox, tmp_path, python_layer):
    ref = archive(tmp_path, [python_layer, app_layer(**{"main.py": "print('hi')\n"})])
    sandbox.refused("convert", ref, "--to", "oci", "-o", "/proc/self/x", fragments=("cannot write /proc/self/x",))


# ------------------------------------------------------------------------------------------ layer limits

def test_gzip_bomb_is_refused_by_ratio(sandbox, tmp_path):
    layer = LayerTar().file("zeros", bytes(96 << 20)).bytes()  # under 1 MiB of gzip
    root = tmp_path / "bomb"
    write_oci_layout(root, [(manifest_for(root, [layer], "gzip"), None, None)])
    line = sandbox.convert_refused(f"oci:{root}", "layer 0", "inflates more than 200:1")
    assert list((sandbox.cache / "v1" / "layers").iterdir()) == []
    assert "FAKTORY_MAX_LAYER_RATIO" in line


def test_layer_size_limit_and_cache_quota(sandbox, tmp_path):
    layer = LayerTar().file("data", os.urandom(3 << 20)).bytes()
    ref = archive(tmp_path, [layer])
    sandbox.refused("inspect", ref, fragments=("layer 0", "exceeds the 2.0 MiB limit"), FAKTORY_MAX_LAYER_SIZE="2MiB")
    sandbox.refused("inspect", ref, fragments=("quota",), FAKTORY_CACHE_QUOTA="1MB")
    assert list((sandbox.cache / "v1" / "layers").iterdir()) == []
    sandbox.refused("inspect", ref, fragments=("FAKTORY_CACHE_QUOTA",), FAKTORY_CACHE_QUOTA="lots")
    assert sandbox.run("inspect", ref).returncode == 0  # the defaults let it through


# ------------------------------------------------------------------------------------------ sources

def test_oci_archive_given_a_file_that_is_no_archive(sandbox, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n" * 100)
    sandbox.refused("inspect", f"oci-archive:{notes}", fragments=("is not an OCI archive",))


def test_directory_given_as_docker_archive(sandbox, tmp_path):
    layout = write_oci_layout(tmp_path / "layout", [(manifest_for(tmp_path / "layout", [app_layer(x="1")]),
                                                     None, None)])
    sandbox.refused("inspect", f"docker-archive:{layout}", fragments=("is a directory", "oci:DIR"))


def good_layout(root: Path) -> Path:
    return write_oci_layout(root, [(manifest_for(root, [app_layer(x="1")]), None, None)])


def test_oci_blob_path_that_is_a_directory(sandbox, tmp_path):
    root = good_layout(tmp_path / "layout")
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads((root / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    blob = root / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    blob.unlink()
    blob.mkdir()
    sandbox.convert_refused(f"oci:{root}", "Is a directory")


@pytest.mark.parametrize("case", ["no oci-layout", "version 9.9.9", "text/html entry", "layer-typed config"])
def test_lenient_layouts_are_refused(sandbox, tmp_path, case):
    root = good_layout(tmp_path / "layout")
    index = json.loads((root / "index.json").read_text())
    if case == "no oci-layout":
        (root / "oci-layout").unlink()
        want = "no oci-layout file"
    elif case == "version 9.9.9":
        (root / "oci-layout").write_text('{"imageLayoutVersion": "9.9.9"}')
        want = "imageLayoutVersion '9.9.9'"
    elif case == "text/html entry":
        index["manifests"][0]["mediaType"] = "text/html"
        want = "'text/html'"
    else:
        manifest = json.loads((root / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
        manifest["config"]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        index["manifests"][0].update(write_blob(root, json.dumps(manifest).encode()))
        want = "not a config"
    (root / "index.json").write_text(json.dumps(index))
    sandbox.convert_refused(f"oci:{root}", want)


def test_digest_syntax_is_strict_even_when_the_cache_is_warm(sandbox, tmp_path):
    root = good_layout(tmp_path / "layout")
    assert sandbox.run("inspect", f"oci:{root}").returncode == 0  # warm the cache
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads((root / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    manifest["layers"][0]["digest"] = "sha256:../../../../etc/passwd"
    index["manifests"][0].update(write_blob(root, json.dumps(manifest).encode()))
    (root / "index.json").write_text(json.dumps(index))
    sandbox.convert_refused(f"oci:{root}", "malformed digest", "sha256:../../../../etc/passwd")


def test_a_tampered_layout_is_caught_with_a_warm_cache(sandbox, tmp_path):
    root = good_layout(tmp_path / "layout")
    assert sandbox.run("inspect", f"oci:{root}").returncode == 0
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads((root / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    blob = root / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    original = blob.read_bytes()
    blob.write_bytes(compress(app_layer(x="evil"), "gzip")[0])
    sandbox.convert_refused(f"oci:{root}", "layer 0", "the manifest says")
    blob.write_bytes(original)
    config = root / "blobs/sha256" / manifest["config"]["digest"][7:]
    config.write_bytes(config.read_bytes().replace(b'"yes"', b'"no!"'))
    sandbox.convert_refused(f"oci:{root}", "config blob", "expected")
