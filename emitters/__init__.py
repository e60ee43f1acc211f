"""Emitters: one module per target behind the `Emitter` Protocol (emitters/base.py)."""
