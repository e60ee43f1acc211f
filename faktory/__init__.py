"""faktory: convert Python container images into unikernel images.

Three stages, each behind one call (see docs/architecture.md):
    image   = faktory.api.load_image(ref)      # faktory/        (inspect)
    closure = faktory.api.analyze(image)        # analyzers/      (analyze)
    artifact = faktory.api.convert(image, closure, target, outdir)  # emitters/ (emit)
"""

__version__ = "0.1.0"
