"""A small distribution-API client over oras-py: resolve, read manifests, push blobs, put manifests.

oras-py's Registry handles the auth dance; this wrapper picks the backend (basic vs token) by asking
`/v2/` once, and turns transport failures into FaktoryErrors.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import oras.container
import oras.provider
import requests

from faktory.errors import AuthError, ImageNotFound, SourceUnavailable
from faktory.service.credentials import Credentials

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
CHUNKED_ABOVE = 64 << 20
CHUNK_SIZE = 16 << 20
API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}


@dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryClient:
    def __init__(self, registry: str, insecure: bool = False, credentials: Credentials | None = None):
        self.registry = registry
        self.host = API_HOSTS.get(registry, registry)
        self.scheme = "http" if insecure else "https"
        self.credentials = credentials
        self._oras: oras.provider.Registry | None = None

    # -- plumbing -------------------------------------------------------------------------------------
    def _client(self) -> oras.provider.Registry:
        if self._oras is None:
            backend = "token"
            try:
                probe = requests.get(f"{self.scheme}://{self.host}/v2/", timeout=15)
            except requests.RequestException as exc:
                raise SourceUnavailable(f"registry {self.registry} is unreachable: {exc.__class__.__name__}") from None
            if probe.headers.get("WWW-Authenticate", "").lower().startswith("basic"):
                backend = "basic"
                if self.credentials is None:
                    raise AuthError(f"registry {self.registry} wants credentials and the docker config has none")
            client = oras.provider.Registry(
                hostname=self.host, insecure=self.scheme == "http", auth_backend=backend
            )
            if self.credentials is not None:
                client.auth.set_basic_auth(self.credentials.username, self.credentials.password)
            self._oras = client
        return self._oras

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        url = f"{self.scheme}://{self.host}/v2/{path}"
        try:
            response = self._client().do_request(url, method, **kwargs)
        except ValueError as exc:  # oras-py's way of saying the auth dance failed
            raise AuthError(f"registry {self.registry}: {exc}") from None
        except requests.RequestException as exc:
            raise SourceUnavailable(f"registry {self.registry}: {exc.__class__.__name__}") from None
        if response.status_code in (401, 403):
            raise AuthError(f"registry {self.registry} refused {method} {path}: HTTP {response.status_code}")
        return response

    def container(self, repository: str) -> oras.container.Container:
        return oras.container.Container(repository, registry=self.host)

    # -- reads ----------------------------------------------------------------------------------------
    def manifest(self, repository: str, reference: str) -> Manifest | None:
        response = self._request("GET", f"{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SourceUnavailable(f"{self.registry}/{repository}:{reference}: HTTP {response.status_code}")
        data = response.content
        digest = sha256_digest(data)
        # Trust the bytes, not the header: a tag resolves to what we actually received.
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(data, media_type, digest)

    def resolve(self, repository: str, tag: str) -> str:
        found = self.manifest(repository, tag)
        if found is None:
            raise ImageNotFound(f"{self.registry}/{repository}:{tag} does not exist")
        return found.digest

    def blob_exists(self, repository: str, digest: str) -> bool:
        return self._request("HEAD", f"{repository}/blobs/{digest}").status_code == 200

    # -- writes ---------------------------------------------------------------------------------------
    def push_blob(self, repository: str, path: Path, digest: str, size: int, media_type: str) -> None:
        """Upload unless present (idempotent by digest)."""
        if self.blob_exists(repository, digest):
            return
        layer = {"mediaType": media_type, "digest": digest, "size": size}
        chunked = size > CHUNKED_ABOVE  # a monolithic upload holds the whole blob in memory
        try:
            response = self._client().upload_blob(os.fspath(path), self.container(repository), layer,
                                                  do_chunked=chunked, chunk_size=CHUNK_SIZE)
        except ValueError as exc:
            raise AuthError(f"registry {self.registry}: {exc}") from None
        except requests.RequestException as exc:
            raise SourceUnavailable(f"registry {self.registry}: {exc.__class__.__name__}") from None
        if response.status_code not in (200, 201, 202):
            raise SourceUnavailable(f"uploading {digest} to {self.registry}/{repository}: HTTP {response.status_code}")

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        response = self._request(
            "PUT", f"{repository}/manifests/{reference}", data=data, headers={"Content-Type": media_type}
        )
        if response.status_code not in (200, 201, 202):
            raise SourceUnavailable(
                f"putting manifest {self.registry}/{repository}:{reference}: HTTP {response.status_code} "
                f"{response.text[:200]}"
            )
        return sha256_digest(data)
