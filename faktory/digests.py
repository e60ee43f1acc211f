"""Digests as they come in (descriptors, diff_ids, references, webhook payloads): `sha256:<64 lowercase hex>`.

One strict check shared by every reader: a digest also names files (cache entries, layout blobs), so
anything looser (`sha256:../../etc/passwd`, upper case, other algorithms) is refused before it is used.
"""

from __future__ import annotations

import re

from faktory.errors import InvalidImage

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def require(value: object, what: str) -> str:
    """`value` if it is a well-formed sha256 digest, else InvalidImage naming `what`."""
    if not is_digest(value):
        shown = value if isinstance(value, str) else type(value).__name__
        raise InvalidImage(f"{what}: malformed digest {str(shown)[:100]!r} (expected sha256:<64 hex digits>)")
    return value  # type: ignore[return-value]


def hex_of(value: object, what: str = "digest") -> str:
    return require(value, what)[7:]
