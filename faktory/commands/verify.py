"""`faktory verify REF --to TARGET [--probe 'CMD' | --http PORT/PATH]`: original vs converted, same probe."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from faktory.scratch import scratch
from faktory.commands.common import console as pipe_safe_console
from faktory.emitters.base import EmitOptions
from faktory.emitters.launch import exposed_ports
from faktory.emitters.vminit import cache_dir
from faktory.errors import FaktoryError


def command(
    ref: str = typer.Argument(..., help="Source image reference."),
    to: str = typer.Option(..., "--to", help="Target: unikraft, km, rumprun, nanos, microvm, oci."),
    probe: Optional[str] = typer.Option(None, "--probe", help="Command replacing the image's Cmd, run once."),
    http: Optional[str] = typer.Option(None, "--http", help="PORT/PATH to GET from the running app."),
    expect: Optional[str] = typer.Option(None, "--expect", help="Text the converted output must contain."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Keep the converted output here."),
    base: Optional[str] = typer.Option(None, "--base", help="km: runenv-python base image."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="microvm: Linux kernel; unikraft: an ELF-loader "
                                          "kernel to boot the output in (else its initrd boots under Linux)."),
    nanos_dir: Optional[Path] = typer.Option(None, "--nanos", help="nanos: OPS release dir or Nanos build tree."),
    force: bool = typer.Option(False, "--force", help="Convert despite blockers."),
    compact: bool = typer.Option(False, "--compact", help="Verify the --compact output."),
    keep_debug: bool = typer.Option(False, "--keep-debug", help="Verify an output that keeps ELF debug sections."),
    timeout: float = typer.Option(180, "--timeout", help="Seconds allowed per run."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON (schema faktory.verify/v1)."),
) -> None:
    from faktory.api import analyze, convert, load_image

    if probe and http:
        raise FaktoryError("give --probe or --http, not both")
    from faktory.emitters.convert import validate
    from faktory.runner.signals import unwind_on_signals

    unwind_on_signals()
    console = pipe_safe_console(stderr=True)
    image = load_image(ref)
    options = EmitOptions(compact=compact, keep_debug=keep_debug, force=force, kernel=kernel, base_ref=base,
                          base=load_image(base) if base else None)
    validate(image, to, options)  # before the analysis
    closure = analyze(image)
    chosen = choose_probe(image, probe, http, expect)
    with scratch(cache_dir(), "verify-") as tmp:
        outdir = output or tmp / "out"
        with console.status(f"converting {ref} to {to}"):
            convert(image, closure, to, outdir, options)
        check_output(ref, to, outdir, chosen, timeout, as_json, kernel=kernel, nanos_dir=nanos_dir)


def choose_probe(image, probe: str | None, http: str | None, expect: str | None):
    """--probe CMD, --http PORT/PATH, else HTTP on the first exposed port of a server, else the image's Cmd."""
    from faktory.runner.verify import Probe

    if probe and http:
        raise FaktoryError("give --probe or --http, not both")
    if http:
        try:
            chosen = Probe.parse_http(http)
        except ValueError:
            raise FaktoryError(f"--http {http!r}: expected PORT/PATH, e.g. 8080/health") from None
    elif not probe and exposed_ports(image):  # a server: ask it over HTTP rather than wait for it to exit
        chosen = Probe(http_port=exposed_ports(image)[0], http_path="/")
    else:
        chosen = Probe(cmd=tuple(shlex.split(probe)) if probe else None)
    return Probe(chosen.cmd, chosen.http_port, chosen.http_path, expect)


def check_output(ref: str, to: str, outdir: Path, chosen, timeout: float = 180, as_json: bool = False,
                 kernel: Path | None = None, nanos_dir: Path | None = None) -> None:
    """Run the original and the converted output with the same probe; a table (or JSON) of checks; exit 1 on a
    failure."""
    from faktory.runner.verify import verify_output

    with pipe_safe_console(stderr=True).status("running the original and the converted output"):
        checks = verify_output(ref, outdir, chosen, timeout=timeout, kernel=kernel, nanos_dir=nanos_dir)
    passed = all(c.passed for c in checks)
    if as_json:
        doc = {"schema": "faktory.verify/v1", "ref": ref, "target": to, "passed": passed,
               "checks": [{"name": c.name, "original": c.original, "converted": c.converted, "passed": c.passed,
                           "detail": c.detail} for c in checks]}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        if not passed:
            raise typer.Exit(1)
        return
    table = Table(title=f"faktory verify {ref} --to {to}")
    for col in ("check", "original", "converted", "result", "detail"):
        table.add_column(col)
    for c in checks:
        table.add_row(c.name, c.original, c.converted, "[green]pass[/]" if c.passed else "[red]FAIL[/]", c.detail)
    pipe_safe_console().print(table)
    if not passed:
        raise typer.Exit(1)
