"""`faktory convert REF --to TARGET -o OUTDIR [--push REF] [--compact] [--force] [--kernel FILE] [--base REF] [--verify]`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from faktory.commands.analysis_options import analysis_options
from faktory.commands.common import console as pipe_safe_console
from faktory.commands.registry_flags import authfile_option, creds_option, keychain_for
from faktory.emitters.base import EmitOptions, ImageOut
from faktory.registry.auth import Keychain
from faktory.registry.client import PushFailed, RegistryClient
from faktory.sources.reference import parse_docker_ref
from faktory.units import human_bytes


def push(outdir: Path, image: ImageOut | None, dest: str, keychain: Keychain | None = None) -> str:
    """Push the output's OCI layout (oci, km, or unikraft's kraftkit package) to dest; returns its digest.

    Blobs first, manifest last (faktory.registry.client); a plain image goes out byte for byte, a kraftkit
    package as the image index that carries its annotations.
    """
    if image is None:
        raise PushFailed("this output has no image to push")
    text = dest[len("docker://"):] if dest.startswith("docker://") else dest
    ref = parse_docker_ref(text)
    if ref.digest:
        raise PushFailed(f"--push {dest}: push to a tag, not a digest")
    client = RegistryClient(ref.host, keychain)
    return client.push_layout(outdir / image.layout, ref.repository, ref.tag or "latest")


@analysis_options
def command(
    ref: str = typer.Argument(..., help="Source image: NAME[:TAG], HOST/REPO:TAG, docker-archive:PATH, oci:DIR[:REF]."),
    to: str = typer.Option(..., "--to", help="unikraft, km, rumprun, nanos, microvm or oci."),
    output: Path = typer.Option(..., "--output", "-o", help="Output directory (replaced atomically)."),
    push_ref: Optional[str] = typer.Option(None, "--push", help="Push the resulting image to this registry ref."),
    src_creds: Optional[str] = creds_option("src-"),
    dest_creds: Optional[str] = creds_option("dest-"),
    authfile: Optional[str] = authfile_option(),
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
    from faktory.analyzers.findings import noted, unresolved
    from faktory.api import analyze, convert, load_image
    from faktory.emitters.convert import blockers, capabilities, check, describe, pushable_targets, validate

    from faktory.commands.common import artifact_size, check_tag, quiet

    source_keys, dest_keys = keychain_for(src_creds, authfile, "src-"), keychain_for(dest_creds, authfile, "dest-")
    tag = check_tag(tag)
    sbom_fmt = None
    if sbom:  # the SBOM writers' libraries take a noticeable part of a warm convert's start
        from faktory.audit.writers.sbom import format_for

        sbom_fmt = format_for(sbom, sbom_format)
    options = EmitOptions(compact=compact, keep_debug=keep_debug, force=force, kernel=kernel, base_ref=base, name=name,
                          tag=tag)
    declared = capabilities(to)  # an unknown target fails before any work
    if push_ref and not declared.pushable(options):
        raise PushFailed(f"--push needs an image: {pushable_targets()} (not {to})")
    console = pipe_safe_console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        step = progress.add_task(f"reading {ref}")
        image = load_image(ref, platform, keychain=source_keys)
        if base:
            progress.update(step, description=f"reading the base {base}")
            options = replace(options, base=load_image(base, keychain=source_keys))
        validate(image, to, options)  # before the analysis: a base or kernel that cannot work is said at once
        progress.update(step, description=f"analyzing {image.ref}")
        closure = analyze(image, analysis)
        findings = check(closure, to, options)
        blocking = blockers(findings)
        if blocking:
            table = Table(title=f"{len(blocking)} blocker(s) for {to}" + (" (--force: emitting anyway)" if force else ""))
            table.add_column("kind")
            table.add_column("reason")
            table.add_column("where")
            for f in blocking:
                table.add_row(f.kind, f.message, f.where)
            progress.stop()
            console.print(table)
            progress.start()
        progress.update(step, description=f"writing {to} output to {output}")
        artifact = convert(image, closure, to, output, options)
        if push_ref:
            progress.update(step, description=f"pushing to {push_ref}")
            push(Path(artifact.outdir), artifact.image, push_ref, dest_keys)
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
    notes = noted(closure.findings)
    if notes:
        console.print(f"  note: {len(notes)} computed import(s) inside library functions, which fail only if the app "
                      "calls them; `faktory analyze` lists them")
    if push_ref:
        console.print(f"[green]pushed[/] {push_ref}")
    print(artifact.run_command)
    if verify:
        from faktory.commands.verify import check_output, choose_probe

        check_output(ref, to, Path(artifact.outdir), choose_probe(image, None, None, None), kernel=kernel)


def _write_output_sbom(image, closure, artifact, path: Path, fmt: str) -> None:
    from faktory.audit.sbom_subject import kept_subject
    from faktory.audit.writers.sbom import write_sbom

    info = artifact.image
    subject = kept_subject(image, closure, info.tag if info else f"{artifact.outdir.name} ({artifact.target})",
                           info.digest if info else None)
    write_sbom(subject, path, fmt)
