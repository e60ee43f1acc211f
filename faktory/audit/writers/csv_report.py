"""`--csv`: one row per image. Columns are fixed and documented (docs/audit.md); per-target columns follow the
audited targets in the order given."""

from __future__ import annotations

import csv
from pathlib import Path

from faktory.audit.model import AuditReport, ImageAudit
from faktory.audit.writers import atomic_text

BASE_COLUMNS = (
    "ref", "digest", "status", "error", "platform", "python_version", "interpreter", "libc", "interpreter_package",
    "entrypoint", "image_size", "closure_size", "closure_files", "wasted_bytes", "efficiency", "layers",
    "distributions", "packages", "c_extensions", "native_libraries", "findings",
)
TARGET_COLUMNS = ("convertible", "projected_size", "blockers", "warnings", "blocker_kinds", "unverified", "notes")


def columns(targets) -> list[str]:
    return list(BASE_COLUMNS) + [f"{t}_{c}" for t in targets for c in TARGET_COLUMNS]


def row_values(row: ImageAudit, targets) -> dict:
    interp = row.interpreter
    values = {
        "ref": row.ref,
        "digest": row.digest or "",
        "status": row.status,
        "error": row.error or "",
        "platform": row.platform or "",
        "python_version": interp.version if interp else "",
        "interpreter": interp.real_path if interp else "",
        "libc": interp.libc if interp else "",
        "interpreter_package": (interp.provided_by or "") if interp else "",
        "entrypoint": " ".join(row.entrypoint.argv) if row.entrypoint else "",
        "image_size": row.image_size,
        "closure_size": row.closure_size,
        "closure_files": row.closure_files,
        "wasted_bytes": row.wasted_bytes,
        "efficiency": f"{row.efficiency:.4f}",
        "layers": row.layer_count,
        "distributions": len(row.distributions),
        "packages": ";".join(f"{p.name}=={p.version}" for p in row.distributions),
        "c_extensions": len(row.c_extensions),
        "native_libraries": ";".join(row.native_libraries),
        "findings": ";".join(sorted({f.kind for f in row.findings})),
    }
    for t in targets:
        verdict = row.targets.get(t)
        convertible = "" if verdict is None or verdict.convertible is None else ("yes" if verdict.convertible else "no")
        values[f"{t}_convertible"] = convertible
        values[f"{t}_projected_size"] = "" if verdict is None or verdict.projected_size is None else verdict.projected_size
        values[f"{t}_blockers"] = len(verdict.blockers) if verdict else ""
        values[f"{t}_warnings"] = len(verdict.warnings) if verdict else ""
        values[f"{t}_blocker_kinds"] = ";".join(sorted({b.kind for b in verdict.blockers})) if verdict else ""
        values[f"{t}_unverified"] = len(verdict.unverified) if verdict else ""
        values[f"{t}_notes"] = len(verdict.notes) if verdict else ""
    return values


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Image-controlled text (package names, messages) must not become a formula when the CSV is opened."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(report: AuditReport, path: str | Path) -> None:
    with atomic_text(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=columns(report.targets))
        writer.writeheader()
        for row in report.images:
            writer.writerow({k: spreadsheet_safe(v) for k, v in row_values(row, report.targets).items()})
