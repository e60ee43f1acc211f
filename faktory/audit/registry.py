"""List a registry's images through the distribution API: `/v2/_catalog`, then `/v2/<repo>/tags/list`.

`HOST:PORT` lists every repository, `HOST:PORT/REPO` one repository. The talking (pagination, auth,
plain HTTP, timeouts) is faktory.registry's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from faktory.errors import FaktoryError
from faktory.registry.auth import Keychain
from faktory.registry.client import PAGE, RegistryClient


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


class RegistryLister:
    def __init__(self, spec: RegistrySpec, keychain: Keychain | None = None, page: int = PAGE):
        self.spec = spec
        self.client = RegistryClient(spec.host, keychain)
        self.page = page

    def refs(self) -> list[str]:
        """`docker://` refs, so the audit reads them from this registry even if the engine has the same names."""
        repos = [self.spec.repository] if self.spec.repository else self.repositories()
        out = []
        for repo in repos:
            out.extend(f"docker://{self.spec.host}/{repo}:{tag}" for tag in sorted(self.client.tags(repo, self.page)))
        return out

    def repositories(self) -> list[str]:
        return self.client.catalog(self.page)


def refs_from_registry(text: str, keychain: Keychain | None = None) -> list[str]:
    return RegistryLister(RegistrySpec.parse(text), keychain).refs()
