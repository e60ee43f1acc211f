"""Cheap content keys for the digest cache: learn what an image *is* without loading its layers.

A key names content, so two refs to the same image share one cached row. References are parsed exactly as
the inspector parses them (faktory.sources.reference) and looked up where the inspector would look: the engine
(image id) for a bare name, falling back to the registry it names (manifest digest, same auth as image pulls).
Archives and layouts get no key here: the worker loads them and keys on the loaded image's digest.
"""

from __future__ import annotations

import hashlib
import threading

from faktory.registry.client import RegistryClient
from faktory.sources import reference as refs

_engine_lock = threading.Lock()
_FAILED = object()  # a lookup that raised, told apart from one that found no key
_engine = None


def cheap_key(ref: str, attempts: int = 2) -> str | None:
    """The ref's content key, or None. A lookup that fails (a busy engine answering late) is tried once more,
    since a row keyed by one run and not the next is a cache miss."""
    for _ in range(attempts):
        key = _try_key(ref)
        if key is not _FAILED:
            return key
    return None



def _try_key(ref: str):
    try:
        parsed = refs.parse(ref)
        if isinstance(parsed, refs.RegistryRef):
            return _registry_key(parsed)
        if isinstance(parsed, refs.DaemonRef):
            key = _daemon_key(parsed.name)
            if key is None and parsed.registry is not None:
                key = _registry_key(parsed.registry)
            return key
    except Exception:  # any doubt: no key, the worker loads the image and keys on its digest
        return _FAILED
    return None


def _registry_key(ref) -> str | None:
    if ref.digest:
        return f"registry-{ref.digest}"
    return "registry-" + RegistryClient(ref.host).get_manifest(ref.repository, ref.reference).digest


def _shared_engine():
    """One engine client for all lookups (they run on a thread pool): connecting once per ref adds up."""
    global _engine
    with _engine_lock:
        if _engine is None:  # the docker SDK is imported only when an engine ref is keyed
            from faktory.sources.daemon import client

            _engine = client()
        return _engine


def _daemon_key(name: str) -> str | None:
    from docker.errors import NotFound

    try:
        return f"daemon-{_shared_engine().images.get(name).id}"
    except NotFound:
        return None
