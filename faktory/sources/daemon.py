"""The local Docker engine (docker SDK, `DOCKER_HOST` honoured).

Warm path: `docker image inspect` gives the image id (= config digest) and the diff_ids; when the config and
every layer are already in the cache nothing else is asked. Cold path: a local overlay2 engine's store fills
the cache directly (faktory.sources.engine_store); otherwise `docker save` is streamed through the archive
reader once, layers going straight into the cache.
"""

from __future__ import annotations

import os

from faktory.cache import LayerCache
from faktory.errors import ImageNotFound, SourceUnavailable
from faktory.image import Platform
from faktory.sources.archive import ChunkReader, layer_descriptor, load_save_stream
from faktory.sources.loaded import LoadedImage, assemble
from faktory.sources.manifest import platform_matches


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def client():
    import docker
    from docker.errors import DockerException

    try:
        return docker.from_env(timeout=300)
    except DockerException as exc:
        raise DaemonUnreachable(f"cannot reach the Docker engine at {engine_address()}: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class NotInDaemon(ImageNotFound):
    pass


class DaemonUnreachable(SourceUnavailable):
    pass


def _inspect(name: str) -> dict:
    from faktory.sources.engine import EngineError, inspect_image

    try:
        attrs = inspect_image(name)
    except EngineError as exc:
        if exc.status == 404:
            raise NotInDaemon(f"image {name!r} not found in the Docker engine") from None
        if exc.status is None:
            raise DaemonUnreachable(f"cannot reach the Docker engine at {engine_address()}: {exc}") from None
        raise SourceUnavailable(f"Docker engine: {exc}") from None
    if attrs is not None:
        return attrs
    from docker.errors import APIError, DockerException, NotFound

    try:
        return client().api.inspect_image(name)
    except NotFound:
        raise NotInDaemon(f"image {name!r} not found in the Docker engine") from None
    except (APIError, DockerException) as exc:
        raise DaemonUnreachable(f"cannot reach the Docker engine at {engine_address()}: {_short(exc)}") from None
    except Exception as exc:  # requests' ConnectionError and friends
        raise DaemonUnreachable(f"cannot reach the Docker engine at {engine_address()}: {_short(exc)}") from None


def load_daemon(name: str, ref: str, cache: LayerCache, platform: Platform | None = None) -> LoadedImage:
    attrs = _inspect(name)
    if platform is not None:  # the engine keeps one platform per name: a different one is "not here"
        have = Platform(attrs.get("Os") or "linux", attrs.get("Architecture") or "amd64", attrs.get("Variant") or None)
        if not platform_matches(have, platform):
            raise NotInDaemon(f"image {name!r} in the Docker engine is for {have}, not {platform}")
    image_id = attrs.get("Id", "")
    diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
    warm = _from_cache(name, ref, image_id, diff_ids, attrs, cache)
    if warm is not None:
        return warm
    from faktory.sources.engine_store import fill_from_store

    if fill_from_store(attrs, cache, ref):
        warm = _from_cache(name, ref, image_id, diff_ids, attrs, cache)
        if warm is not None:
            return warm

    from docker.errors import APIError, DockerException, NotFound

    api = client().api

    def transport_error(exc: Exception):
        if isinstance(exc, (DockerException, OSError)) or "requests" in type(exc).__module__:
            return SourceUnavailable(f"{ref}: the Docker engine stopped streaming the image: {_short(exc)}")
        return None

    try:
        chunks = api.get_image(image_id or name)
    except NotFound:
        raise NotInDaemon(f"image {name!r} not found in the Docker engine") from None
    except (APIError, DockerException) as exc:
        raise SourceUnavailable(f"{ref}: docker save failed: {_short(exc)}") from None
    # The save stream of an image id has no RepoTags: select its only entry.
    image = load_save_stream(ChunkReader(chunks), None, ref, cache, source="daemon", on_error=transport_error)
    # Describe it the way the warm path will, so a daemon image looks the same on every load.
    return _from_cache(name, ref, image_id, diff_ids, attrs, cache) or image


def _from_cache(name, ref, image_id, diff_ids, attrs, cache: LayerCache) -> LoadedImage | None:
    if not image_id.startswith("sha256:"):
        return None
    config_bytes = cache.get_config(image_id)
    if config_bytes is None:
        return None
    indexes = []
    for diff_id in diff_ids:
        ix = cache.get(diff_id)
        if ix is None:
            return None
        indexes.append(ix)
    layers = [layer_descriptor(f"{d.split(':')[-1]}/layer.tar", ix) for d, ix in zip(diff_ids, indexes)]
    manifest = {"Config": f"{image_id.split(':')[-1]}.json", "RepoTags": attrs.get("RepoTags") or [],
                "Layers": [layer.annotations["org.opencontainers.image.title"] for layer in layers]}
    return assemble(ref=ref, digest=None, source="daemon", manifest=manifest, config_bytes=config_bytes,
                    config_digest=image_id, layers=layers, indexes=indexes)
