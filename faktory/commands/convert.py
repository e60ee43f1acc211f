"""`faktory convert REF --to TARGET -o OUTDIR [--push REF] [--compact] [--force] [--kernel FILE] [--base REF]`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from faktory.emitters.base import EmitOptions
from faktory.errors import FaktoryError


class PushFailed(FaktoryError):
    pass


def push(outdir: Path, extra: dict, dest: str) -> None:
    """skopeo copy of the output's OCI layout (oci, km, or unikraft's kraftkit package) to a registry."""
    info = extra.get("image") or extra.get("package")
    if not info:
        raise PushFailed("this target has no image to push (oci, km and unikraft --kernel have one)")
    src = f"oci:{outdir / info['layout']}"
    dest_ref = dest if dest.startswith("docker://") else f"docker://{dest}"
    host = dest_ref[len("docker://"):].split("/", 1)[0]
    tls = "false" if host.startswith(("127.", "localhost")) else "true"
    proc = subprocess.run(["skopeo", "copy", "--quiet", f"--dest-tls-verify={tls}", src, dest_ref],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["skopeo failed"]
        raise PushFailed(f"push to {dest} failed: {lines[-1]}")


def command(
    ref: str = typer.Argument(..., help="Source image: NAME[:TAG], HOST/REPO:TAG, docker-archive:PATH, oci:DIR[:TAG]."),
    to: str = typer.Option(..., "--to", help="unikraft, km, rumprun, nanos, microvm or oci."),
    output: Path = typer.Option(..., "--output", "-o", help="Output directory (replaced atomically)."),
    push_ref: Optional[str] = typer.Option(None, "--push", help="Push the resulting image to this registry ref."),
    compact: bool = typer.Option(False, "--compact", help="Strip ELF debug info, ship sourceless bytecode."),
    force: bool = typer.Option(False, "--force", help="Emit despite blockers (recorded in faktory.json)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="microvm: Linux kernel; unikraft: kernel for the kraftkit package."),
    base: Optional[str] = typer.Option(None, "--base", help="km: the runenv-python base image."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the output image/package."),
) -> None:
    from faktory.api import analyze, convert, load_image
    from faktory.emitters.convert import blockers, check, describe, emitter_for

    emitter_for(to)  # unknown target: fail before any work
    if push_ref and not (to in ("oci", "km") or (to == "unikraft" and kernel)):
        raise PushFailed(f"--push needs an image: --to oci, --to km, or --to unikraft --kernel FILE (not {to})")
    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        step = progress.add_task(f"reading {ref}")
        image = load_image(ref)
        progress.update(step, description=f"analyzing {image.ref}")
        closure = analyze(image)
        findings = check(closure, to)
        blocking = blockers(findings)
        if blocking:
            table = Table(title=f"{len(blocking)} blocker(s) for {to}" + (" (--force: emitting anyway)" if force else ""))
            table.add_column("kind")
            table.add_column("reason")
            table.add_column("where")
            for f in blocking:
                table.add_row(f.kind, f.message, f.location or "")
            progress.stop()
            console.print(table)
            progress.start()
        progress.update(step, description=f"writing {to} output to {output}")
        options = EmitOptions(compact=compact, force=force, kernel=kernel, base_ref=base, name=name)
        artifact = convert(image, closure, to, output, options)
        if push_ref:
            progress.update(step, description=f"pushing to {push_ref}")
            push(Path(artifact.outdir), dict(artifact.extra), push_ref)
    total = sum(artifact.files.values()) if artifact.files else 0
    console.print(f"[green]wrote[/] {artifact.outdir} ({to}, closure {closure.size / 1e6:.1f} MB, source {image.size / 1e6:.1f} MB)")
    for f in findings:
        if f not in blocking:
            console.print(f"  {f.severity}: {describe(f)}")
    if push_ref:
        console.print(f"[green]pushed[/] {push_ref}")
    print(artifact.run_command)
