"""One conversion: pull (inspector), analyze, convert, optional verify, publish. No state handling here.

Image contents are untrusted: every step reads the image as data; nothing from it is executed, except in
`verify`, which runs the original and the converted image the way `faktory verify` does, in containers, and
in a rule's `observe:`, which runs the original sandboxed (faktory.observe, docs/observe.md).
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from faktory import api
from faktory.emitters.base import Artifact, EmitOptions
from faktory.errors import FaktoryError
from faktory.runner.verify import Probe, verify_output
from faktory.scratch import own_dir
from faktory.service.jobs import Job
from faktory.service.rules import analyze_options
from faktory.service.publish import (
    SOURCE_DIGEST,
    Destination,
    already_published,
    publish,
    result_annotations,
    retag,
)
from faktory.registry.client import RegistryClient


class SkipJob(Exception):
    """Nothing to do, and that is not a failure (e.g. the source is itself a faktory output)."""


@dataclass(frozen=True)
class Outcome:
    result_ref: str
    published: bool  # False when the destination already held this exact result
    verified: tuple[str, ...] | None = None  # checks passed, when the rule asked for verify
    reused: str | None = None  # the earlier result re-tagged instead of converting again


ClientFactory = Callable[[str], RegistryClient]
PhaseReporter = Callable[[str], None]


def source_ref_for_inspector(job: Job) -> str:
    return f"{job.registry}/{job.repository}@{job.digest}"


def _job_name(job: Job) -> str:
    return f"{job.repository.rsplit('/', 1)[-1]}-{job.id[:12]}"


def _emit_options(job: Job) -> EmitOptions:
    options = dict(job.options)
    if job.verify is not None and not options.get("name"):
        # verify loads the output into the engine under a tag made from the name: make it this job's own,
        # so two workers (or two conversions of one repository) never run each other's image.
        options["name"] = _job_name(job)
        options.setdefault("tag", f"faktory/{_job_name(job)}:{job.target}")  # removed again after the run
    if options.get("kernel"):
        options["kernel"] = Path(str(options["kernel"]))
    if options.get("base_ref"):  # km rebases onto an Image: loaded here, like the source
        options["base"] = api.load_image(str(options["base_ref"]))
    return EmitOptions(**options)


class VerifyFailed(FaktoryError):
    """The converted output does not behave like the original: retrying will not change that."""


def _verify(job: Job, artifact: "Artifact") -> tuple[str, ...]:
    """Run the original and the converted output with the rule's probe, like `faktory verify`."""

    settings = job.verify or {}
    if "http" in settings:
        probe = Probe.parse_http(str(settings["http"]))
    else:
        probe = Probe(cmd=tuple(shlex.split(str(settings["probe"]))) if "probe" in settings else None)
    probe = Probe(probe.cmd, probe.http_port, probe.http_path, settings.get("expect"))

    ref, timeout = source_ref_for_inspector(job), float(settings.get("timeout", 180))
    try:
        checks = verify_output(ref, Path(artifact.outdir), probe, timeout=timeout)
    finally:  # the image the emitter wrote (tagged with this job's name), loaded to run the output
        if artifact.image is not None:
            subprocess.run(["docker", "rmi", "--no-prune", artifact.image.tag], capture_output=True, timeout=60)
    failed = [c for c in checks if not c.passed]
    if failed:
        raise VerifyFailed("verify failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed))
    return tuple(c.name for c in checks)


def own_workdir(work_root: Path) -> Path:
    """This process's scratch dir (<host>-<pid>); dirs of dead processes on this host are removed first,
    so a worker killed mid-conversion leaves no garbage behind for long."""
    return own_dir(work_root)


def _still_current(job: Job, clients: ClientFactory) -> None:
    """Don't let a slow conversion of an older push overwrite the result of a newer push of the same tag."""
    if not job.tag:
        return
    found = clients(job.registry).manifest(job.repository, job.tag)
    if found is not None and found.digest != job.digest:
        raise SkipJob(f"superseded: {job.repository}:{job.tag} now points at {found.digest}")


def convert_and_publish(job: Job, clients: ClientFactory, phase: PhaseReporter, workdir: Path | None = None,
                        previous: str | None = None) -> Outcome:
    """`previous`: where this (repository, digest, target) was published before, for another tag."""
    dest = Destination.parse(job.destination)
    dest_client = clients(dest.registry)
    existing = already_published(dest_client, dest, job.digest, job.target)
    if existing:  # a previous attempt got as far as the manifest: publishing again would be a second time
        return Outcome(f"{dest}@{existing}", published=False)
    if previous:  # the same digest was converted for another tag: reuse the result, don't convert again
        phase("retag")
        digest = retag(dest_client, previous, dest, job.digest, job.target)
        if digest:
            return Outcome(f"{dest}@{digest}", published=True, reused=previous)

    phase("pull")
    # The pushed image, from the registry that announced it: never an engine name (no pull to guess at).
    image = api.load_image("docker://" + source_ref_for_inspector(job), pull="never")
    if SOURCE_DIGEST in ((image.manifest or {}).get("annotations") or {}):
        raise SkipJob("the source is itself a faktory output")
    phase("analyze")
    closure = api.analyze(image, analyze_options(job.analysis))
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="faktory-job-", dir=workdir) as tmp:
        outdir = Path(tmp) / job.target
        phase("convert")
        artifact = api.convert(image, closure, job.target, outdir, _emit_options(job))
        verified = None
        if job.verify is not None:
            phase("verify")
            verified = _verify(job, artifact)
        phase("publish")
        _still_current(job, clients)
        annotations = result_annotations(job.source_name, job.source_ref, job.digest, job.target)
        digest = publish(dest_client, Path(artifact.outdir), dest, job.target, annotations, artifact.image)
    return Outcome(f"{dest}@{digest}", published=True, verified=verified)
