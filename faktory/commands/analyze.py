"""`faktory analyze REF [--json] [--why PATH] [--graph FILE.dot|.graphml] [--sizes]`."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Optional

import typer

from faktory.commands.analysis_options import analysis_options
from faktory.commands.registry_flags import authfile_option, creds_option, keychain_for
from faktory.errors import FaktoryError
from faktory.units import human_bytes


class GraphOutputError(FaktoryError):
    pass


@analysis_options
def command(
    ref: str = typer.Argument(..., help="Image reference (daemon name, registry ref, docker-archive:PATH, oci:DIR[:REF])."),
    as_json: bool = typer.Option(False, "--json", help="Print the closure as JSON (schema faktory.analyze/v1)."),
    why: Optional[str] = typer.Option(None, "--why", help="Show the chain of reasons that keeps PATH (any alias "
                                                         "of it) or MODULE."),
    graph: Optional[str] = typer.Option(None, "--graph", help="Write the dependency graph (.dot or .graphml)."),
    sizes: bool = typer.Option(False, "--sizes", help="Attribute the closure's bytes to distributions."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Platform of a multi-platform image: os/arch or os/arch/variant."),
    analysis=None,
    creds: Optional[str] = creds_option(),
    authfile: Optional[str] = authfile_option(),
) -> None:
    from rich.table import Table

    from faktory.commands.common import console as make_console

    from faktory.analyzers import report
    from faktory.api import analyze, load_image

    if graph and not graph.endswith((".dot", ".gv", ".graphml")):
        raise GraphOutputError(f"--graph wants a .dot or .graphml file name, got {graph!r}")
    image = load_image(ref, platform, keychain=keychain_for(creds, authfile))
    closure = analyze(image, analysis)
    console = make_console()
    if graph:
        directory = os.path.dirname(os.path.abspath(graph))
        from faktory.audit.writers import public_mode

        fd, tmp = tempfile.mkstemp(dir=directory, suffix=os.path.splitext(graph)[1])
        os.fchmod(fd, public_mode())
        os.close(fd)
        try:
            report.write_graph(closure, tmp)
            os.replace(tmp, graph)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if as_json:
        json.dump(report.to_dict(closure, image.size), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if why:
        answer = report.explain(closure, why, image.fs)
        if answer.node is None:
            print(f"faktory: {answer.message}", file=sys.stderr)
            raise typer.Exit(1)
        for depth, (node, reason, detail) in enumerate(answer.steps):
            suffix = f"  [dim]({detail})[/dim]" if detail else ""
            label = f"[cyan]{reason}[/cyan] → " if reason else ""
            console.print(f"{'  ' * depth}{label}{node}{suffix}", highlight=False)
        return
    interp = closure.interpreter
    modules = sum(1 for n in closure.graph if n.startswith("module:"))
    files = sum(1 for _, d in closure.iter_file_nodes() if d.get("kind") == "file")
    digest = closure.image_digest if not console.is_terminal else closure.image_digest[:19]  # a pipe: never cut
    console.print(f"[bold]{closure.image_ref}[/bold]  {digest}")
    console.print(f"interpreter  {interp.real_path}  CPython {interp.version_str}  {interp.abi_tag}  libc {interp.libc}"
                  f"  {'PIE' if interp.pie else 'non-PIE'}  libpython {'shared' if interp.libpython else 'static'}")
    console.print(f"launch       {' '.join(closure.launch.argv)}  (cwd {closure.launch.workdir})", highlight=False)
    share = 100.0 * closure.size / image.size if image.size else 0.0
    console.print(f"closure      {modules} modules, {files} files, {human_bytes(closure.size)} of {human_bytes(image.size)} "
                  f"image ({share:.0f} %)")
    table = Table(title="bytes by distribution" if sizes else "biggest contributors")
    table.add_column("owner")
    table.add_column("bytes", justify="right")
    table.add_column("files", justify="right")
    rows = report.sizes(closure)
    for who, size, count in rows if sizes else rows[:8]:
        table.add_row(who, human_bytes(size), str(count))
    console.print(table)
    if closure.findings:
        findings = Table(title="findings")
        for col in ("kind", "severity", "message", "where"):
            findings.add_column(col)
        for kind, severity, message, where in _summarised(closure):
            findings.add_row(kind, severity, message, where)
        console.print(findings)
    optional = report.optional_imports(closure)
    if optional:
        table = Table(title="optional imports nothing else needs (kept; --exclude GLOB drops one)")
        for col in ("module", "bytes", "files", "imported at", "how", "--exclude"):
            table.add_column(col, justify="right" if col in ("bytes", "files") else "left")
        for o in optional[:12]:
            table.add_row(o.module, human_bytes(o.bytes), str(o.files), o.imported_at, o.kind, o.exclude)
        console.print(table)
    if closure.observation is not None:
        _print_observed(console, closure)


def _print_observed(console, closure) -> None:
    """What the observed run touched that the static analysis had not kept (kept now, reason `observed`)."""
    from rich.table import Table

    run = closure.observation
    how = "no answer" if run["answered"] is False else ("stopped at the timeout" if run["timed_out"]
                                                         else f"exit {run['returncode']}")
    console.print(f"observed     `{' '.join(run['argv'])}` ({how}, {run['seconds']:.1f} s): "
                  f"{len(closure.observed_missed)} file(s) missed by the static analysis", highlight=False)
    if not closure.observed_missed:
        return
    table = Table(title="observed, missed by the static analysis (kept now)")
    table.add_column("path")
    table.add_column("bytes", justify="right")
    for path in closure.observed_missed:
        node = closure.graph.nodes.get(f"file:{path}", {})
        table.add_row(path, human_bytes(node.get("size", 0)))
    console.print(table)


def _summarised(closure) -> list[tuple[str, str, str, str]]:
    """Findings as table rows: facts inside one library are one row with a count (the JSON keeps them all)."""
    from faktory.analyzers.findings import UNRESOLVED_KINDS
    from faktory.emitters.rules import library_of

    rows: list[tuple[str, str, str, str]] = []
    grouped: dict[tuple[str, str, str], list] = {}
    for f in closure.findings:
        lib = library_of(closure, f.location) if f.location and (f.location.line is not None or f.kind in UNRESOLVED_KINDS) \
            else None
        if lib is None:
            rows.append((f.kind, f.severity, f.message, f.where))
        else:
            grouped.setdefault((f.kind, f.severity, lib), []).append(f)
    for (kind, severity, lib), found in grouped.items():
        places = f"{len(found)} places" if len(found) > 1 else found[0].where
        rows.append((kind, severity, f"{lib}: {found[0].message}" + (f" (and {len(found) - 1} more)"
                                                                    if len(found) > 1 else ""), places))
    return rows
