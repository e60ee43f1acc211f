"""Every source kind on hand-made images: same Image whichever way it is read; every bad input a clear error.

Registry tests talk to the real local registries (anonymous and basic auth) from the `services` fixture; the
daemon tests to the real engine.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import subprocess
import sys
import threading
import uuid

import pytest
import requests

from faktory.cache import LayerCache
from faktory.errors import (
    AuthError, DigestMismatch, FaktoryError, ImageNotFound, InvalidImage, ReferenceError_, SourceUnavailable,
)
from faktory.image import Platform
from faktory.sources import open_image, reference
from faktory.registry import transport as transport_mod
from tests.imagefab import (
    LayerTar, compress, config_for, manifest_for, push_image, push_manifest, sha, write_blob,
    write_docker_archive, write_oci_layout,
)


def layers() -> list[bytes]:
    base = (LayerTar().dir("usr").dir("usr/lib").symlink("lib", "usr/lib").file("usr/lib/libz.so.1", b"z" * 3000)
            .dir("app").file("app/main.py", b"print('hi')\n").file("app/old.py", b"old"))
    top = LayerTar().whiteout("app/old.py").file("app/extra.json", b"{}").hardlink("app/again.py", "app/main.py")
    return [base.bytes(), top.bytes()]


def view(image) -> list[tuple]:
    return [(e.path, e.kind, e.mode, e.size, e.linkname) for e in image.fs.walk()]


@pytest.fixture
def cache(tmp_path):
    return LayerCache(tmp_path / "cache")


@pytest.fixture
def docker_config(tmp_path, monkeypatch, services):
    """A private $DOCKER_CONFIG holding the auth registry's login, as `docker login` writes it."""
    cfg = tmp_path / "dockercfg"
    cfg.mkdir()
    token = base64.b64encode(f"{services.registry_user}:{services.registry_password}".encode()).decode()
    (cfg / "config.json").write_text(json.dumps({"auths": {services.auth_registry: {"auth": token}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    monkeypatch.delenv("FAKTORY_REGISTRY_USER", raising=False)
    return cfg


# ---------------------------------------------------------------- references


@pytest.mark.parametrize("text, expected", [
    ("python:3.12", reference.DaemonRef("python:3.12", reference.RegistryRef("docker.io", "library/python", "3.12"))),
    ("docker://127.0.0.1:5000/fixtures/flask", reference.RegistryRef("127.0.0.1:5000", "fixtures/flask", "latest")),
    ("docker://ghcr.io/a/b@sha256:" + "a" * 64, reference.RegistryRef("ghcr.io", "a/b", None, "sha256:" + "a" * 64)),
    ("docker-daemon:faktory-fixture/flask:latest", reference.DaemonRef("faktory-fixture/flask:latest", None)),
    ("oci:/no/such/dir:v1", reference.LayoutRef("/no/such/dir", "v1")),
    ("docker-archive:/no/such.tar", reference.ArchiveRef("/no/such.tar", None)),
])
def test_reference_parsing(text, expected):
    assert reference.parse(text) == expected


@pytest.mark.parametrize("text", ["", "docker://UPPER/case", "name:bad tag", "ftp://x/y", "docker-archive:"])
def test_bad_references_are_user_errors(text):
    with pytest.raises(ReferenceError_):
        reference.parse(text)


# ---------------------------------------------------------------- archive and layout agree


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_oci_layout_equals_docker_archive(tmp_path, cache, compression):
    ls = layers()
    archive = open_image(f"docker-archive:{write_docker_archive(tmp_path / 'a.tar', ls)}", cache=cache)
    root = tmp_path / "layout"
    write_oci_layout(root, [(manifest_for(root, ls, compression), None, "v1")])
    other_cache = LayerCache(tmp_path / "cache2")  # read the layout's own blobs, not the archive's
    layout = open_image(f"oci:{root}:v1", cache=other_cache)
    assert layout.source == "oci" and archive.source == "docker-archive"
    assert layout.diff_ids == archive.diff_ids == tuple(sha(layer) for layer in ls)
    assert layout.raw_config == archive.raw_config and layout.config == archive.config
    assert layout.history == archive.history
    assert [h.layer_index for h in layout.history] == [None, 0, 1]
    assert view(layout) == view(archive)
    assert layout.size == archive.size == sum(len(layer) for layer in ls)
    assert layout.fs.read_bytes("/app/again.py") == b"print('hi')\n"
    assert layout.layers[0].media_type.endswith({"gzip": "+gzip", "zstd": "+zstd", "none": ".tar"}[compression])


def test_warm_load_reads_only_the_cache(tmp_path, cache):
    ls = layers()
    path = write_docker_archive(tmp_path / "a.tar", ls)
    first = open_image(f"docker-archive:{path}", cache=cache)
    tars = sorted(p.name for p in (cache.base / "layers").glob("*.tar"))
    assert tars == sorted(f"{sha(layer)[7:]}.tar" for layer in ls)
    stamp = {p: p.stat().st_mtime_ns for p in (cache.base / "layers").iterdir()}
    second = open_image(f"docker-archive:{path}", cache=cache)
    assert {p: p.stat().st_mtime_ns for p in (cache.base / "layers").iterdir()} == stamp
    assert view(first) == view(second) and first.digest == second.digest


def test_concurrent_processes_share_the_cache(tmp_path):
    path = write_docker_archive(tmp_path / "a.tar", layers())
    script = ("import sys; from faktory.sources import open_image; "
              "img = open_image(sys.argv[1]); print(len(list(img.fs.walk())))")
    env = {"FAKTORY_CACHE_DIR": str(tmp_path / "shared"), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", script, f"docker-archive:{path}"], stdout=subprocess.PIPE,
                              env=env) for _ in range(3)]
    outs = {p.communicate(timeout=60)[0] for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(outs) == 1
    assert not list((tmp_path / "shared" / "v1" / "tmp").iterdir())  # no temp left behind


def test_layout_index_selects_platform(tmp_path, cache):
    root = tmp_path / "multi"
    amd = manifest_for(root, layers(), "gzip")
    arm_layers = [LayerTar().dir("arm").file("arm/only", b"arm64").bytes()]
    arm_cfg = json.loads(config_for(arm_layers))
    arm_cfg["architecture"] = "arm64"
    arm = manifest_for(root, arm_layers, "gzip", config=json.dumps(arm_cfg).encode())
    write_oci_layout(root, [(amd, {"os": "linux", "architecture": "amd64"}, None),
                            (arm, {"os": "linux", "architecture": "arm64", "variant": "v8"}, None)])
    assert open_image(f"oci:{root}", cache=cache).fs.entry("/app/main.py") is not None
    arm_img = open_image(f"oci:{root}", platform="linux/arm64", cache=cache)
    assert arm_img.platform == Platform("linux", "arm64") and arm_img.fs.read_bytes("/arm/only") == b"arm64"
    with pytest.raises(ImageNotFound, match=r"linux/s390x.*available: linux/amd64, linux/arm64/v8"):
        open_image(f"oci:{root}", platform="linux/s390x", cache=cache)


# ---------------------------------------------------------------- bad input


def _layout_with(tmp_path, blob: bytes, media_type: str, diff_id: str | None = None, layer_digest: str | None = None):
    root = tmp_path / "bad"
    cfg = json.loads(config_for([b""]))
    cfg["rootfs"]["diff_ids"] = [diff_id or sha(layers()[0])]
    cfg_bytes = json.dumps(cfg).encode()
    desc = {"mediaType": media_type, **write_blob(root, blob)}
    if layer_digest:
        desc["digest"] = layer_digest
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      **write_blob(root, cfg_bytes)}, "layers": [desc]}).encode()
    return write_oci_layout(root, [(manifest, None, None)])


GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.mark.parametrize("case, error, message", [
    ("truncated-gzip", InvalidImage, "truncated gzip"),
    ("truncated-zstd", InvalidImage, "truncated zstd"),
    ("corrupt-zstd", InvalidImage, "corrupt zstd"),
    ("corrupt-gzip", InvalidImage, "corrupt gzip"),
    ("wrong-diff-id", DigestMismatch, "the config says"),
    ("missing-blob", InvalidImage, "is missing"),
    ("unknown-media-type", InvalidImage, "unknown layer media type"),
])
def test_bad_layers_are_clear_errors_and_leave_nothing_behind(tmp_path, cache, case, error, message):
    good, _ = compress(layers()[0], "gzip")
    blob, media, diff_id, digest = good, GZ, None, None
    if case == "truncated-gzip":
        blob = good[: len(good) // 2]
    elif case in ("truncated-zstd", "corrupt-zstd"):
        media = "application/vnd.oci.image.layer.v1.tar+zstd"
        zst, _ = compress(layers()[0], "zstd")
        blob = zst[: len(zst) // 2] if case == "truncated-zstd" else zst[:8] + b"\xff" * 32 + zst[40:]
    elif case == "corrupt-gzip":
        blob = good[:20] + bytes(b ^ 0xFF for b in good[20:60]) + good[60:]
    elif case == "wrong-diff-id":
        diff_id = sha(b"something else")
    elif case == "missing-blob":
        digest = sha(b"never written")
    elif case == "unknown-media-type":
        media = "application/x-mystery"
    root = _layout_with(tmp_path, blob, media, diff_id, digest)
    with pytest.raises(error, match=message):
        open_image(f"oci:{root}", cache=cache)
    assert list((cache.base / "layers").iterdir()) == [] and list((cache.base / "tmp").iterdir()) == []


def test_tampered_blob_fails_its_digest(tmp_path, cache):
    blob = compress(layers()[0], "gzip")[0]
    root = _layout_with(tmp_path, blob, GZ)
    blob_path = root / "blobs/sha256" / sha(blob)[7:]
    data = gzip.decompress(blob_path.read_bytes())
    blob_path.write_bytes(gzip.compress(data.replace(b"zzzz", b"yyyy", 1)))
    with pytest.raises(DigestMismatch, match="blob content has digest"):
        open_image(f"oci:{root}", cache=cache)


def test_docker_archive_with_tampered_layer_fails_its_diff_id(tmp_path, cache):
    path = write_docker_archive(tmp_path / "t.tar", layers(), tamper_layer=1)
    with pytest.raises(DigestMismatch, match="layer 1"):
        open_image(f"docker-archive:{path}", cache=cache)


@pytest.mark.parametrize("target", ["index.json", "manifest", "config"])
def test_invalid_json_is_a_clear_error(tmp_path, cache, target):
    root = tmp_path / "j"
    if target == "index.json":
        write_oci_layout(root, [])
        (root / "index.json").write_text("{not json")
    elif target == "manifest":
        write_oci_layout(root, [(b"{broken", None, None)])
    else:
        cfg = b'{"rootfs": '
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          **write_blob(root, cfg)}, "layers": []}).encode()
        write_oci_layout(root, [(manifest, None, None)])
    with pytest.raises(InvalidImage, match="not valid JSON"):
        open_image(f"oci:{root}", cache=cache)


