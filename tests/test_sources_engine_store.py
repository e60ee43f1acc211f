"""The daemon's cold path through the engine's overlay2 store, against the real engine.

An image is `docker load`ed from hand-made layers; the layers rebuilt from the store must be those layers byte
for byte. A store whose files no longer match their tar-split record is never trusted: the reader falls back
to `docker save` and the image fails its digest check with one clear error.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from faktory.cache import LayerCache
from faktory.errors import FaktoryError
from faktory.sources import engine_store, open_image
from faktory.sources.engine import inspect_image
from tests.imagefab import LayerTar, sha, write_docker_archive


def _tricky_layers(marker: bytes) -> list[bytes]:
    big = os.urandom(3 << 20)  # crosses the reader's 1 MiB chunks
    base = (LayerTar().dir("app").file("app/big.bin", big).file("app/empty").file("app/id", marker)
            .file("app/caf\udce9.txt", b"latin-1 name").dir("app/deep").dir("app/deep/er")
            .file("app/deep/er/x.py", b"x = 1\n").file("app/z.py", b"z\n").symlink("app/link", "deep/er/x.py")
            .fifo("app/pipe").hardlink("app/again.bin", "app/big.bin").dir("etc").file("etc/conf", b"a=1\n"))
    top = (LayerTar().whiteout("app/z.py").opaque("etc").file("etc/other", b"b=2\n")
           .file("app/deep/er/y.py", b"y = 2\n"))
    return [base.bytes(), top.bytes()]


@pytest.fixture
def loaded(tmp_path, services):
    """(tag, layer tars) of an image of its own in the engine, removed afterwards."""
    marker = uuid.uuid4().hex.encode()
    layers = _tricky_layers(marker)
    tag = f"faktory-test/store-{marker[:10].decode()}:v1"
    archive = write_docker_archive(tmp_path / "image.tar", layers, tag=tag)
    subprocess.run(["docker", "load", "-i", str(archive)], check=True, capture_output=True)
    yield tag, layers, archive
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def test_store_rebuilds_every_layer_byte_for_byte(loaded, tmp_path):
    tag, layers, archive = loaded
    cache = LayerCache(tmp_path / "cache")
    assert engine_store.fill_from_store(inspect_image(tag), cache, tag)
    for layer in layers:
        ix = cache.get(sha(layer))
        assert ix is not None and Path(ix.tar_path).read_bytes() == layer
    from_store = open_image(f"docker-daemon:{tag}", cache=cache)
    from_archive = open_image(f"docker-archive:{archive}", cache=LayerCache(tmp_path / "other"))
    assert from_store.digest == from_archive.digest
    assert [(e.path, e.kind, e.size, e.linkname) for e in from_store.fs.walk()] == \
        [(e.path, e.kind, e.size, e.linkname) for e in from_archive.fs.walk()]
    assert from_store.fs.read_bytes("/app/caf\udce9.txt") == b"latin-1 name"
    assert from_store.fs.listdir("/etc") == ["other"]


def test_tampered_store_is_not_trusted(loaded, tmp_path):
    tag, layers, _ = loaded
    attrs = inspect_image(tag)
    root = engine_store.store_root(attrs)
    assert root is not None
    base_chain = engine_store.chain_ids(attrs["RootFS"]["Layers"])[0]
    cache_id = (root / "image/overlay2/layerdb/sha256" / base_chain[7:] / "cache-id").read_text().strip()
    target = root / "overlay2" / cache_id / "diff" / "app" / "id"
    target.write_bytes(b"X" * len(target.read_bytes()))  # same size, other bytes: only the digest can tell
    cache = LayerCache(tmp_path / "cache")
    assert not engine_store.fill_from_store(attrs, cache, tag)
    assert cache.get(sha(layers[0])) is None  # nothing half-checked was kept
    with pytest.raises(FaktoryError) as caught:
        open_image(f"docker-daemon:{tag}", cache=cache)
    assert "\n" not in str(caught.value), str(caught.value)
    assert cache.get(sha(layers[0])) is None


def test_store_is_used_only_for_a_local_engine(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert engine_store.enabled()
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    assert not engine_store.enabled()
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    monkeypatch.setenv("FAKTORY_ENGINE_STORE", "0")
    assert not engine_store.enabled()


def test_store_root_needs_overlay2():
    assert engine_store.store_root({"GraphDriver": {"Name": "vfs", "Data": {}}}) is None
    assert engine_store.store_root({"GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": "/x/diff"}}}) is None


def test_chain_ids_follow_the_engine_rule():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    import hashlib

    assert engine_store.chain_ids([a]) == [a]
    assert engine_store.chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]


def test_files_are_opened_beneath_the_layer_directory_only(tmp_path):
    layer = tmp_path / "diff"
    (layer / "usr" / "lib").mkdir(parents=True)
    (layer / "usr" / "lib" / "ok.so").write_bytes(b"ok")
    (layer / "escape").symlink_to("/etc")
    (layer / "usr" / "link.so").symlink_to("lib/ok.so")
    os.mkfifo(layer / "usr" / "pipe")
    with engine_store._Beneath(layer) as files:
        fd = files.open(b"usr/lib/ok.so")
        assert os.read(fd, 10) == b"ok"
        os.close(fd)
        for name in (b"escape/passwd", b"../diff/usr/lib/ok.so", b"usr/link.so", b"usr/pipe", b"usr/none", b""):
            with pytest.raises(engine_store._Unusable):
                files.open(name)
        fd = files.open(b"./usr/lib/ok.so")  # the directory chain survives the refusals
        os.close(fd)
