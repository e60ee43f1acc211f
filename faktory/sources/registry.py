"""Registries (OCI distribution API) through oras-py's session and auth backends.

oras-py gives transport and the auth dance (basic, bearer-token challenge); this module adds what it lacks
for images: picking the auth scheme the registry asks for, credentials from the docker config (auths,
credHelpers, credsStore; $DOCKER_CONFIG honoured), short retries with backoff on 5xx, index -> platform
manifest (faktory.sources.distribution) and clear errors for 401/404.

Credentials, first match wins: $FAKTORY_REGISTRY_USER/$FAKTORY_REGISTRY_PASSWORD, then the docker config.
Plain HTTP is used for localhost/127.x and for hosts listed in $FAKTORY_INSECURE_REGISTRIES (comma-separated),
as the Docker engine does.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

from faktory.cache import LayerCache
from faktory.errors import AuthError, ImageNotFound, SourceUnavailable
from faktory.image import Platform
from faktory.sources import manifest as mf
from faktory.sources.distribution import check_digest, load_from_manifest
from faktory.sources.loaded import LoadedImage
from faktory.sources.reference import DEFAULT_REGISTRY, RegistryRef

RETRIES = 4
BACKOFF = 0.25  # seconds, doubled after each failed attempt
DOCKER_HUB_API = "registry-1.docker.io"


def plain_http(host: str) -> bool:
    """Loopback hosts and those in $FAKTORY_INSECURE_REGISTRIES are spoken to over HTTP, as the engine does."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    listed = {h.strip() for h in os.environ.get("FAKTORY_INSECURE_REGISTRIES", "").split(",") if h.strip()}
    return name in ("localhost", "::1") or name.startswith("127.") or host in listed or name in listed