def test_missing_paths_and_not_an_archive(tmp_path, cache):
    with pytest.raises(SourceUnavailable, match="no such file"):
        open_image(f"docker-archive:{tmp_path}/absent.tar", cache=cache)
    with pytest.raises(SourceUnavailable, match="no such directory"):
        open_image(f"oci:{tmp_path}/absent", cache=cache)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\0" * 10 + b"not a tar at all" * 100)
    with pytest.raises(InvalidImage):
        open_image(f"docker-archive:{junk}", cache=cache)


# ---------------------------------------------------------------- registry


def _unique_repo() -> str:
    return f"faktory-test/inspect-{uuid.uuid4().hex[:10]}"


def test_registry_anonymous_equals_archive(tmp_path, cache, services):
    ls = layers()
    repo = _unique_repo()
    base = f"http://{services.registry}"
    digest, _ = push_image(requests.Session(), base, repo, ls, compression="zstd", tag="v1")
    img = open_image(f"{services.registry}/{repo}:v1", cache=cache)
    assert img.source == "registry" and img.digest == digest
    by_digest = open_image(f"docker://{services.registry}/{repo}@{digest}", cache=LayerCache(tmp_path / "c2"))
    archive = open_image(f"docker-archive:{write_docker_archive(tmp_path / 'a.tar', ls)}", cache=cache)
    assert img.diff_ids == by_digest.diff_ids == archive.diff_ids
    assert view(img) == view(by_digest) == view(archive)
    with pytest.raises(ImageNotFound, match="not found"):
        open_image(f"docker://{services.registry}/{repo}:nope", cache=cache)


