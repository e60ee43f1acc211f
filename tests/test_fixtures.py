"""The fixture images are real, working images: they run, they are exported three ways, the registry has them."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest

from fixtures import catalog
from tests.support.docker_probe import fetch_http, run_once

APPS = sorted(catalog.apps())
BASES = sorted(["debian-python", "debian-python-git", "debian-python-pango",
                *(f"py{v}-slim" for v in catalog.SLIM_VERSIONS)])
ONE_SHOT = [name for name in APPS if catalog.apps()[name].probe.cmd]
HTTP = [name for name in APPS if catalog.apps()[name].probe.http_port]


def test_every_app_has_a_probe():
    for name, app in catalog.apps().items():
        assert app.probe.expect, f"{name}: probe.expect is empty"
        assert app.probe.cmd or app.probe.http_port, f"{name}: neither a one-shot cmd nor an http port"


def test_test_keys_match_the_probe():
    """verify/oracle/known_gaps name only checks the app's probe can run; corpus apps are verified and traced."""
    for name, app in catalog.apps().items():
        assert ("oneshot" in app.oracle) <= bool(app.probe.cmd), f"{name}: oracle oneshot without probe.cmd"
        assert ("http" in app.oracle) <= bool(app.probe.http_port), f"{name}: oracle http without probe.http_port"
        stray = {check for check, _ in app.known_gaps} - set(app.verify) - set(app.oracle)
        assert not stray, f"{name}: known_gaps for checks it does not run: {stray}"
        if app.corpus:
            assert {"oci", "microvm"} <= set(app.verify) and app.oracle, f"{name}: a corpus app is verified and traced"


def test_unknown_test_key_values_are_refused(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "fixture.yaml").write_text("base: py3.12-slim\npython_version: '3.12'\nverify: [oci, vm]\n")
    with pytest.raises(catalog.CatalogError, match=r"verify: unknown \['vm'\]"):
        catalog.apps(tmp_path)
    (tmp_path / "app" / "fixture.yaml").write_text(
        "base: py3.12-slim\npython_version: '3.12'\noracle: none\nknown_gaps: {nanos: why}\n")
    with pytest.raises(catalog.CatalogError, match="known_gaps: unknown"):
        catalog.apps(tmp_path)
    (tmp_path / "app" / "fixture.yaml").write_text("base: py3.12-slim\npython_version: '3.12'\noracle: http\n")
    assert catalog.apps(tmp_path)["app"].oracle == ("http",) and catalog.apps(tmp_path)["app"].verify == ()


@pytest.mark.parametrize("name", ONE_SHOT)
def test_one_shot_probe_prints_expected_output(fixture_images, name):
    image = fixture_images[name]
    result = run_once(image.tag, image.probe.cmd)
    assert result.returncode == 0, result.logs
    assert image.probe.expect in result.output, (result.output, result.logs)


@pytest.mark.parametrize("name", HTTP)
def test_http_probe_serves_expected_body(fixture_images, name):
    image = fixture_images[name]
    result = fetch_http(image.tag, image.probe.http_port, image.probe.http_path)
    assert result.returncode == 0, result.logs
    assert image.probe.expect in result.output, (result.output, result.logs)


@pytest.mark.parametrize("name", BASES)
def test_base_runs_its_python(fixture_images, name):
    image = fixture_images[name]
    result = run_once(image.tag, ["python3", "-c", "import platform, ssl; print(platform.python_version())"])
    assert result.returncode == 0, result.logs
    assert result.output.startswith(image.python_version + "."), result.output


@pytest.mark.parametrize("name", [b for b in BASES if b.endswith("-slim")])
def test_slim_base_is_laid_out_like_the_official_image(fixture_images, name):
    image = fixture_images[name]
    minor = image.python_version
    script = ("import os, sys, sysconfig; b = '/usr/local/bin/';"
              "print(os.readlink(b + 'python'), os.readlink(b + 'python3'), sys.prefix, open(b + 'pip3').readline().strip(),"
              " sysconfig.get_config_var('prefix'), os.path.isdir(sysconfig.get_paths()['stdlib'] + '/test'))")
    result = run_once(image.tag, ["python3", "-c", script])
    assert result.returncode == 0, result.logs
    assert result.output.split() == ["python3", f"python{minor}", "/usr/local", f"#!/usr/local/bin/python{minor}",
                                     "/usr/local", "False"]


