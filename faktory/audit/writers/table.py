"""The terminal view: one rich table (a column per target) and the blockers that explain every ✗."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from faktory.audit.model import ERROR, PARTIAL, AuditReport
from faktory.units import human_bytes


def _verdict_cell(verdict) -> Text:
    if verdict is None or verdict.convertible is None:
        return Text("?", style="dim")
    if verdict.convertible and verdict.unverified:
        return Text("✓? unverified", style="yellow")
    if verdict.convertible:
        notes = f" {len(verdict.notes)}n" if verdict.notes else ""
        return Text("✓" + (f" {len(verdict.warnings)}w" if verdict.warnings else "") + notes, style="green")
    return Text(f"✗ {len(verdict.blockers)}", style="bold red")


def render_table(report: AuditReport, console: Console) -> None:
    table = Table(title=f"faktory audit: {len(report.images)} image(s)", show_lines=False, header_style="bold")
    # A terminal folds long refs at 48 columns; a pipe or file keeps every ref whole on its row.
    table.add_column("image", overflow="fold", max_width=48 if console.is_terminal else None)
    for name in ("python", "libc", "dists", "C ext"):
        table.add_column(name, justify="right" if name in ("dists", "C ext") else "left")
    for name in ("size", "closure", "wasted"):
        table.add_column(name, justify="right")
    for target in report.targets:
        table.add_column(target, justify="center")
    for row in report.images:
        if row.status == ERROR:
            cells = [Text("error", style="red")] + [""] * (6 + len(report.targets))  # the reason is below
            table.add_row(Text(row.ref), *cells)
            continue
        interp = row.interpreter
        table.add_row(
            Text(row.ref + (" (cached)" if row.cached else "")),
            interp.version if interp else Text("–", style="dim"),
            Text(interp.libc) if interp else "",
            str(len(row.distributions)),
            str(len(row.c_extensions)),
            human_bytes(row.image_size),
            human_bytes(row.closure_size) if row.status != PARTIAL else Text("analysis failed", style="yellow"),
            human_bytes(row.wasted_bytes),
            *[_verdict_cell(row.targets.get(t)) for t in report.targets],
        )
    console.print(table)
    _print_blockers(report, console)
    if not report.complete:
        console.print(f"[yellow]interrupted: {len(report.images)} of {report.requested} image(s) audited[/]")


def _print_blockers(report: AuditReport, console: Console) -> None:
    """Under the table, why each ✗: one line per target and blocker kind (count, first example)."""
    for row in report.images:
        lines = []
        if row.status == ERROR:
            lines.append(f"  [red]error[/]: {_esc(row.error or '')}")
        if row.status == PARTIAL:
            lines.append(f"  [yellow]analysis failed[/]: {_esc(row.error or '')}")
        for target, verdict in row.targets.items():
            by_kind: dict[str, list] = {}
            for issue in verdict.blockers:
                by_kind.setdefault(issue.kind, []).append(issue)
            for kind, issues in by_kind.items():
                first = issues[0]
                more = f" [dim](+{len(issues) - 1} more)[/]" if len(issues) > 1 else ""
                where = f" [dim]({_esc(first.location)})[/]" if first.location else ""
                lines.append(f"  [red]{target}[/] {kind}: {_esc(first.message)}{where}{more}")
        lines += _unverified_lines(row)
        if lines:
            console.print(f"[bold]{_esc(row.ref)}[/]")
            for line in lines:
                console.print(line, highlight=False)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _unverified_lines(row) -> list[str]:
    """Why a ✓? : what the analysis could not resolve, once per image (every target shares it), by kind; then
    the notes (computed imports inside library functions), which leave a ✓ a ✓."""
    def first(attr: str):
        return next((getattr(v, attr) for v in row.targets.values() if v.convertible and getattr(v, attr)), ())

    return _by_kind(first("unverified"), "[yellow]unverified[/]") + _by_kind(first("notes"), "[cyan]note[/]")


def _by_kind(issues, label: str) -> list[str]:
    by_kind: dict[str, list] = {}
    for issue in issues:
        by_kind.setdefault(issue.kind, []).append(issue)
    lines = []
    for kind, found in by_kind.items():
        more = f" [dim](+{len(found) - 1} more)[/]" if len(found) > 1 else ""
        where = f" [dim]({_esc(found[0].location)})[/]" if found[0].location else ""
        lines.append(f"  {label} {kind}: {_esc(found[0].message)}{where}{more}")
    return lines
