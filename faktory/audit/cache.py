"""Audit rows cached by image digest, so a re-run only analyses digests it has not seen.

One JSON file per digest under `<user cache dir>/audit/<revision>/`. The revision names the row schema and the
faktory version: a new analyzer never serves rows an older one computed. Writes are atomic (temp + rename), so
concurrent audits and a Ctrl-C never leave a torn entry.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from faktory.audit.model import ERROR, SCHEMA_VERSION, ImageAudit

# Bump when the analysis changes what a row would contain for the same image.
ANALYSIS_REVISION = "1"


def default_cache_dir() -> Path:
    env = os.environ.get("FAKTORY_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("faktory"))


def _revision() -> str:
    from faktory import __version__

    return f"s{SCHEMA_VERSION}-a{ANALYSIS_REVISION}-v{__version__}"


class DigestCache:
    def __init__(self, root: Path | None = None, targets: tuple[str, ...] = ()) -> None:
        # Verdicts depend on which targets were checked: a row is only reusable for the same target set.
        target_key = "-".join(sorted(targets)) or "none"
        self.root = Path(root or default_cache_dir())
        self.dir = self.root / "audit" / _revision() / target_key

    def _path(self, digest: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "-", digest)
        return self.dir / f"{safe}.json"

    def get(self, digest: str | None, ref: str) -> ImageAudit | None:
        if not digest:
            return None
        try:
            data = json.loads(self._path(digest).read_text())
        except (OSError, ValueError):
            return None
        try:
            row = ImageAudit.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return None  # an entry from a broken write or a foreign file: analyse again
        return replace(row, ref=ref, cached=True)

    def put(self, row: ImageAudit, key: str | None = None) -> None:
        """Store under `key` (a cheap content key of the ref) or else the image digest."""
        key = key or row.digest
        if row.status == ERROR or not key:
            return  # errors are often transient (registry down): never cache them
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(replace(row, cached=False).to_dict(), fh)
            os.replace(tmp, self._path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