def _docker_config() -> dict:
    path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _helper(name: str, host: str) -> tuple[str, str] | None:
    try:
        out = subprocess.run([f"docker-credential-{name}", "get"], input=host.encode(), capture_output=True,
                             timeout=30, check=True).stdout
        doc = json.loads(out)
        return doc["Username"], doc["Secret"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return None


def credentials(host: str) -> tuple[str, str] | None:
    user, password = os.environ.get("FAKTORY_REGISTRY_USER"), os.environ.get("FAKTORY_REGISTRY_PASSWORD")
    if user and password:
        return user, password
    conf = _docker_config()
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host == DEFAULT_REGISTRY:
        keys.insert(0, "https://index.docker.io/v1/")
    helper = (conf.get("credHelpers") or {}).get(host)
    if helper:
        return _helper(helper, host)
    for key in keys:
        entry = (conf.get("auths") or {}).get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                return user, password
            except (ValueError, UnicodeDecodeError):
                continue
        if entry.get("username") and entry.get("password"):
            return entry["username"], entry["password"]
    if conf.get("credsStore"):
        return _helper(conf["credsStore"], host)
    return None


class RegistryStore:
    """Blob and manifest access for one repository."""

    def __init__(self, ref: RegistryRef):
        import oras.provider

        self.ref = ref
        self.api_host = DOCKER_HUB_API if ref.host == DEFAULT_REGISTRY else ref.host
        self.scheme = "http" if plain_http(ref.host) else "https"
        self.base = f"{self.scheme}://{self.api_host}/v2/{ref.repository}"
        scheme = self._challenge_scheme()
        self.registry = oras.provider.Registry(hostname=self.api_host, insecure=self.scheme == "http",
                                               auth_backend="basic" if scheme == "basic" else "token")
        self.has_creds = False
        if scheme is not None:
            creds = credentials(ref.host)
            if creds:
                self.registry.auth.set_basic_auth(*creds)
                self.has_creds = True
            elif scheme == "basic":
                raise AuthError(f"{ref}: the registry asks for a login and no credentials are configured "
                                f"(docker login {ref.host}, or $FAKTORY_REGISTRY_USER/$FAKTORY_REGISTRY_PASSWORD)")

    def _challenge_scheme(self) -> str | None:
        """Which auth the registry wants: None (anonymous), 'basic' or 'bearer'."""
        import requests

        resp = self._retrying(lambda: requests.get(f"{self.scheme}://{self.api_host}/v2/", timeout=30),
                              "GET /v2/")
        if resp.status_code != 401:
            return None
        challenge = resp.headers.get("Www-Authenticate", "")
        return "basic" if challenge.lower().startswith("basic") else "bearer"

    def _retrying(self, call, what: str):
        import requests

        delay = BACKOFF
        for attempt in range(RETRIES):
            last = attempt == RETRIES - 1
            try:
                resp = call()
            except requests.exceptions.SSLError as exc:
                raise SourceUnavailable(f"{self.ref}: TLS error talking to {self.api_host}: {exc}") from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if last:
                    raise SourceUnavailable(f"{self.ref}: cannot reach registry {self.api_host} ({type(exc).__name__})") from None
            except requests.exceptions.RequestException as exc:  # bad URL, broken chunked answer, …
                raise SourceUnavailable(f"{self.ref}: talking to registry {self.api_host} failed: "
                                        f"{type(exc).__name__}") from None
            except ValueError as exc:  # oras-py's way of saying the auth dance failed
                if getattr(self, "has_creds", False):
                    raise AuthError(f"{self.ref}: registry refused the credentials ({exc})") from None
                raise AuthError(f"{self.ref}: registry needs credentials and none are configured for "
                                f"{self.ref.host} ({exc})") from None
            else:
                if resp.status_code < 500:
                    return resp
                if last:
                    raise SourceUnavailable(
                        f"{self.ref}: registry {self.api_host} answered {resp.status_code} to {what} "
                        f"after {RETRIES} attempts")
                resp.close()
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _request(self, url: str, what: str, headers: dict | None = None, stream: bool = False):
        # oras-py's own retry decorator sleeps for minutes on a 500: call the undecorated method, retry here.
        do_request = type(self.registry).do_request.__wrapped__
        resp = self._retrying(
            lambda: do_request(self.registry, url, "GET", headers=dict(headers or {}), stream=stream), what)
        if resp.status_code in (401, 403):
            why = "refused the credentials" if self.has_creds else "needs credentials"
            raise AuthError(f"{self.ref}: registry {self.ref.host} {why} ({resp.status_code} on {what})")
        if resp.status_code == 404:
            raise ImageNotFound(f"{self.ref}: {what} not found in registry {self.ref.host}")
        if resp.status_code != 200:
            raise SourceUnavailable(f"{self.ref}: registry answered {resp.status_code} to {what}")
        return resp

    def fetch_manifest(self, reference: str) -> tuple[bytes, str | None]:
        resp = self._request(f"{self.base}/manifests/{reference}", f"manifest {reference}",
                             headers={"Accept": ", ".join(mf.ACCEPT)})
        data = resp.content
        media = (resp.headers.get("Content-Type") or "").split(";")[0].strip() or None
        if reference.startswith("sha256:"):
            check_digest(data, reference, f"{self.ref}: manifest")
        announced = resp.headers.get("Docker-Content-Digest")
        if announced and announced.startswith("sha256:"):  # what the registry says it sent must be what came
            check_digest(data, announced, f"{self.ref}: manifest")
        return data, media

    def open_blob(self, digest: str) -> BinaryIO:
        resp = self._request(f"{self.base}/blobs/{digest}", f"blob {digest}", stream=True)
        return _ResponseStream(resp)


class _ResponseStream:
    """The raw (still compressed) body of a streamed response, closed with the response."""

    def __init__(self, resp):
        self.resp = resp
        self.raw = resp.raw

    def read(self, n: int = -1) -> bytes:
        try:
            return self.raw.read(None if n is None or n < 0 else n, decode_content=False)
        except Exception as exc:
            raise SourceUnavailable(f"blob download interrupted: {type(exc).__name__}") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.resp.close()


def load_registry(ref: RegistryRef, cache: LayerCache, platform: Platform | None) -> LoadedImage:
    from faktory.sources.warm import load_warm

    warm = load_warm(ref, cache, platform)
    if warm is not None:
        return warm
    store = RegistryStore(ref)
    data, media = store.fetch_manifest(ref.reference)
    return load_from_manifest(store, data, media, ref=str(ref), source="registry", cache=cache, platform=platform)
