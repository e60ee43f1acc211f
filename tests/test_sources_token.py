"""Bearer-token auth against a real registry: the CNCF registry configured with `auth: token`, and a small
token service (the role Docker Hub's auth server plays) that checks basic credentials and signs RS256 JWTs
with openssl. The inspector has to follow the registry's challenge to the realm and back.
"""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

from faktory.cache import LayerCache
from faktory.errors import AuthError
from faktory.sources import open_image
from tests.imagefab import LayerTar, push_image

USER, PASSWORD = "token-user", "token-secret"
SERVICE, ISSUER = "faktory-registry", "faktory-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TokenIssuer:
    def __init__(self, workdir):
        self.key = workdir / "key.pem"
        cert = workdir / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(cert), "-days", "1", "-subj", "/CN=faktory-token-issuer"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.cert = cert
        self.header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        self.issued = 0

    def token(self, subject: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(self.header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                                   check=True, capture_output=True).stdout
        self.issued += 1
        return f"{signing_input}.{_b64url(signature)}"


def _token_handler(issuer: TokenIssuer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"token": issuer.token(USER, query.get("scope", [])), "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None or shutil.which("openssl") is None:  # installed by `make test`: missing is a failure
        pytest.fail("docker-registry and openssl are needed for the token-auth registry", pytrace=False)
    work = tmp_path_factory.mktemp("token-registry")
    issuer = TokenIssuer(work)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(issuer))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = _free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(work / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "faktory-token-test"},
        "auth": {"token": {"realm": f"http://127.0.0.1:{server.server_address[1]}/token", "service": SERVICE,
                           "issuer": ISSUER, "rootcertbundle": str(issuer.cert)}},
    }
    (work / "config.yml").write_text(json.dumps(config))
    log = open(work / "registry.log", "wb")
    proc = subprocess.Popen([binary, "serve", str(work / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"token registry did not start: {(work / 'registry.log').read_text()[-500:]}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", issuer
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        server.shutdown()


def test_bearer_token_challenge_is_followed(token_registry, tmp_path, monkeypatch):
    host, issuer = token_registry
    repo = f"faktory-test/token-{uuid.uuid4().hex[:8]}"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {issuer.token(USER, [f'repository:{repo}:pull,push'])}"
    layer = LayerTar().dir("app").file("app/secret.py", b"print('behind a token')\n").bytes()
    digest, _ = push_image(session, f"http://{host}", repo, [layer], tag="v1")

    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {host: {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("FAKTORY_REGISTRY_USER", raising=False)
    before = issuer.issued
    image = open_image(f"docker://{host}/{repo}:v1", cache=LayerCache(tmp_path / "cache"))
    assert image.digest == digest and image.fs.read_bytes("/app/secret.py") == b"print('behind a token')\n"
    assert issuer.issued > before  # the token came from the realm, through the challenge

    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {host: {"auth": base64.b64encode(f"{USER}:wrong".encode()).decode()}}}))
    with pytest.raises(AuthError, match="refused the credentials"):
        open_image(f"docker://{host}/{repo}:v1", cache=LayerCache(tmp_path / "cache2"))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(AuthError, match="none are configured"):
        open_image(f"docker://{host}/{repo}:v1", cache=LayerCache(tmp_path / "cache3"))