@pytest.mark.parametrize("name", APPS + BASES)
def test_exports_exist(fixture_images, name):
    image = fixture_images[name]
    with tarfile.open(image.archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == [image.tag]
    index = json.loads((image.oci / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    assert json.loads((image.oci / "oci-layout").read_text())["imageLayoutVersion"] == "1.0.0"


def skopeo_inspect(ref: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{ref}"],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", APPS + BASES)
def test_registry_copy_answers(fixture_images, name):
    image = fixture_images[name]
    proc = skopeo_inspect(image.registry_ref)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["Digest"].startswith("sha256:")
    assert info["Labels"]["org.faktory.fixture.name"] == name


def test_auth_registry_copy_needs_credentials(fixture_images, services):
    image = fixture_images["flask"]
    assert image.auth_registry_ref is not None
    denied = skopeo_inspect(image.auth_registry_ref)
    assert denied.returncode != 0
    assert "unauthorized" in denied.stderr.lower() or "authentication required" in denied.stderr.lower()
    allowed = skopeo_inspect(image.auth_registry_ref, "--creds", f"{services.registry_user}:{services.registry_password}")
    assert allowed.returncode == 0, allowed.stderr


def _layer_names(archive) -> list[list[str]]:
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        layers = []
        for member in manifest[0]["Layers"]:
            with tarfile.open(fileobj=tar.extractfile(member)) as layer:
                layers.append(layer.getnames())
    return layers


def test_whiteout_image_has_file_whiteouts_and_an_opaque_dir(fixture_images):
    names = [name for layer in _layer_names(fixture_images["whiteout"].archive) for name in layer]
    assert "opt/report/.wh.legacy.py" in names
    assert "opt/report/plugins/.wh.xml.py" in names
    assert "etc/report/.wh..wh..opq" in names


def test_numpy_image_vendors_openblas(fixture_images):
    names = [name for layer in _layer_names(fixture_images["numpy"].archive) for name in layer]
    assert any("site-packages/numpy.libs/libopenblas" in name for name in names)


# ---------------------------------------------------------------------------------------------- services

import base64  # noqa: E402
import http.server  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from fixtures.build import push, registry_digest  # noqa: E402
from tests.support.docker_probe import wait_for  # noqa: E402
from tests.support.services import redis_answers, registry_answers, start_registry  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_suite_services_answer(services):
    assert registry_answers(services.registry)
    assert registry_answers(services.auth_registry, services.registry_user, services.registry_password)
    assert not registry_answers(services.auth_registry, services.registry_user, "wrong-password")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"http://{services.auth_registry}/v2/", timeout=5)
    assert denied.value.code == 401
    assert redis_answers(int(services.redis_url.rsplit(":", 1)[1].split("/")[0]))


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers.get("Authorization"), self.headers.get("Content-Type"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_private_registry_notifies_pushes_and_fixture_push_repeats_on_a_fresh_registry(fixture_images, tmp_path):
    image = fixture_images["flask"]
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    endpoint = {"name": "test", "url": f"http://127.0.0.1:{hook.server_port}/hook",
                "headers": {"Authorization": ["Bearer hook-secret"]}, "timeout": "2s", "threshold": 3,
                "backoff": "1s"}
    port, creds, record_dir = _free_port(), ("alice", "s3cret"), tmp_path / "records"
    record_dir.mkdir()
    registry = start_registry(port, tmp_path / "reg1", htpasswd=creds, notifications=[endpoint])
    try:
        ref = push(image.oci, registry.addr, "flask", record_dir, creds)
        assert ref == f"{registry.addr}/fixtures/flask:latest"
        manifest_pushes = lambda: [  # noqa: E731
            event for auth, _, payload in _Hook.received for event in payload["events"]
            if auth == "Bearer hook-secret" and event["action"] == "push"
            and event["target"].get("tag") == "latest" and event["target"]["repository"] == "fixtures/flask"]
        assert wait_for(lambda: manifest_pushes(), timeout=30), _Hook.received
        # distribution 2.8 labels the envelope "events.v1+json" (not v2): receivers must accept both.
        assert _Hook.received[0][1].startswith("application/vnd.docker.distribution.events.v")
        pushed = (record_dir / f"pushed-{registry.addr.replace(':', '_')}.digest").read_text().strip()
        assert registry_digest(registry.addr, "fixtures/flask", "latest", creds) == pushed
    finally:
        registry.stop()
        hook.shutdown()
    assert not registry.alive()

    # The same port, an empty registry: the recorded push no longer holds, so push() pushes again.
    fresh = start_registry(port, tmp_path / "reg2")
    try:
        assert registry_digest(fresh.addr, "fixtures/flask", "latest", None) is None
        push(image.oci, fresh.addr, "flask", record_dir)
        assert registry_digest(fresh.addr, "fixtures/flask", "latest", None) == pushed
    finally:
        fresh.stop()