_WARM_PROBE = """
import json, sys
from faktory.cache import LayerCache
from faktory.sources import open_image
image = open_image(sys.argv[1], cache=LayerCache(sys.argv[2]))
heavy = sorted(m for m in ("oras", "requests", "httpx", "urllib3") if m in sys.modules)
print(json.dumps({"digest": image.digest, "heavy": heavy, "files": image.fs.listdir("/app")}))
"""


def _load_in_child(ref: str, cache: LayerCache) -> dict:
    out = subprocess.run([sys.executable, "-c", _WARM_PROBE, ref, str(cache.root)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def test_registry_warm_load_is_one_head_and_follows_a_moved_tag(tmp_path, cache, services, flaky):
    server, front = flaky  # in front of the real registry, recording every request
    repo = _unique_repo()
    base = f"http://{services.registry}"
    session = requests.Session()
    first, _ = push_image(session, base, repo, layers(), tag="v1")
    ref = f"docker://127.0.0.1:{server.server_address[1]}/{repo}:v1"

    def load(ref: str) -> tuple[dict, list]:
        front.seen = []
        doc = _load_in_child(ref, cache)
        assert doc.pop("heavy") == []  # standard library HTTP only, cold or warm
        return doc, [(method, path.split("?")[0]) for method, path in front.seen]

    cold, cold_requests = load(ref)
    warm, warm_requests = load(ref)
    head = [("GET", "/v2/"), ("HEAD", f"/v2/{repo}/manifests/v1")]
    assert cold == warm and warm["digest"] == first
    assert warm_requests == head and any("/blobs/" in path for _, path in cold_requests)
    by_digest, by_digest_requests = load(f"docker://127.0.0.1:{server.server_address[1]}/{repo}@{first}")
    assert by_digest == warm and by_digest_requests == []
    # The tag moves: the HEAD names a digest the cache has never seen, and the missing parts are fetched.
    moved, _ = push_image(session, base, repo, [LayerTar().dir("app").file("app/new.py", b"new").bytes()], tag="v1")
    after, after_requests = load(ref)
    assert after["digest"] == moved != first and after["files"] == ["new.py"] and len(after_requests) > 2
    assert load(ref) == (after, head)


def test_registry_multi_platform_index(tmp_path, cache, services):
    repo = _unique_repo()
    base = f"http://{services.registry}"
    session = requests.Session()
    amd, amd_manifest = push_image(session, base, repo, layers())
    arm, arm_manifest = push_image(session, base, repo, [LayerTar().file("arm", b"arm").bytes()], architecture="arm64")
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": len(amd_manifest),
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": len(arm_manifest),
         "platform": {"os": "linux", "architecture": "arm64"}},
    ]}).encode()
    index_digest = push_manifest(session, base, repo, "multi", index, "application/vnd.oci.image.index.v1+json")
    default = open_image(f"docker://{services.registry}/{repo}:multi", cache=cache)
    assert default.digest == amd and default.index_digest == index_digest
    arm_img = open_image(f"docker://{services.registry}/{repo}:multi", platform="linux/arm64", cache=cache)
    assert arm_img.digest == arm and arm_img.fs.read_bytes("/arm") == b"arm"
    with pytest.raises(ImageNotFound, match="available: linux/amd64, linux/arm64"):
        open_image(f"docker://{services.registry}/{repo}:multi", platform="linux/riscv64", cache=cache)


