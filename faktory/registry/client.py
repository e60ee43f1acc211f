"""The distribution API over one Transport: manifests, blobs, tags, catalog, and a push of an OCI layout.

Reads check what they can: a manifest asked for by digest must hash to it, and so must one whose answer
carries `Docker-Content-Digest`. Pushes go blobs first and manifest last, so a tag only ever names a
manifest whose blobs are all there; a blob the repository already has is not sent again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping
from urllib.parse import urljoin

from faktory.digests import is_digest, require
from faktory.errors import DigestMismatch, FaktoryError, ImageNotFound, InvalidImage, SourceUnavailable
from faktory.registry.auth import Keychain
from faktory.registry.transport import BlobStream, Limits, Response, Transport
from faktory.sources import manifest as mf

CHUNKED_ABOVE = 64 << 20  # bigger blobs go up in PATCH chunks: proxies in front of registries cap request bodies
CHUNK_SIZE = 16 << 20
PAGE = 1000


class PushFailed(FaktoryError):
    pass


@dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str  # of the bytes received, whatever the registry said


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _push(repo: str) -> str:
    return f"repository:{repo}:pull,push"


class RegistryClient:
    """One registry host (`HOST[:PORT]`, `docker.io` for Docker Hub)."""

    def __init__(self, host: str, keychain: Keychain | None = None, insecure: Iterable[str] = (),
                 limits: Limits | None = None):
        self.host = host
        self.transport = Transport(host, keychain, insecure, limits)

    @property
    def limits(self) -> Limits:
        return self.transport.limits

    # -- manifests ------------------------------------------------------------------------------------
    def manifest(self, repo: str, reference: str) -> Manifest | None:
        """The manifest or index a tag or digest names, or None if the registry has none."""
        what = f"manifest {repo}:{reference}" if not is_digest(reference) else f"manifest {repo}@{reference}"
        resp = self.transport.request("GET", f"/v2/{repo}/manifests/{reference}", scope=_pull(repo), what=what,
                                      headers={"Accept": ", ".join(mf.ACCEPT)}, cap=self.limits.manifest)
        if resp.status == 404:
            return None
        _expect(resp, (200,), self.host, what)
        data = resp.body
        digest = sha256_digest(data)
        if is_digest(reference) and reference.startswith("sha256:") and digest != reference:
            raise DigestMismatch(f"{self.host}/{repo}: manifest content has digest {digest}, expected {reference}")
        announced = resp.header("Docker-Content-Digest") or ""
        if announced.startswith("sha256:") and announced != digest:  # what the registry says it sent must be what came
            raise DigestMismatch(f"{self.host}/{repo}: manifest content has digest {digest}, the registry said {announced}")
        media = (resp.header("Content-Type") or "").split(";")[0].strip()
        return Manifest(data, media, digest)

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        found = self.manifest(repo, reference)
        if found is None:
            raise ImageNotFound(f"{self.host}/{repo}: manifest {reference} not found in registry {self.host}")
        return found

    def manifest_digest(self, repo: str, reference: str) -> str | None:
        """What a tag names now, from a HEAD (Docker Hub does not count it as a pull); None if not said."""
        resp = self.transport.request("HEAD", f"/v2/{repo}/manifests/{reference}", scope=_pull(repo),
                                      what=f"manifest {repo}:{reference}", headers={"Accept": ", ".join(mf.ACCEPT)})
        digest = resp.header("Docker-Content-Digest")
        return digest if resp.status == 200 and is_digest(digest) else None

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        what = f"manifest {repo}:{reference}"
        resp = self.transport.request("PUT", f"/v2/{repo}/manifests/{reference}", scope=_push(repo), what=what,
                                      headers={"Content-Type": media_type}, body=data)
        if resp.status not in (200, 201, 202):
            raise PushFailed(f"putting {what} on {self.host}: HTTP {resp.status} {_said(resp)}")
        return sha256_digest(data)

    # -- blobs ----------------------------------------------------------------------------------------
    def open_blob(self, repo: str, digest: str) -> BlobStream:
        """The blob's bytes as stored (compressed layers stay compressed)."""
        require(digest, f"{self.host}/{repo}: blob")
        what = f"blob {digest}"
        resp = self.transport.request("GET", f"/v2/{repo}/blobs/{digest}", scope=_pull(repo), what=what, stream=True)
        if isinstance(resp, BlobStream):
            return resp
        if resp.status == 404:
            raise ImageNotFound(f"{self.host}/{repo}: {what} not found in registry {self.host}")
        raise SourceUnavailable(f"registry {self.host} answered {resp.status} to {what}")

    def read_blob(self, repo: str, digest: str, cap: int) -> bytes:
        """A small blob (a config) whole, at most cap bytes, checked against its digest."""
        with self.open_blob(repo, digest) as stream:
            data = stream.read(cap + 1)
        if len(data) > cap:
            raise InvalidImage(f"{self.host}/{repo}: blob {digest} is over the {cap} byte cap")
        return data

    def blob_size(self, repo: str, digest: str) -> int | None:
        resp = self.transport.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=_pull(repo), what=f"blob {digest}")
        length = resp.header("Content-Length") or ""
        return int(length) if resp.status == 200 and length.isdigit() else None

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.blob_size(repo, digest) is not None

    def push_blob(self, repo: str, path: Path, digest: str, size: int) -> None:
        """Upload unless present (idempotent by digest): one PUT, or PATCH chunks for a big blob."""
        require(digest, f"pushing {path}")
        if self.blob_exists(repo, digest):
            return
        what = f"upload of {digest} to {repo}"
        resp = self.transport.request("POST", f"/v2/{repo}/blobs/uploads/", scope=_push(repo), what=what, body=b"")
        location = self._location(resp, (202,), what, f"/v2/{repo}/blobs/uploads/")
        if size > CHUNKED_ABOVE:
            with open(path, "rb") as fh:
                offset = 0
                while chunk := fh.read(CHUNK_SIZE):
                    resp = self.transport.request(
                        "PATCH", location, scope=_push(repo), what=what, body=chunk, absolute=True,
                        headers={"Content-Type": "application/octet-stream",
                                 "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
                    location = self._location(resp, (202,), what, location)
                    offset += len(chunk)
            body: bytes | Path = b""
        else:
            body = path
        sep = "&" if "?" in location else "?"
        resp = self.transport.request("PUT", f"{location}{sep}digest={digest}", scope=_push(repo), what=what,
                                      body=body, absolute=True, headers={"Content-Type": "application/octet-stream"})
        if resp.status not in (201, 202, 204):
            raise PushFailed(f"{what} on {self.host}: HTTP {resp.status} {_said(resp)}")

    def _location(self, resp, ok: tuple[int, ...], what: str, base: str) -> str:
        if resp.status not in ok or not resp.header("Location"):
            raise PushFailed(f"{what} on {self.host}: HTTP {resp.status} {_said(resp)}")
        root = f"{self.transport.scheme}://{self.transport.api_host}"
        return urljoin(root + (base if base.startswith("/") else ""), resp.header("Location"))

    # -- listings -------------------------------------------------------------------------------------
    def tags(self, repo: str, page: int = PAGE) -> list[str]:
        return list(self._paged(f"/v2/{repo}/tags/list", "tags", _pull(repo), page))

    def catalog(self, page: int = PAGE) -> list[str]:
        return list(self._paged("/v2/_catalog", "repositories", "registry:catalog:*", page))

    def _paged(self, path: str, key: str, scope: str, page: int) -> Iterator[str]:
        """Pagination follows the `Link: <…>; rel="next"` header (RFC 5988)."""
        url: str | None = f"{path}?n={page}"
        while url:
            resp = self.transport.request("GET", url, scope=scope, what=f"GET {path}")
            if resp.status == 404:
                raise FaktoryError(f"{self.host}: {path} not found (no such repository?)")
            _expect(resp, (200,), self.host, f"GET {path}")
            try:
                items = json.loads(resp.body).get(key) or ()
            except (ValueError, AttributeError):
                raise InvalidImage(f"registry {self.host}: {path} answered with no JSON list") from None
            yield from (str(item) for item in items)
            url = _next_link(resp.header("Link"))

    # -- an OCI layout, pushed --------------------------------------------------------------------------
    def push_layout(self, layout: Path, repo: str, tag: str, annotations: Mapping[str, str] | None = None) -> str:
        """Push the image an OCI layout holds under repo:tag; returns the digest the tag names.

        One plain manifest goes out as itself (byte for byte unless annotations are added). Several, or an
        index that itself carries meaning (kraftkit wants its annotations and the platform descriptors on
        it), go out as an image index.
        """
        source = _Layout(layout)
        descriptors = source.index.get("manifests") or []
        if not isinstance(descriptors, list) or not descriptors:
            raise InvalidImage(f"OCI layout {layout} holds no manifest")
        is_package = bool(source.index.get("annotations")) or any("platform" in d for d in descriptors)
        if len(descriptors) == 1 and not is_package:
            root_type = descriptors[0].get("mediaType", mf.OCI_MANIFEST)
            data = source.read(descriptors[0])
            if not annotations:
                self._push_children(source, repo, root_type, json.loads(data))
                return self.put_manifest(repo, tag, data, root_type)
            root = json.loads(data)
        else:
            root_type = mf.OCI_INDEX
            root = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": [dict(d) for d in descriptors]}
            if source.index.get("annotations"):
                root["annotations"] = dict(source.index["annotations"])
        root.setdefault("mediaType", root_type)
        if annotations:
            root["annotations"] = {**(root.get("annotations") or {}), **annotations}
        self._push_children(source, repo, root_type, root)
        return self.put_manifest(repo, tag, json.dumps(root, separators=(",", ":")).encode(), root_type)

    def _push_children(self, source: "_Layout", repo: str, media_type: str, doc: dict) -> None:
        if media_type in mf.INDEX_TYPES:
            for child in doc.get("manifests", []):
                data = source.read(child)
                child_type = child.get("mediaType", mf.OCI_MANIFEST)
                self._push_children(source, repo, child_type, json.loads(data))
                self.put_manifest(repo, child["digest"], data, child_type)
            return
        for blob in [doc["config"], *doc.get("layers", [])]:
            self.push_blob(repo, source.blob(blob["digest"]), blob["digest"], int(blob["size"]))


class _Layout:
    """Blobs of an OCI layout, addressed only by well-formed digests and checked when read whole."""

    def __init__(self, root: Path):
        self.root = root
        try:
            self.index = json.loads((root / "index.json").read_text())
        except (OSError, ValueError) as exc:
            raise InvalidImage(f"OCI layout {root}: unreadable index.json ({type(exc).__name__})") from None
        if not isinstance(self.index, dict):
            raise InvalidImage(f"OCI layout {root}: index.json is not an object")

    def blob(self, digest: str) -> Path:
        algo, _, hexpart = require(digest, f"OCI layout {self.root}").partition(":")
        path = self.root / "blobs" / algo / hexpart
        if not path.is_file():
            raise InvalidImage(f"OCI layout {self.root}: blob {digest} is missing")
        return path

    def read(self, descriptor: Mapping) -> bytes:
        data = self.blob(descriptor["digest"]).read_bytes()
        if sha256_digest(data) != descriptor["digest"]:
            raise InvalidImage(f"OCI layout {self.root}: blob {descriptor['digest']} fails its digest")
        return data


def _expect(resp: Response, ok: tuple[int, ...], host: str, what: str) -> None:
    if resp.status not in ok:
        raise SourceUnavailable(f"registry {host} answered {resp.status} to {what}")


def _said(resp: Response) -> str:
    return resp.body[:200].decode("utf-8", "replace").strip().replace("\n", " ")


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', header)
    return urljoin("/", match.group(1)) if match else None


__all__ = ["CHUNKED_ABOVE", "Manifest", "PushFailed", "RegistryClient", "sha256_digest"]
