"""`faktory inspect` as a user runs it: a real process, real files; errors are one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.imagefab import LayerTar, compress, sha, write_docker_archive

FAKTORY = [sys.executable, "-m", "faktory"]


def image_layers() -> list[bytes]:
    base = (LayerTar().dir("usr").dir("usr/lib").symlink("lib", "usr/lib").file("usr/lib/libpython.so", b"L" * 5000)
            .dir("app").file("app/main.py", b"print('hi')\n", mode=0o755).file("app/tmp.log", b"x" * 100))
    top = LayerTar().whiteout("app/tmp.log").file("app/cfg.toml", b"[a]\n")
    return [base.bytes(), top.bytes()]


@pytest.fixture
def sandbox(tmp_path):
    """Where the command may write (cache) and where it must not (cwd, HOME)."""
    dirs = {name: tmp_path / name for name in ("cache", "work", "home")}
    for d in dirs.values():
        d.mkdir()
    env = dict(os.environ, FAKTORY_CACHE_DIR=str(dirs["cache"]), HOME=str(dirs["home"]))
    env.pop("DOCKER_CONFIG", None)

    def run(*args: str, check_clean: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(FAKTORY + list(args), cwd=dirs["work"], env={**env, **extra_env}, capture_output=True,
                              text=True, timeout=120)
        if check_clean:
            assert list(dirs["work"].iterdir()) == [] and list(dirs["home"].iterdir()) == []
        return proc

    run.dirs = dirs
    return run


@pytest.fixture
def archive(tmp_path) -> Path:
    return write_docker_archive(tmp_path / "app.tar", image_layers(), tag="shop/app:1.0")


def test_summary_names_what_a_docker_user_expects(sandbox, archive):
    proc = sandbox("inspect", f"docker-archive:{archive}")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    for expected in ("Digest", "sha256:", "linux/amd64", "8080/tcp", "PATH=/usr/bin", "History", "layer 0",
                     "layer 1", "Layers", "Total"):
        assert expected in out, expected
    assert "2 layers" in out and "100 B hidden by later layers" in out  # the units faktory.units writes


def test_piped_summary_keeps_each_value_on_one_line(sandbox, archive):
    """`faktory inspect … | grep Digest`: stdout is a pipe here, so nothing wraps or is cut short."""
    doc = json.loads(sandbox("inspect", "--json", f"docker-archive:{archive}").stdout)
    proc = sandbox("inspect", f"docker-archive:{archive}", COLUMNS="40")
    lines = proc.stdout.splitlines()
    assert [line.split() for line in lines if line.startswith("Digest")] == [["Digest", doc["digest"]]]
    assert [line.split() for line in lines if line.startswith("Env")] == [["Env", "PATH=/usr/bin"]]
    for layer in doc["layers"]:  # the full diff_id, not the terminal's 19 characters
        assert any(layer["diff_id"] in line for line in lines), layer["diff_id"]


def test_json_document_is_stable_and_complete(sandbox, archive):
    proc = sandbox("inspect", "--json", f"docker-archive:{archive}")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "faktory.inspect/v1"
    assert set(doc) >= {"ref", "source", "digest", "index_digest", "config_digest", "platform", "config", "layers",
                        "history", "size", "compressed_size", "files"}
    layers = image_layers()
    assert [layer["diff_id"] for layer in doc["layers"]] == [sha(layer) for layer in layers]
    assert doc["size"] == sum(len(layer) for layer in layers)
    assert doc["config"]["cmd"] == ["/bin/app"] and doc["config"]["exposed_ports"] == ["8080/tcp"]
    assert [(h["layer_index"], h["empty_layer"]) for h in doc["history"]] == [(None, True), (0, False), (1, False)]
    assert doc["history"][1]["size"] == len(layers[0])
    assert doc["digest"] == doc["config_digest"] and doc["source"] == "docker-archive"
    assert doc["shadowed_bytes"] == 100  # app/tmp.log, deleted by the second layer


def test_ls_lists_the_merged_tree(sandbox, archive):
    proc = sandbox("inspect", "--ls", "/app", f"docker-archive:{archive}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[-1] for line in lines] == ["/app", "/app/cfg.toml", "/app/main.py"]
    assert lines[2].startswith("-rwxr-xr-x") and " 12 " in lines[2]
    through_symlink = sandbox("inspect", "--ls", "/lib", "--json", f"docker-archive:{archive}")
    paths = [e["path"] for e in json.loads(through_symlink.stdout)["ls"]]
    assert paths == ["/usr/lib", "/usr/lib/libpython.so"]


def test_oci_layout_platform_option(sandbox, tmp_path):
    from tests.imagefab import manifest_for, write_oci_layout

    root = tmp_path / "layout"
    write_oci_layout(root, [(manifest_for(root, image_layers(), "zstd"), {"os": "linux", "architecture": "amd64"}, None)])
    ok = sandbox("inspect", "--json", "--platform", "linux/amd64", f"oci:{root}")
    assert ok.returncode == 0 and json.loads(ok.stdout)["layers"][0]["media_type"].endswith("+zstd")
    missing = sandbox("inspect", "--platform", "linux/arm64", f"oci:{root}")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"faktory: error: oci:{root}: no image for platform linux/arm64 (available: linux/amd64)"
    bad = sandbox("inspect", "--platform", "amd64", f"oci:{root}")
    assert bad.returncode == 2 and "os/arch" in bad.stderr


def _one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faktory: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_inputs_are_one_line_errors(sandbox, tmp_path):
    slip = write_docker_archive(tmp_path / "slip.tar", [LayerTar().file("../../../tmp/evil", b"x").bytes()])
    _one_line_error(sandbox("inspect", f"docker-archive:{slip}"), "climbs above the image root")
    assert not Path("/tmp/evil").exists()

    link = write_docker_archive(tmp_path / "link.tar", [LayerTar().hardlink("bin/sh", "../../etc/shadow").bytes()])
    _one_line_error(sandbox("inspect", f"docker-archive:{link}"), "climbs above the image root")

    dangling = write_docker_archive(tmp_path / "dang.tar", [LayerTar().hardlink("bin/sh", "not/there").bytes()])
    _one_line_error(sandbox("inspect", f"docker-archive:{dangling}"), "hardlink")

    gz, _ = compress(image_layers()[0], "gzip")
    truncated = write_docker_archive(tmp_path / "trunc.tar", [gz[: len(gz) // 2]],
                                     config=json.dumps({"rootfs": {"diff_ids": [sha(image_layers()[0])]}}).encode())
    _one_line_error(sandbox("inspect", f"docker-archive:{truncated}"), "truncated gzip")

    tampered = write_docker_archive(tmp_path / "tamp.tar", image_layers(), tamper_layer=0)
    _one_line_error(sandbox("inspect", f"docker-archive:{tampered}"), "layer 0", "the config says")

    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("hello")
    _one_line_error(sandbox("inspect", f"docker-archive:{not_tar}"), "not a docker save tarball")

    _one_line_error(sandbox("inspect", "docker://Bad_Name/x"), "invalid")
    _one_line_error(sandbox("inspect", f"oci:{tmp_path}/none"), "no such directory")


def test_symlink_loop_image_loads_and_ls_reports_it(sandbox, tmp_path):
    looped = write_docker_archive(tmp_path / "loop.tar", [
        LayerTar().dir("etc").symlink("etc/a", "b").symlink("etc/b", "a").file("etc/ok", b"fine").bytes()])
    listing = sandbox("inspect", "--ls", "/etc", f"docker-archive:{looped}")
    assert listing.returncode == 0 and "/etc/a -> b" in listing.stdout
    _one_line_error(sandbox("inspect", "--ls", "/etc/a/x", f"docker-archive:{looped}"), "symbolic links")


def test_daemon_not_running(sandbox):
    proc = sandbox("inspect", "docker-daemon:faktory-fixture/flask:latest", DOCKER_HOST="unix:///nonexistent/docker.sock")
    _one_line_error(proc, "cannot reach the Docker engine at unix:///nonexistent/docker.sock")


def test_unusable_cache_dir_is_a_one_line_error(sandbox, archive, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache should go")
    proc = sandbox("inspect", f"docker-archive:{archive}", FAKTORY_CACHE_DIR=str(blocker / "cache"))
    _one_line_error(proc, "cannot use the layer cache")
