"""`--html`: one self-contained file (inline CSS and SVG, no script, nothing fetched) that opens from disk."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from faktory.audit.model import ERROR, AuditReport
from faktory.units import human_bytes, percent
from faktory.audit.writers import atomic_text
from faktory.audit.writers.charts import blockers_chart, colour_for, size_chart, targets_chart


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("faktory.audit", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["bytes"] = human_bytes
    env.globals["percent"] = percent
    env.globals["colour_for"] = colour_for
    return env


def render_html(report: AuditReport) -> str:
    summary = report.summary()
    loaded = [r for r in report.images if r.status != ERROR]
    charts = {
        "targets": targets_chart(summary["targets"]),
        "sizes": size_chart([(r.ref, r.image_size, r.closure_size, r.wasted_bytes) for r in loaded]),
        "blockers": blockers_chart(summary["blockers_by_kind"], report.targets),
    }
    return _environment().get_template("report.html.j2").render(
        report=report, summary=summary, charts=charts, ERROR=ERROR
    )


def write_html(report: AuditReport, path: str | Path) -> None:
    with atomic_text(path) as fh:
        fh.write(render_html(report))
