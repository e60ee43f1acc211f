"""faktory: convert Python container images into unikernel images.

Three stages, each behind one call (see docs/architecture.md):
    image   = faktory.api.load_image(ref)      # faktory/        (inspect)
    closure = faktory.api.analyze(image)        # analyzers/      (analyze)
    artifact = faktory.api.convert(image, closure, target, outdir)  # emitters/ (emit)
"""

__version__ = "0.1.0"


def installed_version() -> str:
    """The installed distribution's version (what `faktory --version` and SBOM tool entries say)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("faktory-unikernel")
    except PackageNotFoundError:  # a source tree that was never installed
        return __version__
