"""Migration audit: which images of a fleet can become unikernels, per target, why not, and what it saves.

Shaped like syft: catalogers (one per ecosystem) fill one model (audit/model.py), writers turn it into a
terminal table, JSON, CSV, HTML and CycloneDX. Per-target verdicts come from each emitter's `check`.
"""
