"""How long and how much: the timeouts and size caps of registry traffic, from the environment.

| variable | default | what |
|---|---|---|
| `FAKTORY_REGISTRY_CONNECT_TIMEOUT` | 10 s | TCP (and TLS) connect |
| `FAKTORY_REGISTRY_READ_TIMEOUT` | 30 s | the longest silence while waiting for or reading an answer |
| `FAKTORY_REGISTRY_TIMEOUT` | 300 s | one request's whole exchange, retries included (a layer's body excepted) |
| `FAKTORY_MAX_MANIFEST_SIZE` | 4 MiB | a manifest or index, and any other answer held in memory |
| `FAKTORY_MAX_CONFIG_SIZE` | 8 MiB | an image config blob |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from faktory.errors import FaktoryError

_MIB = 1 << 20

ENV = {  # Limits field -> (environment variable, parser)
    "connect": ("FAKTORY_REGISTRY_CONNECT_TIMEOUT", float),
    "read": ("FAKTORY_REGISTRY_READ_TIMEOUT", float),
    "total": ("FAKTORY_REGISTRY_TIMEOUT", float),
    "manifest": ("FAKTORY_MAX_MANIFEST_SIZE", int),
    "config": ("FAKTORY_MAX_CONFIG_SIZE", int),
}


@dataclass(frozen=True)
class Limits:
    """Seconds and bytes. containerd reads at most 4 MiB of a manifest; the CNCF registry accepts no bigger."""

    connect: float = 10.0
    read: float = 30.0
    total: float = 300.0
    manifest: int = 4 * _MIB
    config: int = 8 * _MIB

    @classmethod
    def from_env(cls) -> "Limits":
        values = {}
        for name, (var, parse) in ENV.items():
            text = os.environ.get(var)
            if text is None or not text.strip():
                continue
            try:
                value = parse(text)
            except ValueError:
                value = 0
            if not value > 0:
                unit = "number of seconds" if parse is float else "number of bytes"
                raise FaktoryError(f"${var} must be a positive {unit}, got {text!r}")
            values[name] = value
        return cls(**values)
