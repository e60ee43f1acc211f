"""Cheap content keys for the digest cache: learn what an image *is* without loading its layers.

A key names content, so two refs to the same image share one cached row. Only sources with a one-round-trip
answer get a key here (the engine's image id, a registry's manifest digest); for everything else the worker
loads the image and keys on its digest.
"""

from __future__ import annotations

import re

DAEMON_PREFIXES = ("docker-daemon:", "daemon:")
FILE_PREFIXES = ("docker-archive:", "oci:", "oci-archive:", "dir:", "file:")


def cheap_key(ref: str) -> str | None:
    try:
        if ref.startswith(FILE_PREFIXES):
            return None
        if ref.startswith(DAEMON_PREFIXES):
            return _daemon_key(ref.split(":", 1)[1])
        if ref.startswith("docker://"):
            ref = ref[len("docker://"):]
        if _names_registry(ref):
            return _registry_key(ref)
        return _daemon_key(ref)
    except Exception:  # any doubt: no key, the worker loads the image and keys on its digest
        return None


def _names_registry(ref: str) -> bool:
    first, sep, _ = ref.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def split_registry_ref(ref: str) -> tuple[str, str, str]:
    """`host:port/repo/name:tag` or `…@sha256:…` -> (host, repo, tag-or-digest)."""
    host, _, rest = ref.partition("/")
    if "@" in rest:
        repo, _, reference = rest.partition("@")
        repo = re.sub(r":[^/]*$", "", repo)
    else:
        repo, sep, reference = rest.rpartition(":")
        if not sep or "/" in reference:
            repo, reference = rest, "latest"
    return host, repo, reference


def _registry_key(ref: str) -> str | None:
    from faktory.audit.registry import RegistryLister, RegistrySpec

    host, repo, reference = split_registry_ref(ref)
    if reference.startswith("sha256:"):
        return f"registry-{reference}"
    lister = RegistryLister(RegistrySpec(host=host, repository=repo), timeout=10)
    digest = lister.manifest_digest(repo, reference)
    return f"registry-{digest}" if digest else None


def _daemon_key(name: str) -> str | None:
    import docker

    client = docker.from_env(timeout=10)
    try:
        return f"daemon-{client.images.get(name).id}"
    finally:
        client.close()
