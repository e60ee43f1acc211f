"""Ground truth: for every fixture image and every source kind, the merged view equals `docker export`.

The engine is the oracle: a container created (never started) from the image and exported shows exactly the
image's filesystem plus what the engine adds at create time (/.dockerenv, /etc/hosts, /dev, /proc, …).
Compared per path: type, mode, size, link target, uid, gid and mtime.
Each source kind reads its own blobs into its own cache, so every reader is exercised on every layer; the
config, history and diff_ids must be the same whichever source the image came from. The daemon always reads
cold from the engine's overlay2 store (faktory.sources.engine_store), which must succeed for every fixture.
To keep the suite short, `docker save` (the daemon's other path) and the registry read their blobs cold for
the COLD fixtures only; for the others the registry loads through its warm path (manifest + the layers the
OCI-layout reader cached: the same blobs by digest).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile

import pytest

from faktory.cache import LayerCache
from faktory.sources import open_image
from faktory.sources.engine import inspect_image
from faktory.sources.engine_store import fill_from_store

FIXTURES = [
    "py3.8-slim", "py3.11-slim", "py3.12-slim", "py3.13-slim", "debian-python", "flask", "fastapi", "requests-cli",
    "numpy", "pkg-app", "multistage", "whiteout", "runenv-python-3.12",
]
SOURCES = ["docker-archive", "daemon", "oci", "registry"]
COLD = {"flask", "whiteout"}

# What `docker create` adds to every container (the engine's init layer and mount points).
CREATED_FILES = {"/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab"}
CREATED_TREES = ("/dev", "/proc", "/sys")
ENGINE_TOUCHED = {"/etc"}  # gets the files above: its mtime is the container's, not the image's


def _engine_added(path: str) -> bool:
    return path in CREATED_FILES or any(path == t or path.startswith(t + "/") for t in CREATED_TREES)


def _exported(tag: str) -> tuple[dict[str, tuple], dict[str, str]]:
    """(path -> attributes, path -> sha256 of the content) of `docker export`."""
    cid = subprocess.run(["docker", "create", "--network=none", tag, "/nonexistent"], check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        proc = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
        view: dict[str, tuple] = {}
        contents: dict[str, str] = {}
        links: dict[str, str] = {}
        with tarfile.open(fileobj=proc.stdout, mode="r|", encoding="utf-8", errors="surrogateescape") as tf:
            for info in tf:
                name = info.name[2:] if info.name.startswith("./") else info.name
                path = "/" + name.strip("/")
                if path == "/" or _engine_added(path):
                    continue
                if info.islnk():
                    links[path] = "/" + info.linkname.strip("/")
                    continue
                kind = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
                        tarfile.SYMTYPE: "symlink", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block",
                        tarfile.FIFOTYPE: "fifo"}[info.type]
                view[path] = (kind, info.mode & 0o7777, info.size if kind == "file" else 0,
                              info.linkname if kind == "symlink" else "", info.uid, info.gid, _mtime(path, info.mtime))
                if kind == "file":
                    contents[path] = hashlib.sha256(tf.extractfile(info).read()).hexdigest()
        proc.wait()
        assert proc.returncode == 0
        for path, target in links.items():  # a hardlink is the same file under another name
            view[path] = view[target]
            contents[path] = contents[target]
        return view, contents
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


def _mtime(path: str, mtime: float) -> int | None:
    return None if path in ENGINE_TOUCHED else int(mtime)


def _merged(image) -> dict[str, tuple]:
    return {e.path: (e.kind, e.mode, e.size, e.linkname, e.uid, e.gid, _mtime(e.path, e.mtime))
            for e in image.fs.walk("/") if e.path != "/" and not _engine_added(e.path)}


@pytest.fixture(scope="module")
def source_caches(tmp_path_factory):
    caches = {source: LayerCache(tmp_path_factory.mktemp(f"cache-{source}")) for source in SOURCES}
    caches["registry"] = caches["oci"]
    yield caches
    for cache in caches.values():  # gigabytes of layer tars: do not leave them to pytest's retention
        shutil.rmtree(cache.root, ignore_errors=True)


def _ref(fixture, source: str) -> str:
    return {"daemon": f"docker-daemon:{fixture.tag}", "docker-save": f"docker-daemon:{fixture.tag}",
            "docker-archive": fixture.archive_ref, "oci": fixture.oci_ref,
            "registry": f"docker://{fixture.registry_ref}"}[source]


@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURES)
def test_every_source_matches_docker_export(name, fixture_images, source_caches, tmp_path, monkeypatch):
    fixture = fixture_images[name]
    caches = dict(source_caches)
    caches["daemon"] = LayerCache(tmp_path / "daemon-cache")
    sources = list(SOURCES)
    if name in COLD:
        caches["registry"] = LayerCache(tmp_path / "registry-cache")
        caches["docker-save"] = LayerCache(tmp_path / "save-cache")
        sources.append("docker-save")
    try:
        # The engine's store must serve every layer itself: a silent fall back to `docker save` fails here.
        assert fill_from_store(inspect_image(fixture.tag), caches["daemon"], fixture.tag)
        _check_sources(name, fixture, caches, sources, monkeypatch)
    finally:
        for sub in ("daemon-cache", "registry-cache", "save-cache"):
            shutil.rmtree(tmp_path / sub, ignore_errors=True)


def _open(fixture, source: str, cache: LayerCache, monkeypatch):
    with monkeypatch.context() as env:
        if source == "docker-save":
            env.setenv("FAKTORY_ENGINE_STORE", "0")
        return open_image(_ref(fixture, source), cache=cache)


def _check_sources(name, fixture, caches, sources, monkeypatch) -> None:
    truth, contents = _exported(fixture.tag)
    images = {source: _open(fixture, source, caches[source], monkeypatch) for source in sources}
    first = images["daemon"]
    for source, image in images.items():
        assert image.source == ("daemon" if source == "docker-save" else source)
        merged = _merged(image)
        missing = sorted(set(truth) - set(merged))[:5]
        extra = sorted(set(merged) - set(truth))[:5]
        assert not missing and not extra, f"{name} via {source}: missing {missing}, extra {extra}"
        differ = [(p, merged[p], truth[p]) for p in truth if merged[p] != truth[p]][:5]
        assert not differ, f"{name} via {source}: (path, ours, docker export) {differ}"
        assert image.diff_ids == first.diff_ids
        assert image.config == first.config and image.history == first.history
        assert image.size == sum(layer.uncompressed_size for layer in image.layers) > 0
    if name == "whiteout":  # its later layer deletes files: they are stored, shadowed, and not in the export
        hidden = [e for e in first.fs.shadowed() if e.kind == "file"]
        assert hidden and not any(e.path in truth for e in hidden if first.fs.entry(e.path) is None)
    # The engine's config is Docker-format; a copy to OCI (layout, registry) rewrites it, byte for byte alike.
    assert images["docker-archive"].raw_config == first.raw_config
    assert images["docker-archive"].config_digest == first.config_digest == (fixture.image_id or first.config_digest)
    assert images["oci"].raw_config == images["registry"].raw_config
    assert images["oci"].digest == images["registry"].digest
    # The bytes behind every entry are the bytes docker has (read lazily from the cached layer tars).
    different = [p for p, digest in contents.items() if hashlib.sha256(first.fs.read_bytes(p)).hexdigest() != digest]
    assert not different, f"{name}: content differs from docker export for {different[:5]}"


@pytest.mark.slow
def test_auth_registry_serves_the_same_image(fixture_images, services, tmp_path, monkeypatch):
    fixture = fixture_images["flask"]
    if not fixture.auth_registry_ref:
        pytest.fail("the flask fixture was not pushed to the auth registry")
    token = base64.b64encode(f"{services.registry_user}:{services.registry_password}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {services.auth_registry: {"auth": token}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    cache = LayerCache(tmp_path / "cache")
    via_auth = open_image(f"docker://{fixture.auth_registry_ref}", cache=cache)
    anonymous = open_image(f"docker://{fixture.registry_ref}", cache=cache)
    assert via_auth.digest == anonymous.digest and via_auth.diff_ids == anonymous.diff_ids
    assert _merged(via_auth) == _merged(anonymous)