def test_registry_basic_auth_from_docker_config(tmp_path, cache, services, docker_config):
    repo = _unique_repo()
    session = requests.Session()
    session.auth = (services.registry_user, services.registry_password)
    digest, _ = push_image(session, f"http://{services.auth_registry}", repo, layers(), tag="v1")
    img = open_image(f"{services.auth_registry}/{repo}:v1", cache=cache)
    assert img.digest == digest and img.fs.read_bytes("/app/main.py") == b"print('hi')\n"
    (docker_config / "config.json").write_text(json.dumps(
        {"auths": {services.auth_registry: {"auth": base64.b64encode(b"faktory:wrong").decode()}}}))
    with pytest.raises(AuthError, match="refused the credentials"):
        open_image(f"docker://{services.auth_registry}/{repo}:v1", cache=LayerCache(tmp_path / "c3"))
    with pytest.raises(AuthError, match="refused the credentials"):  # a warm cache is no way around the login
        open_image(f"docker://{services.auth_registry}/{repo}:v1", cache=cache)
    (docker_config / "config.json").write_text("{}")
    with pytest.raises(AuthError, match="no credentials"):
        open_image(f"docker://{services.auth_registry}/{repo}:v1", cache=LayerCache(tmp_path / "c4"))


def test_registry_credential_helper(tmp_path, cache, services, docker_config, monkeypatch):
    repo = _unique_repo()
    session = requests.Session()
    session.auth = (services.registry_user, services.registry_password)
    push_image(session, f"http://{services.auth_registry}", repo, layers(), tag="v1")
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-faktorytest"
    helper.write_text("#!/bin/sh\nread host\nprintf '{\"Username\":\"%s\",\"Secret\":\"%s\"}' "
                      f"{services.registry_user} {services.registry_password}\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper_dir}:/usr/bin:/bin")
    (docker_config / "config.json").write_text(json.dumps({"credHelpers": {services.auth_registry: "faktorytest"}}))
    img = open_image(f"docker://{services.auth_registry}/{repo}:v1", cache=cache)
    assert img.fs.entry("/usr/lib/libz.so.1").size == 3000


