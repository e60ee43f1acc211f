"""The three calls everything else (CLI, webhook service, audit) is a thin shell over."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faktory.analyzers.model import Closure
    from faktory.analyzers.options import AnalyzeOptions
    from faktory.emitters.base import Artifact, EmitOptions
    from faktory.image import Image, Platform
    from faktory.registry.auth import Keychain


def load_image(ref: str, platform: "Platform | str | None" = None, pull: str | None = None,
               keychain: "Keychain | None" = None) -> "Image":
    """Inspect: any reference (daemon, registry, docker-archive:, oci:) -> Image.

    platform: `os/arch[/variant]` (a malformed one is a ReferenceError_), picked from an image index.
    pull: always | missing | never for engine names (default $FAKTORY_PULL, else missing).
    keychain: registry logins (faktory.registry.auth.keychain for --creds/--authfile); None: the default order.
    """
    from faktory.sources import open_image

    return open_image(ref, platform=platform, pull=pull, keychain=keychain)


def analyze(image: "Image", options: "AnalyzeOptions | None" = None) -> "Closure":
    """Analyze: Image -> Closure (dependency graph with reasons, findings).

    options: user hints and opt-in observation (faktory.analyzers.options.AnalyzeOptions); None is the
    default static analysis, which never executes anything from the image.
    """
    from faktory.analyzers.analysis import analyze as run

    return run(image, options)


def convert(image: "Image", closure: "Closure", target: str, outdir: Path, options: "EmitOptions | None" = None) -> "Artifact":
    """Emit: write the target's artifact into outdir atomically."""
    from faktory.emitters.convert import convert as run

    return run(image, closure, target, Path(outdir), options)
