"""`faktory convert REF --to TARGET -o OUTDIR [--push REF] [--compact] [--force] [--kernel FILE] [--base REF] [--verify]`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from faktory.commands.analysis_options import analysis_options
from faktory.emitters.base import EmitOptions
from faktory.errors import FaktoryError
from faktory.units import human_bytes


class PushFailed(FaktoryError):
    pass


def push(outdir: Path, extra: dict, dest: str, creds: str | None = None) -> None:
    """skopeo copy of the output's OCI layout (oci, km, or unikraft's kraftkit package) to a registry.

    skopeo pushes the platform manifest with digests and annotations preserved; an index that carries
    annotations of its own (kraftkit's `sh.kraftkit.version`) is then put under the same tag.
    """
    info = extra.get("image") or extra.get("package")
    if not info:
        raise PushFailed("this target has no image to push (oci, km and unikraft --kernel have one)")
    layout = outdir / info["layout"]
    dest_ref = dest if dest.startswith("docker://") else f"docker://{dest}"
    host = dest_ref[len("docker://"):].split("/", 1)[0]
    insecure = host.startswith(("127.", "localhost"))
    cmd = ["skopeo", "copy", "--quiet", "--preserve-digests", f"--dest-tls-verify={str(not insecure).lower()}"]
    if creds:
        cmd.append(f"--dest-creds={creds}")
    proc = subprocess.run([*cmd, f"oci:{layout}", dest_ref], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["skopeo failed"]
        raise PushFailed(f"push to {dest} failed: {lines[-1]}")
    index = json.loads((layout / "index.json").read_text())
    if index.get("annotations"):
        _put_index(dest_ref[len("docker://"):], index, insecure, creds)


def _put_index(ref: str, index: dict, insecure: bool, creds: str | None) -> None:
    import httpx

    host, _, rest = ref.partition("/")
    repo, _, tag = rest.rpartition(":") if ":" in rest.rsplit("/", 1)[-1] else (rest, "", "latest")
    auth = tuple(creds.split(":", 1)) if creds else None
    url = f"{'http' if insecure else 'https'}://{host}/v2/{repo}/manifests/{tag}"
    body = json.dumps(index).encode()
    try:
        resp = httpx.put(url, content=body, auth=auth, timeout=60,
                         headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    except httpx.HTTPError as exc:
        raise PushFailed(f"push of the package index to {ref} failed: {exc}") from None
    if resp.status_code not in (200, 201):
        raise PushFailed(f"push of the package index to {ref} failed: HTTP {resp.status_code}")


@analysis_options
def command(
    ref: str = typer.Argument(..., help="Source image: NAME[:TAG], HOST/REPO:TAG, docker-archive:PATH, oci:DIR[:TAG]."),
    to: str = typer.Option(..., "--to", help="unikraft, km, rumprun, nanos, microvm or oci."),
    output: Path = typer.Option(..., "--output", "-o", help="Output directory (replaced atomically)."),
    push_ref: Optional[str] = typer.Option(None, "--push", help="Push the resulting image to this registry ref."),
    dest_creds: Optional[str] = typer.Option(None, "--dest-creds", help="USER:PASSWORD for --push."),
    compact: bool = typer.Option(False, "--compact", help="Ship sourceless bytecode (and a gzip'd initrd for microvm)."),
    keep_debug: bool = typer.Option(False, "--keep-debug", help="Keep ELF debug sections (stripped by default)."),
    force: bool = typer.Option(False, "--force", help="Emit despite blockers (recorded in faktory.json)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="microvm: Linux kernel; unikraft: kernel for the kraftkit package."),
    base: Optional[str] = typer.Option(None, "--base", help="km: the runenv-python base image."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the output image/package."),
    tag: Optional[str] = typer.Option(None, "--tag", "-t", help="NAME[:TAG] of the output image (oci, km); default "
                                                               "faktory/NAME:TARGET[-compact]-SOURCEDIGEST."),
    sbom: Optional[Path] = typer.Option(None, "--sbom", help="Write an SBOM of the output (only what it kept) to "
                                                             "FILE: CycloneDX, or SPDX for *.spdx.json."),
    sbom_format: Optional[str] = typer.Option(None, "--sbom-format", help="cyclonedx-json or spdx-json."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Platform of a multi-platform image: os/arch or os/arch/variant."),
    verify: bool = typer.Option(False, "--verify", help="Run `faktory verify` on the output right after emitting."),
    analysis=None,
) -> None:
    from faktory.analyzers.findings import unresolved
    from faktory.api import analyze, convert, load_image
    from faktory.emitters.convert import blockers, check, describe, emitter_for

    from faktory.audit.writers.sbom import format_for
    from faktory.commands.common import artifact_size, check_tag, quiet

    emitter_for(to)  # unknown target: fail before any work
    tag = check_tag(tag)
    sbom_fmt = format_for(sbom, sbom_format) if sbom else None
    if push_ref and not (to in ("oci", "km") or (to == "unikraft" and kernel)):
        raise PushFailed(f"--push needs an image: --to oci, --to km, or --to unikraft --kernel FILE (not {to})")
    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        step = progress.add_task(f"reading {ref}")
        image = load_image(ref, platform)
        progress.update(step, description=f"analyzing {image.ref}")
        closure = analyze(image, analysis)
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
        options = EmitOptions(compact=compact, keep_debug=keep_debug, force=force, kernel=kernel, base_ref=base, name=name,
                              tag=tag)
        artifact = convert(image, closure, to, output, options)
        if push_ref:
            progress.update(step, description=f"pushing to {push_ref}")
            push(Path(artifact.outdir), dict(artifact.extra), push_ref, dest_creds)
    if sbom:
        _write_output_sbom(image, closure, artifact, sbom, sbom_fmt)
    what, size = artifact_size(artifact)
    if not quiet():
        console.print(f"[green]wrote[/] {artifact.outdir} ({to}{', compact' if compact else ''}: {what} "
                      f"{human_bytes(size)}, from a {human_bytes(image.size)} source)", highlight=False)
    for f in findings:
        if f not in blocking:
            console.print(f"  {f.severity}: {describe(f)}")
    unsure = unresolved(closure.findings)
    if unsure:
        kinds = ", ".join(sorted({f.kind for f in unsure}))
        console.print(f"  [yellow]unverified[/]: {len(unsure)} thing(s) the analysis could not resolve ({kinds}); "
                      "`faktory analyze` lists them")
    if push_ref:
        console.print(f"[green]pushed[/] {push_ref}")
    print(artifact.run_command)
    if verify:
        from faktory.commands.verify import check_output, choose_probe

        check_output(ref, to, Path(artifact.outdir), choose_probe(image, None, None, None))


def _write_output_sbom(image, closure, artifact, path: Path, fmt: str) -> None:
    from faktory.audit.sbom_subject import kept_subject
    from faktory.audit.writers.sbom import write_sbom

    info = dict(artifact.extra).get("image") or {}
    subject = kept_subject(image, closure, info.get("tag") or f"{artifact.outdir.name} ({artifact.target})",
                           info.get("manifest_digest"))
    write_sbom(subject, path, fmt)