class _FlakyRegistry(http.server.BaseHTTPRequestHandler):
    """A registry front that fails with 503 a set number of times, then proxies to the real registry."""

    failures_left = 0
    upstream = ""
    hits = 0
    seen: list = []

    def do_HEAD(self):  # noqa: N802
        self.do_GET(head=True)

    def do_GET(self, head: bool = False):  # noqa: N802
        cls = type(self)
        cls.hits += 1
        cls.seen.append((self.command, self.path))
        if cls.failures_left > 0:
            cls.failures_left -= 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        resp = requests.request(self.command, cls.upstream + self.path,
                                headers={"Accept": self.headers.get("Accept", "*/*")})
        self.send_response(resp.status_code)
        for key in ("Content-Type", "Docker-Content-Digest"):
            if key in resp.headers:
                self.send_header(key, resp.headers[key])
        self.send_header("Content-Length", resp.headers.get("Content-Length", "0") if head else str(len(resp.content)))
        self.end_headers()
        if not head:
            self.wfile.write(resp.content)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky(services, monkeypatch):
    monkeypatch.setattr(transport_mod, "BACKOFF", 0.01)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyRegistry)
    _FlakyRegistry.upstream = f"http://{services.registry}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _FlakyRegistry
    server.shutdown()


def test_registry_5xx_is_retried_then_reported(tmp_path, cache, services, flaky):
    server, handler = flaky
    repo = _unique_repo()
    push_image(requests.Session(), f"http://{services.registry}", repo, layers(), tag="v1")
    host = f"127.0.0.1:{server.server_address[1]}"
    handler.failures_left, handler.hits = 2, 0
    img = open_image(f"docker://{host}/{repo}:v1", cache=cache)
    assert img.fs.read_bytes("/app/extra.json") == b"{}" and handler.hits > 2
    handler.failures_left, handler.hits = 100, 0
    with pytest.raises(SourceUnavailable, match="answered 503 .* after 4 attempts"):
        open_image(f"docker://{host}/{repo}:v1", cache=LayerCache(tmp_path / "c5"))
    assert handler.hits == transport_mod.RETRIES


