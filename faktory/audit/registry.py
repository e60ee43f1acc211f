"""List a registry's images through the distribution API: `/v2/_catalog`, then `/v2/<repo>/tags/list`.

`HOST:PORT` lists every repository, `HOST:PORT/REPO` one repository. Pagination follows the `Link` header.
Auth: anonymous first; on a 401 the challenge decides — Basic sends the credentials, Bearer fetches a token
from the realm with them. Credentials and the plain-HTTP rule are the inspector's (faktory.sources.registry).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from faktory.errors import AuthError, FaktoryError, SourceUnavailable

PAGE = 1000


@dataclass(frozen=True)
class RegistrySpec:
    host: str  # "127.0.0.1:5000"
    repository: str | None  # "fixtures/flask", or None for the whole catalog

    @classmethod
    def parse(cls, text: str) -> "RegistrySpec":
        text = re.sub(r"^[a-z]+://", "", text.strip()).rstrip("/")
        host, _, repo = text.partition("/")
        if not host:
            raise FaktoryError(f"--registry wants HOST[:PORT][/REPO], got {text!r}")
        return cls(host=host, repository=repo or None)

    @property
    def base_url(self) -> str:
        from faktory.sources.registry import plain_http  # the inspector's rule: loopback or listed -> plain HTTP

        return f"{'http' if plain_http(self.host) else 'https'}://{self.host}"


class RegistryLister:
    def __init__(
        self, spec: RegistrySpec, credentials: tuple[str, str] | None = None, timeout: float = 30.0, page: int = PAGE
    ):
        from faktory.sources.registry import credentials as configured  # same lookup as image pulls

        self.spec = spec
        self.credentials = credentials or configured(spec.host)
        self.client = httpx.Client(base_url=spec.base_url, timeout=timeout, follow_redirects=True)
        self._auth_header: dict[str, str] = {}
        self.page = page

    def refs(self) -> list[str]:
        """`docker://` refs, so the audit reads them from this registry even if the engine has the same names."""
        repos = [self.spec.repository] if self.spec.repository else self.repositories()
        out = []
        for repo in repos:
            out.extend(f"docker://{self.spec.host}/{repo}:{tag}" for tag in sorted(self.tags(repo)))
        return out

    def repositories(self) -> list[str]:
        return list(self._paged("/v2/_catalog", "repositories", "registry:catalog:*"))

    def tags(self, repo: str) -> list[str]:
        return list(self._paged(f"/v2/{repo}/tags/list", "tags", f"repository:{repo}:pull"))

    def _paged(self, path: str, key: str, scope: str):
        url = f"{path}?n={self.page}"
        while url:
            response = self._get(url, scope)
            if response.status_code == 404:
                raise FaktoryError(f"{self.spec.host}: {path} not found (no such repository?)")
            self._check(response, path)
            for item in response.json().get(key) or ():
                yield item
            url = _next_link(response.headers.get("link"))

    def _get(self, url: str, scope: str) -> httpx.Response:
        return self._request("GET", url, scope)

    def _request(self, method: str, url: str, scope: str) -> httpx.Response:
        try:
            response = self.client.request(method, url, headers=self._auth_header)
            if response.status_code == 401:
                self._auth_header = self._authenticate(response, scope)
                response = self.client.request(method, url, headers=self._auth_header)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"registry {self.spec.host} not reachable: {exc}") from exc
        return response

    def _check(self, response: httpx.Response, path: str) -> None:
        if response.status_code in (401, 403):
            raise AuthError(f"registry {self.spec.host}: not authorised to list {path} (check the credentials)")
        if response.status_code >= 400:
            raise SourceUnavailable(f"registry {self.spec.host}: {path} answered HTTP {response.status_code}")

    def _authenticate(self, challenge: httpx.Response, scope: str) -> dict[str, str]:
        header = challenge.headers.get("www-authenticate", "")
        scheme = header.split(" ", 1)[0].lower()
        if self.credentials is None and scheme != "bearer":
            raise AuthError(f"registry {self.spec.host} wants credentials (set FAKTORY_REGISTRY_USER/PASSWORD)")
        if scheme == "basic":
            token = base64.b64encode(f"{self.credentials[0]}:{self.credentials[1]}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        if scheme == "bearer":
            params = dict(re.findall(r'(\w+)="([^"]*)"', header))
            query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
            auth = tuple(self.credentials) if self.credentials else None
            try:
                answer = httpx.get(params["realm"], params=query, auth=auth, timeout=30)
            except (KeyError, httpx.HTTPError) as exc:
                raise AuthError(f"registry {self.spec.host}: token service failed: {exc}") from exc
            if answer.status_code != 200:
                raise AuthError(f"registry {self.spec.host}: token service answered HTTP {answer.status_code}")
            body = answer.json()
            return {"Authorization": f"Bearer {body.get('token') or body.get('access_token')}"}
        raise AuthError(f"registry {self.spec.host}: unsupported auth challenge {header!r}")


def _next_link(header: str | None) -> str | None:
    """RFC 5988 `Link: </v2/_catalog?last=x&n=100>; rel="next"`."""
    if not header:
        return None
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', header)
    return urljoin("/", match.group(1)) if match else None


def refs_from_registry(text: str, credentials: tuple[str, str] | None = None) -> list[str]:
    return RegistryLister(RegistrySpec.parse(text), credentials).refs()
