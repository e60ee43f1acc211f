"""faktory.registry on real parts: the local registries (anonymous 5000, basic auth 5001), real TCP servers that
stall or trickle, real credential-helper programs on PATH, and the CLI as a user runs it.

Bearer tokens are covered by tests/test_sources_token.py, retries and the warm HEAD by tests/test_sources.py.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from faktory.cache import LayerCache
from faktory.commands.convert import push
from faktory.emitters.base import ImageOut
from faktory.errors import AuthError, FaktoryError, InvalidImage, SourceUnavailable
from faktory.registry import auth, transport
from faktory.registry.auth import Credentials, DefaultKeychain
from faktory.registry.client import RegistryClient
from faktory.registry.limits import Limits
from faktory.sources import open_image
from tests.imagefab import LayerTar, push_image
from tests.test_service_publish import write_layout
from tests.support.tcp import Listener as _Server

FAST = Limits(connect=2, read=0.5, total=3)


def _repo() -> str:
    return f"faktory-test/registry-{uuid.uuid4().hex[:10]}"


def _errors(stderr: str) -> list[str]:
    """The error lines (the line saying where a pull goes may come before)."""
    return [line for line in stderr.splitlines() if not line.startswith("faktory: pulling ")]


def _auth_entry(user: str, password: str) -> dict:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    cfg = tmp_path / "docker-config"
    cfg.mkdir()
    (cfg / "config.json").write_text("{}")
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    monkeypatch.delenv("FAKTORY_REGISTRY_USER", raising=False)
    monkeypatch.delenv("FAKTORY_REGISTRY_PASSWORD", raising=False)
    return cfg / "config.json"


@pytest.fixture
def helpers(tmp_path, monkeypatch):
    """`docker-credential-NAME` programs on PATH, each answering with its own login."""
    bindir = tmp_path / "bin"
    bindir.mkdir()

    def make(name: str, user: str, secret: str) -> None:
        script = bindir / f"docker-credential-{name}"
        script.write_text(f"#!/bin/sh\nread host\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\","
                          f"\"Secret\":\"{secret}\"}}' \"$host\"\n")
        script.chmod(0o755)

    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return make


# ---------------------------------------------------------------- the keychain's one order


def test_keychain_order_flags_authfile_env_docker_config(tmp_path, docker_config, helpers, monkeypatch):
    host = "registry.example:5000"
    helpers("helper", "from-helper", "h")
    helpers("store", "from-store", "s")
    docker_config.write_text(json.dumps({"auths": {host: _auth_entry("from-auths", "a")}, "credsStore": "store",
                                         "credHelpers": {host: "helper"}}))
    assert DefaultKeychain().resolve(host) == Credentials("from-helper", "h")  # credHelpers first
    docker_config.write_text(json.dumps({"auths": {f"https://{host}": _auth_entry("from-auths", "a")},
                                         "credsStore": "store"}))
    assert DefaultKeychain().resolve(host) == Credentials("from-auths", "a")  # then a login in auths
    docker_config.write_text(json.dumps({"auths": {host: {}}, "credsStore": "store"}))
    assert DefaultKeychain().resolve(host) == Credentials("from-store", "s")  # then the store
    monkeypatch.setenv("FAKTORY_REGISTRY_USER", "from-env")
    monkeypatch.setenv("FAKTORY_REGISTRY_PASSWORD", "e")
    assert DefaultKeychain().resolve(host) == Credentials("from-env", "e")  # the environment beats the config
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {host: _auth_entry("from-authfile", "f")}}))
    assert auth.keychain(authfile=authfile).resolve(host) == Credentials("from-authfile", "f")
    assert auth.keychain("cli-user:p", authfile).resolve(host) == Credentials("cli-user", "p")
    assert auth.keychain("only-user").resolve(host) == Credentials("only-user", "")
    assert auth.keychain(authfile=authfile).resolve("other.example") is None  # the authfile replaces the rest
    with pytest.raises(FaktoryError, match="--dest-creds wants USER"):
        auth.keychain(":nope", flag="--dest-creds")
    with pytest.raises(FaktoryError, match="--authfile .*no such file"):
        auth.keychain(authfile=tmp_path / "missing.json")
    assert "***" in repr(Credentials("u", "secret")) and "secret" not in repr(Credentials("u", "secret"))


def test_docker_hub_logins_are_found_under_their_legacy_key(docker_config):
    docker_config.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": _auth_entry("hub", "pw")}}))
    assert DefaultKeychain().resolve("docker.io") == Credentials("hub", "pw")


# ---------------------------------------------------------------- 401 and where logins are read from


def test_basic_challenge_without_login_says_where_logins_are_read_from(tmp_path, services, docker_config):
    ref = f"docker://{services.auth_registry}/fixtures/{uuid.uuid4().hex[:6]}:v1"
    with pytest.raises(AuthError) as info:
        open_image(ref, cache=LayerCache(tmp_path / "c"))
    message = str(info.value)
    assert "wants credentials (Basic challenge)" in message and str(docker_config) in message
    assert "FAKTORY_REGISTRY_USER" in message and "\n" not in message
    authfile = tmp_path / "auth.json"
    authfile.write_text("{}")
    with pytest.raises(AuthError, match=f"--authfile {authfile}"):
        open_image(ref, cache=LayerCache(tmp_path / "c"), keychain=auth.keychain(authfile=authfile))


def test_cli_creds_and_authfile_reach_a_basic_auth_registry(tmp_path, services, docker_config):
    repo = _repo()
    session = requests.Session()
    session.auth = (services.registry_user, services.registry_password)
    digest, _ = push_image(session, f"http://{services.auth_registry}", repo,
                           [LayerTar().dir("app").file("app/x.py", b"x").bytes()], tag="v1")
    ref = f"docker://{services.auth_registry}/{repo}:v1"
    env = {**os.environ, "FAKTORY_CACHE_DIR": str(tmp_path / "cache")}

    def inspect(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "faktory", "inspect", ref, "--json", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    denied = inspect()
    assert denied.returncode == 2 and denied.stdout == "" and len(_errors(denied.stderr)) == 1
    assert "wants credentials" in denied.stderr and "Traceback" not in denied.stderr
    wrong = inspect("--creds", f"{services.registry_user}:wrong")
    assert wrong.returncode == 2 and "refused the credentials from the --creds given" in wrong.stderr
    right = inspect("--creds", f"{services.registry_user}:{services.registry_password}")
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["digest"] == digest
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {services.auth_registry: _auth_entry(services.registry_user,
                                                                                  services.registry_password)}}))
    via_file = inspect("--authfile", str(authfile))
    assert via_file.returncode == 0 and json.loads(via_file.stdout)["digest"] == digest


def test_push_of_a_layout_with_dest_login_blobs_first(tmp_path, services):
    out = tmp_path / "out"
    write_layout(out / "image")
    dest = f"{services.auth_registry}/{_repo()}:pushed"
    with pytest.raises(AuthError, match="wants credentials"):
        push(out, ImageOut(layout="image", tag="", digest=""), dest, auth.Anonymous())
    login = auth.keychain(f"{services.registry_user}:{services.registry_password}")
    digest = push(out, ImageOut(layout="image", tag="", digest=""), dest, login)
    manifest_file = json.loads((out / "image" / "index.json").read_text())["manifests"][0]["digest"]
    assert digest == manifest_file  # a plain image goes out byte for byte
    host, _, rest = dest.partition("/")
    repo, _, tag = rest.rpartition(":")
    client = RegistryClient(host, login)
    found = client.get_manifest(repo, tag)
    assert found.digest == digest
    for blob in json.loads(found.data)["layers"]:
        assert client.blob_size(repo, blob["digest"]) == blob["size"]


def test_catalog_and_tags_page_through_link_headers(services):
    repo = _repo()
    session = requests.Session()
    for tag in ("a", "b", "c"):
        push_image(session, f"http://{services.registry}", repo, [LayerTar().file(tag, b"t").bytes()], tag=tag)
    client = RegistryClient(services.registry)
    assert sorted(client.tags(repo, page=1)) == ["a", "b", "c"]
    assert repo in client.catalog(page=3)
    with pytest.raises(FaktoryError, match="not found"):
        client.tags("faktory-test/never-pushed-" + uuid.uuid4().hex[:6])


# ---------------------------------------------------------------- stalls, trickles, caps


def _read_request(conn: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


@pytest.fixture
def server():
    made = []

    def start(behaviour) -> _Server:
        made.append(_Server(behaviour))
        return made[-1]

    yield start
    for s in made:
        s.close()


def test_a_registry_that_accepts_and_never_answers_fails_within_the_read_timeout(server, tmp_path, monkeypatch):
    monkeypatch.setattr(transport, "BACKOFF", 0.01)
    silent = server(lambda conn: time.sleep(30))
    start = time.monotonic()
    with pytest.raises(SourceUnavailable, match=r"stopped answering GET /v2/: nothing for 0\.5 s") as info:
        RegistryClient(silent.host, limits=FAST).manifest("a/b", "v1")
    assert time.monotonic() - start < 4 and "FAKTORY_REGISTRY_READ_TIMEOUT" in str(info.value)
    # the same from the command line, with the limits from the environment: one line, exit 2
    env = {**os.environ, "FAKTORY_REGISTRY_READ_TIMEOUT": "0.3", "FAKTORY_REGISTRY_TIMEOUT": "2",
           "FAKTORY_CACHE_DIR": str(tmp_path / "cache")}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "faktory", "inspect", f"docker://{silent.host}/a/b:v1"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and len(_errors(done.stderr)) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "stopped answering" in done.stderr or "did not finish" in done.stderr
    assert time.monotonic() - start < 15


def _answer(status: str, headers: dict, body_chunks, delay: float = 0.0):
    def behaviour(conn: socket.socket) -> None:
        try:
            while True:
                line = _read_request(conn)
                if not line:
                    return
                if line.startswith("GET /v2/ "):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    continue
                head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                conn.sendall(f"HTTP/1.1 {status}\r\n{head}\r\n".encode())
                for chunk in body_chunks():
                    conn.sendall(chunk)
                    time.sleep(delay)
                return
        except OSError:
            return
        finally:
            conn.close()

    return behaviour


def test_a_trickling_registry_is_cut_off_by_the_total_timeout(server):
    # one byte every 0.2 s never trips the 0.5 s read timeout; the 3 s total does
    slow = server(_answer("200 OK", {"Content-Length": "1000", "Content-Type": "application/json"},
                          lambda: (b"{" for _ in range(1000)), delay=0.2))
    start = time.monotonic()
    with pytest.raises(SourceUnavailable, match=r"did not finish manifest a/b:v1 within 3 s .*FAKTORY_REGISTRY_TIMEOUT"):
        RegistryClient(slow.host, limits=FAST).manifest("a/b", "v1")
    assert time.monotonic() - start < 5


def test_manifest_over_the_cap_is_refused_by_content_length_and_while_reading(server):
    announced = server(_answer("200 OK", {"Content-Length": str(200 << 20)}, lambda: iter(())))
    with pytest.raises(InvalidImage, match=r"manifest a/b:v1 is 209715200 bytes, over the 4194304 byte cap "
                                           r"\(\$FAKTORY_MAX_MANIFEST_SIZE\)"):
        RegistryClient(announced.host, limits=Limits()).manifest("a/b", "v1")
    # no Content-Length, a body that does not end: reading stops at the cap
    endless = server(_answer("200 OK", {"Connection": "close"}, lambda: (b" " * 65536 for _ in range(10 ** 6))))
    with pytest.raises(InvalidImage, match="over the 1048576 byte cap"):
        RegistryClient(endless.host, limits=Limits(manifest=1 << 20)).manifest("a/b", "v1")


def test_caps_from_the_environment_apply_to_real_manifests_and_configs(tmp_path, services, monkeypatch):
    repo = _repo()
    push_image(requests.Session(), f"http://{services.registry}", repo, [LayerTar().file("f", b"f").bytes()], tag="v1")
    ref = f"docker://{services.registry}/{repo}:v1"
    monkeypatch.setenv("FAKTORY_MAX_MANIFEST_SIZE", "100")
    with pytest.raises(InvalidImage, match=r"over the 100 byte cap \(\$FAKTORY_MAX_MANIFEST_SIZE\)"):
        open_image(ref, cache=LayerCache(tmp_path / "c1"))
    monkeypatch.delenv("FAKTORY_MAX_MANIFEST_SIZE")
    monkeypatch.setenv("FAKTORY_MAX_CONFIG_SIZE", "50")
    with pytest.raises(InvalidImage, match=r"config blob .* over the 50 byte cap \(\$FAKTORY_MAX_CONFIG_SIZE\)"):
        open_image(ref, cache=LayerCache(tmp_path / "c2"))
    monkeypatch.setenv("FAKTORY_MAX_CONFIG_SIZE", "lots")
    with pytest.raises(FaktoryError, match=r"FAKTORY_MAX_CONFIG_SIZE='lots' is not a size"):
        open_image(ref, cache=LayerCache(tmp_path / "c3"))
    monkeypatch.setenv("FAKTORY_MAX_CONFIG_SIZE", "0")
    with pytest.raises(FaktoryError, match=r"FAKTORY_MAX_CONFIG_SIZE='0' must be more than 0"):
        open_image(ref, cache=LayerCache(tmp_path / "c4"))
    monkeypatch.setenv("FAKTORY_MAX_CONFIG_SIZE", "0.1KiB")  # units as for the other limits: 102 bytes
    with pytest.raises(InvalidImage, match=r"over the 102 byte cap"):
        open_image(ref, cache=LayerCache(tmp_path / "c5"))


def test_plain_http_rule_is_one_rule(monkeypatch):
    monkeypatch.delenv("FAKTORY_INSECURE_REGISTRIES", raising=False)
    assert transport.plain_http("127.0.0.1:5000") and transport.plain_http("localhost:5000")
    assert transport.plain_http("[::1]:5000") and not transport.plain_http("registry.example:5000")
    assert transport.plain_http("build:5000", ["build:*"]) and not transport.plain_http("build:5000", ["other"])
    monkeypatch.setenv("FAKTORY_INSECURE_REGISTRIES", "registry.example:5000, mirror.example")
    assert transport.plain_http("registry.example:5000") and transport.plain_http("mirror.example:443")


def test_no_module_outside_the_registry_package_imports_an_http_client():
    root = Path(__file__).resolve().parent.parent
    allowed = {"faktory/registry/transport.py",  # the registry speaker
               "faktory/sources/engine.py",  # the engine socket
               "faktory/runner/http.py", "faktory/runner/docker.py"}  # the VM and container probes
    offenders = []
    for base in ("faktory", "analyzers", "emitters"):
        for path in (root / base).rglob("*.py"):
            rel = path.relative_to(root).as_posix()
            text = path.read_text()
            if rel not in allowed and any(f"import {m}" in text for m in ("http.client", "httpx", "requests",
                                                                           "oras", "urllib.request")):
                offenders.append(rel)
    assert offenders == []