def test_unreachable_registry(cache, monkeypatch):
    monkeypatch.setattr(transport_mod, "BACKOFF", 0.01)
    with pytest.raises(SourceUnavailable, match="cannot reach registry"):
        open_image("docker://127.0.0.1:9/nothing/here:1", cache=cache)


# ---------------------------------------------------------------- daemon


def test_daemon_not_running(cache, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(SourceUnavailable, match="cannot reach the Docker engine at unix:///nonexistent"):
        open_image("docker-daemon:anything:latest", cache=cache)


def test_daemon_loads_a_docker_loaded_image_and_falls_back_to_registry(tmp_path, cache, services):
    ls = [LayerTar().dir("app").file("app/a", b"a").file("app/b", b"b").bytes(),
          LayerTar().whiteout("app/b").file("app/c", b"c", mode=0o700).bytes()]
    tag = f"faktory-test/inspect-{uuid.uuid4().hex[:8]}:v1"
    archive = write_docker_archive(tmp_path / "d.tar", ls, tag=tag)
    subprocess.run(["docker", "load", "-i", str(archive)], check=True, capture_output=True)
    try:
        cold = open_image(tag, cache=cache)
        warm = open_image(f"docker-daemon:{tag}", cache=cache)
        from_archive = open_image(f"docker-archive:{archive}", cache=LayerCache(tmp_path / "other"))
        assert cold.source == warm.source == "daemon"
        assert cold.digest == warm.digest == from_archive.digest
        assert cold.manifest == warm.manifest
        assert view(cold) == view(warm) == view(from_archive)
        assert cold.fs.listdir("/app") == ["a", "c"]
        with pytest.raises(ImageNotFound, match="is for linux/amd64, not linux/arm64"):
            open_image(f"docker-daemon:{tag}", platform="linux/arm64", cache=cache)
    finally:
        subprocess.run(["docker", "rmi", tag], capture_output=True)
    # Not in the engine any more: a plain name naming a registry is pulled from there, like `docker run`.
    repo = _unique_repo()
    push_image(requests.Session(), f"http://{services.registry}", repo, ls, tag="v1")
    pulled = open_image(f"{services.registry}/{repo}:v1", cache=cache)
    assert pulled.source == "registry" and pulled.diff_ids == from_archive.diff_ids
    with pytest.raises(FaktoryError, match="not found in the Docker engine.*registry"):
        open_image(f"{services.registry}/{repo}:absent", cache=cache)


def test_api_load_image_returns_an_immutable_image(tmp_path, monkeypatch):
    import dataclasses

    from faktory import api
    from faktory.image import Image

    monkeypatch.setenv("FAKTORY_CACHE_DIR", str(tmp_path / "envcache"))
    path = write_docker_archive(tmp_path / "a.tar", layers())
    image = api.load_image(f"docker-archive:{path}")
    assert isinstance(image, Image)
    assert (tmp_path / "envcache" / "v1" / "layers").is_dir()  # $FAKTORY_CACHE_DIR honoured
    with pytest.raises(dataclasses.FrozenInstanceError):
        image.ref = "other"  # type: ignore[misc]
    assert image.fs is image.fs  # merged once, then shared


def test_platform_is_checked_for_single_platform_sources(tmp_path, cache):
    path = write_docker_archive(tmp_path / "a.tar", layers())
    assert open_image(f"docker-archive:{path}", platform="linux/amd64", cache=cache).platform == Platform()
    with pytest.raises(ImageNotFound, match=r"no image for platform linux/arm64 \(available: linux/amd64\)"):
        open_image(f"docker-archive:{path}", platform="linux/arm64", cache=cache)


def test_oci_archive_equals_the_layout(tmp_path, cache):
    import tarfile

    root = tmp_path / "layout"
    write_oci_layout(root, [(manifest_for(root, layers(), "gzip"), None, "v1")])
    packed = tmp_path / "image.oci.tar"
    with tarfile.open(packed, "w") as tf:
        for child in sorted(root.iterdir()):
            tf.add(child, arcname=child.name)
    layout = open_image(f"oci:{root}:v1", cache=cache)
    archived = open_image(f"oci-archive:{packed}:v1", cache=LayerCache(tmp_path / "c2"))
    assert archived.digest == layout.digest and view(archived) == view(layout)
    with pytest.raises(ImageNotFound, match="no image tagged 'v2'"):
        open_image(f"oci-archive:{packed}:v2", cache=cache)


def test_damaged_cache_entries_are_rebuilt(tmp_path, cache):
    path = write_docker_archive(tmp_path / "a.tar", layers())
    first = open_image(f"docker-archive:{path}", cache=cache)
    index = cache.base / "layers" / f"{first.diff_ids[0][7:]}.json"
    index.write_text('{"format": 1, "size": 3, "entries": [["/x", "file"]]}')
    (cache.base / "layers" / f"{first.diff_ids[1][7:]}.tar").unlink()
    again = open_image(f"docker-archive:{path}", cache=cache)
    assert view(again) == view(first)


def test_docker_archive_with_several_images(tmp_path, cache):
    from tests.imagefab import write_docker_archive_multi

    base = layers()[0]
    path = write_docker_archive_multi(tmp_path / "two.tar", {
        "shop/api:1": [base, LayerTar().file("api", b"api").bytes()],
        "shop/web:2": [base, LayerTar().file("web", b"web").bytes()],
    })
    assert open_image(f"docker-archive:{path}:shop/web:2", cache=cache).config.cmd == ("/bin/shop/web",)
    api = open_image(f"docker-archive:{path}:@0", cache=cache)
    assert api.fs.read_bytes("/api") == b"api" and api.fs.entry("/web") is None
    with pytest.raises(ImageNotFound, match="holds 2 images.*shop/api:1, shop/web:2"):
        open_image(f"docker-archive:{path}", cache=cache)
    with pytest.raises(ImageNotFound, match="no image 'shop/db:3'"):
        open_image(f"docker-archive:{path}:shop/db:3", cache=cache)


def test_registry_docker_v2_schema2_pushed_by_skopeo(tmp_path, cache, services):
    archive = write_docker_archive(tmp_path / "a.tar", layers())
    ref = f"{services.registry}/{_unique_repo()}:v2s2"
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--format", "v2s2",
                    f"docker-archive:{archive}", f"docker://{ref}"], check=True, capture_output=True, timeout=120)
    img = open_image(f"docker://{ref}", cache=cache)
    assert img.manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert {layer.media_type for layer in img.layers} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    local = open_image(f"docker-archive:{archive}", cache=LayerCache(tmp_path / "c2"))
    assert img.diff_ids == local.diff_ids and view(img) == view(local)
    assert img.config_digest == local.config_digest  # v2s2 keeps the engine's config byte for byte
