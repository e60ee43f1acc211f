"""How long and how much: the timeouts and size caps of registry traffic, from the environment.

Sizes take units as faktory.limits reads them (`4MiB`, `500KB`, `1048576`); neither kind can be turned off.

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

from faktory.limits import LimitError, parse_size

_MIB = 1 << 20


def _seconds(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise LimitError(f"{what}={text!r} is not a number of seconds") from None


ENV = {  # Limits field -> (environment variable, parser)
    "connect": ("FAKTORY_REGISTRY_CONNECT_TIMEOUT", _seconds),
    "read": ("FAKTORY_REGISTRY_READ_TIMEOUT", _seconds),
    "total": ("FAKTORY_REGISTRY_TIMEOUT", _seconds),
    "manifest": ("FAKTORY_MAX_MANIFEST_SIZE", parse_size),
    "config": ("FAKTORY_MAX_CONFIG_SIZE", parse_size),
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
            value = parse(text, var)
            if not value > 0:  # a registry limit cannot be switched off: 0 would mean wait or read forever
                raise LimitError(f"{var}={text!r} must be more than 0")
            values[name] = value
        return cls(**values)
