"""Assemble the fleet report from finished rows and hand it to every writer asked for."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from faktory.audit.model import AuditReport
from faktory import __version__
from faktory.audit.runner import AuditOutcome


def build_report(outcome: AuditOutcome, targets: Sequence[str], requested: int) -> AuditReport:
    return AuditReport(
        images=outcome.rows,
        targets=tuple(targets),
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        complete=outcome.complete,
        requested=requested,
        tool_version=__version__,
    )


def write_outputs(
    report: AuditReport,
    json_out: str | None = None,
    csv_out: str | None = None,
    html_out: str | Path | None = None,
    sbom_dir: str | Path | None = None,
    sbom_format: str = "cyclonedx-json",
) -> None:
    # Each writer is imported when its output is asked for: they load jinja2, cyclonedx or spdx-tools.
    if json_out:
        from faktory.audit.writers.json_report import write_json

        write_json(report, json_out)
    if csv_out:
        from faktory.audit.writers.csv_report import write_csv

        write_csv(report, csv_out)
    if html_out:
        from faktory.audit.writers.html_report import write_html

        write_html(report, html_out)
    if sbom_dir:
        from faktory.audit.writers.sbom import write_sboms

        write_sboms(report, sbom_dir, sbom_format)
