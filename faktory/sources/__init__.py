"""Image sources: one module per kind of reference, all returning faktory.image.Image.

`open_image(ref)` is the one entry point: it parses the reference (faktory.sources.reference) and hands it
to the daemon, registry, docker-archive or OCI-layout reader. Every reader streams each layer once into the
shared layer cache (faktory.cache) and returns an immutable LoadedImage.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from faktory.errors import FaktoryError, ImageNotFound, ReferenceError_
from faktory.image import Platform
from faktory.sources import reference as refs
from faktory.sources.manifest import platform_matches

# The readers (daemon, registry, archive, layout) are imported when their kind of reference is opened: the
# docker SDK alone takes ~0.1 s, and a warm registry load needs none of the others. faktory.cache is imported
# where it is used because it reads layers through faktory.sources.blobs (a cycle through this package).
if TYPE_CHECKING:
    from faktory.cache import LayerCache
    from faktory.registry.auth import Keychain
    from faktory.sources.loaded import LoadedImage

_log = logging.getLogger("faktory.sources")

PULL_POLICIES = ("always", "missing", "never")


def check_pull_policy(policy: str) -> str:
    chosen = policy.strip().lower()
    if chosen not in PULL_POLICIES:
        raise ReferenceError_(f"--pull {policy!r}: choose from {', '.join(PULL_POLICIES)}")
    return chosen


def pull_policy(policy: str | None = None) -> str:
    """The explicit policy, else $FAKTORY_PULL (the CLI's --pull), else `missing` as `docker run` has it."""
    return check_pull_policy(policy or os.environ.get("FAKTORY_PULL") or "missing")


def open_image(ref: str, platform: "Platform | str | None" = None, cache: "LayerCache | None" = None,
               pull: str | None = None, keychain: "Keychain | None" = None) -> "LoadedImage":
    """Any image reference -> one digest-verified Image with a merged filesystem.

    pull applies to engine names (`NAME[:TAG]`): `missing` reads the engine, then the registry the name
    names; `always` reads the registry; `never` reads the engine only. Explicit transports ignore it.
    keychain: registry logins (faktory.registry.auth); None is the default order (environment, docker config).
    """
    from faktory.cache import LayerCache

    if isinstance(platform, str):
        try:
            platform = Platform.parse(platform)
        except ValueError as exc:
            raise ReferenceError_(str(exc)) from None
    policy = pull_policy(pull)
    parsed = refs.parse(ref)
    _log.debug("%s: %s reference, pull policy %s", ref, type(parsed).__name__.removesuffix("Ref").lower(), policy)
    image = _open(parsed, platform, cache or LayerCache(), policy, keychain)
    _log.debug("%s: %s image %s, %d layers", ref, image.source, image.digest, len(image.layers))
    if platform is not None:  # an engine or archive holds one platform per name: it must be the one asked for
        if not platform_matches(image.platform, platform):
            raise ImageNotFound(f"{image.ref}: no image for platform {platform} (available: {image.platform})")
    return image


def _open(parsed, platform, cache, policy: str = "missing", keychain: "Keychain | None" = None) -> "LoadedImage":
    if isinstance(parsed, refs.ArchiveRef):
        from faktory.sources.archive import load_archive

        return load_archive(parsed.path, parsed.selector, str(parsed), cache)
    if isinstance(parsed, refs.LayoutRef):
        from faktory.sources.layout import load_layout, load_oci_archive

        load = load_oci_archive if parsed.archive else load_layout
        return load(parsed.path, parsed.tag, str(parsed), cache, platform)
    if isinstance(parsed, refs.RegistryRef):
        from faktory.sources.registry import load_registry

        _log.info("pulling %s from the registry", parsed)
        return load_registry(parsed, cache, platform, keychain)
    from faktory.sources.daemon import DaemonUnreachable, NotInDaemon, engine_address, load_daemon

    if policy == "always" and parsed.registry is not None:
        from faktory.sources.registry import load_registry

        _log.info("pulling %s (--pull always)", parsed.registry)
        return load_registry(parsed.registry, cache, platform, keychain)
    try:
        return load_daemon(parsed.name, parsed.name, cache, platform)
    except (NotInDaemon, DaemonUnreachable) as daemon_exc:
        if parsed.registry is None:
            raise
        if policy == "never":
            raise type(daemon_exc)(f"{daemon_exc} (--pull never: not reading {parsed.registry}; "
                                   f"engine {engine_address()})") from daemon_exc
        from faktory.sources.registry import load_registry

        _log.info("%s is not in the Docker engine: pulling from %s", parsed.name, parsed.registry)
        try:
            return load_registry(parsed.registry, cache, platform, keychain)
        except FaktoryError as exc:
            raise type(exc)(f"{daemon_exc}; and from the registry: {exc}") from exc
