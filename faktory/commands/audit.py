"""`faktory audit`: which images of a fleet can become unikernels, per target, why not, and what it saves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from faktory.emitters.convert import ALL_TARGETS
from faktory.audit.cache import DigestCache
from faktory.audit.inputs import dedupe, refs_from_daemon, refs_from_file
from faktory.audit.model import ERROR, PARTIAL
from faktory.audit.registry import refs_from_registry
from faktory.audit.report import build_report, write_outputs
from faktory.audit.runner import run_audit
from faktory.commands.common import console as pipe_safe_console
from faktory.commands.analysis_options import observe_options
from faktory.errors import FaktoryError


def _targets(text: str) -> tuple[str, ...]:
    from faktory.commands.common import target_name

    chosen = tuple(target_name(t) for t in text.split(",") if t.strip())
    if not chosen:
        raise FaktoryError(f"no target given; choose from {', '.join(ALL_TARGETS)}")
    return chosen


@observe_options
def command(
    refs: Optional[List[str]] = typer.Argument(None, help="Image references (daemon, registry, docker-archive:, oci:)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="File with one image reference per line."),
    registry: Optional[List[str]] = typer.Option(
        None, "--registry", help="HOST:PORT (every repository) or HOST:PORT/REPO (every tag). Repeatable."
    ),
    daemon: bool = typer.Option(False, "--daemon", help="Every tagged image in the local engine."),
    targets: str = typer.Option(",".join(ALL_TARGETS), "--targets", "-t", help="Comma-separated targets to check."),
    jobs: int = typer.Option(max(1, min(4, os.cpu_count() or 1)), "--jobs", "-j", help="Images analysed in parallel."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write the JSON report to FILE ('-' for stdout)."),
    csv_out: Optional[str] = typer.Option(None, "--csv", help="Write one CSV row per image to FILE ('-' for stdout)."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report with charts."),
    sbom_dir: Optional[Path] = typer.Option(None, "--sbom", help="Write an SBOM per image into DIR."),
    sbom_format: str = typer.Option("cyclonedx-json", "--sbom-format", help="cyclonedx-json (CycloneDX 1.6) or "
                                                                          "spdx-json (SPDX 2.3), as syft names them."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Analyse every image again, ignore cached rows."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache root (default: user cache dir)."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 when an image is `blocked` for a target "
                                                                  "(or could not be read); `unverified` also when "
                                                                  "a verdict is unknown, only 'convertible, "
                                                                  "unverified', or the analysis failed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no table."),
    queue: bool = typer.Option(False, "--queue", help="One job per image to the service's workers (`faktory "
                                                      "serve --worker-only`) instead of --jobs here."),
    redis: Optional[str] = typer.Option(None, "--redis", help="redis://… : the workers' queue and job store "
                                                              "(many machines); implies --queue."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="--queue: the SQLite queue and job store "
                                                                       "of `faktory serve --state-dir` (default: "
                                                                       "the service's)."),
    queue_name: Optional[str] = typer.Option(None, "--queue-name", help="--queue: queue name / Redis key prefix "
                                                                        "(default: faktory)."),
    analysis=None,
) -> None:
    chosen = _targets(targets)
    from faktory.audit.writers.sbom import format_for

    sbom_format = format_for("", sbom_format)
    if fail_on is not None and fail_on not in FAIL_ON:
        raise FaktoryError(f"--fail-on {fail_on!r}: choose from {', '.join(FAIL_ON)}")
    if json_out == "-" and csv_out == "-":
        raise FaktoryError("only one of --json and --csv can go to stdout ('-')")
    if jobs < 1:
        raise FaktoryError("--jobs must be at least 1")
    queue_spec = _queue_spec(queue or redis is not None, redis, state_dir, queue_name, cache_dir, analysis)
    wanted = list(refs or [])
    if file:
        wanted += refs_from_file(file)
    for listing in registry or []:
        wanted += refs_from_registry(listing)
    if daemon:
        wanted += refs_from_daemon()
    wanted = dedupe(wanted)
    if not wanted:
        raise FaktoryError("nothing to audit: give image refs, --file, --registry or --daemon")

    # When a report goes to stdout, everything for humans goes to stderr.
    to_stdout = "-" in (json_out, csv_out)
    console = pipe_safe_console(stderr=to_stdout)  # piped: one image, one line, nothing cut
    err_console = pipe_safe_console(stderr=True)
    cache = None if no_cache else DigestCache(cache_dir, chosen)

    progress = Progress(
        SpinnerColumn(), TextColumn("[bold]audit"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=err_console, transient=True, disable=quiet,
    )
    with progress:
        task = progress.add_task("", total=len(wanted))

        def on_row(row) -> None:
            progress.update(task, advance=1, description=escape(row.ref))

        def on_queued(count: int) -> None:
            if not quiet and queue_spec is not None:
                err_console.print(f"faktory: queued {count} image(s) on {queue_spec.describe()}; workers: "
                                  f"{' '.join(queue_spec.worker_argv())}", highlight=False, markup=False, soft_wrap=True)

        outcome = run_audit(wanted, chosen, jobs=jobs, cache=cache, on_row=on_row, options=analysis, queue=queue_spec,
                            on_queued=on_queued)

    report = build_report(outcome, chosen, requested=len(wanted))
    write_outputs(report, json_out=json_out, csv_out=csv_out, html_out=html_out, sbom_dir=sbom_dir,
                  sbom_format=sbom_format)
    if not quiet:
        from faktory.audit.writers.table import render_table

        render_table(report, console)
    if not outcome.complete:
        err_console.print(f"faktory: interrupted; partial report of {len(report.images)} image(s) written")
        raise typer.Exit(130)
    if report.images and all(r.status == ERROR for r in report.images):
        raise typer.Exit(1)
    failing = gate(report, fail_on) if fail_on else []
    if failing:
        err_console.print(f"faktory: --fail-on {fail_on}: {len(failing)} image(s) fail: {', '.join(failing)}",
                          highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)


def _queue_spec(queue: bool, redis: str | None, state_dir: Path | None, queue_name: str | None,
                cache_dir: Path | None, analysis):
    """The service queue to audit over, or None for the local pool; checked before any image is read."""
    if not queue:
        if state_dir is not None or queue_name is not None:
            raise FaktoryError("--state-dir and --queue-name need --queue (or --redis)")
        return None
    if analysis is not None and analysis.observe is not None:
        raise FaktoryError("--observe runs each app in this machine's sandbox; it does not go over --queue")
    from faktory.audit.queue import QueueSpec
    from faktory.commands.serve import check_redis, default_state_dir

    if redis:
        check_redis(redis)
    return QueueSpec(state_dir=(state_dir or default_state_dir()).absolute(), redis_url=redis,
                     name=queue_name or "faktory", cache_dir=cache_dir.absolute() if cache_dir else None)


FAIL_ON = ("blocked", "unverified")


def gate(report, fail_on: str) -> list[str]:
    """The refs that fail the CI gate: blocked (or unreadable) for a chosen target; `unverified` adds the
    images a verdict could not be reached for and those only "convertible, unverified" (names the analysis
    could not resolve)."""
    failing = []
    for row in report.images:
        verdicts = list(row.targets.values())
        bad = row.status == ERROR or any(v.convertible is False for v in verdicts)
        if fail_on == "unverified":
            bad = bad or row.status == PARTIAL or not verdicts or any(
                v.convertible is None or (v.convertible and v.unverified) for v in verdicts)
        if bad:
            failing.append(row.ref)
    return failing
