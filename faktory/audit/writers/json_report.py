"""`--json`: the stable, documented schema (docs/audit.md), `schema_version` first."""

from __future__ import annotations

import json
from pathlib import Path

from faktory.audit.model import AuditReport
from faktory.audit.writers import atomic_text


def write_json(report: AuditReport, path: str | Path) -> None:
    with atomic_text(path) as fh:
        json.dump(report.to_dict(), fh, indent=2)
        fh.write("\n")
