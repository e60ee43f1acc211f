"""Audit rows cached by image digest, so a re-run only analyses digests it has not seen.

One JSON file per digest under `<user cache dir>/audit/<revision>/<targets>/`. The revision names the row
schema, the faktory version and a fingerprint of the code that computes a row (analyzers, emitters' checks,
catalogers, hook tables): changed code never serves rows older code computed. Writes are atomic (temp + rename), so
concurrent audits and a Ctrl-C never leave a torn entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import faktory
import faktory.analyzers
import faktory.emitters
from faktory import __version__
from faktory.audit.model import ERROR, SCHEMA_VERSION, ImageAudit
from faktory.cache import default_cache_dir

# Bump when the analysis changes what a row would contain for the same image.
ANALYSIS_REVISION = "2"  # rows carry the image's os-release and dpkg architectures


def _revision() -> str:
    # A pinned revision lets a development tree, whose files change all the time, keep its cache.
    code = os.environ.get("FAKTORY_AUDIT_CODE_REVISION") or code_fingerprint()
    return f"s{SCHEMA_VERSION}-a{ANALYSIS_REVISION}-v{__version__}-{re.sub(r'[^A-Za-z0-9_.-]', '-', code)}"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Names, sizes and mtimes of the source and data files rows depend on: cheap, and changes with the code."""
    digest = hashlib.sha256()
    for package in (faktory, faktory.analyzers, faktory.emitters):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".yaml", ".json", ".toml") and "__pycache__" not in path.parts:
                st = path.stat()
                digest.update(f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


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
        """Store under `key` (a cheap content key of the ref) and under the image digest: a later run finds it by
        either, whichever its lookup gives."""
        if row.status == ERROR:
            return  # errors are often transient (registry down): never cache them
        for name in dict.fromkeys(k for k in (key, row.digest) if k):
            self._write(row, name)

    def _write(self, row: ImageAudit, key: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(replace(row, cached=False).to_dict(), fh)
            os.replace(tmp, self._path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
