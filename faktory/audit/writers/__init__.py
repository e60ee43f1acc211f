"""Report writers: one model (AuditReport), many formats. Each writes atomically: temp file, then rename."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path


def public_mode() -> int:
    """What open(2) would give a new file: 0644 under the usual umask (mkstemp's own files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_text(path: str | Path):
    """Yield a text stream; on success it replaces `path`, on error nothing is left behind. `-` is stdout."""
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.fchmod(fd, public_mode())  # reports are for sharing: a web server or a scanner reads them
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
