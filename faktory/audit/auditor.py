"""Audit one image: load it, run the catalogers, analyze it, ask every target's check. Never raises for a bad image."""

from __future__ import annotations

import time
from typing import Sequence

from faktory import api
from faktory.audit.catalogers import (catalog_deb_packages, catalog_distributions, catalog_extensions, catalog_os,
                                      deb_owner)
from faktory.audit.model import ERROR, OK, PARTIAL, EntrypointInfo, ImageAudit, InterpreterInfo
from faktory.audit.verdicts import image_findings, target_verdict


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def audit_image(ref: str, targets: Sequence[str], image=None, options=None) -> ImageAudit:
    """`image` may be given when the caller already loaded it (to learn its digest); `options`: the
    AnalyzeOptions (`--observe`) every image is analysed with."""
    started = time.perf_counter()
    try:
        if image is None:
            image = api.load_image(ref)
        facts = _image_facts(image)
    except Exception as exc:  # one bad image is one error row, never a crashed audit
        return ImageAudit(ref=ref, status=ERROR, error=describe_error(exc), seconds=time.perf_counter() - started)

    try:
        return _analysed_row(ref, image, api.analyze(image, options), targets, facts, started)
    except Exception as exc:  # loaded but not analysable: what the image itself says is still worth a row
        extensions = catalog_extensions(image.fs, facts["distributions"])
        return ImageAudit(
            ref=ref, status=PARTIAL, error=describe_error(exc), c_extensions=extensions,
            seconds=time.perf_counter() - started, **facts,
        )


def _analysed_row(ref: str, image, closure, targets: Sequence[str], facts: dict, started: float) -> ImageAudit:
    interp = closure.interpreter
    facts["entrypoint"] = EntrypointInfo(
        argv=facts["entrypoint"].argv or tuple(closure.launch.argv),
        workdir=closure.launch.workdir,
        script=closure.launch.script,
        module=closure.launch.module,
    )
    owner = deb_owner(image.fs, interp.real_path, facts["system_packages"]) if facts["system_packages"] else None
    return ImageAudit(
        ref=ref,
        status=OK,
        interpreter=InterpreterInfo(
            path=interp.path,
            real_path=interp.real_path,
            version=interp.version_str,
            libc=interp.libc,
            pie=interp.pie,
            libpython=interp.libpython,
            provided_by=f"deb:{owner.name}@{owner.version}" if owner else None,
        ),
        c_extensions=catalog_extensions(image.fs, facts["distributions"], closure.graph, interp.real_path),
        closure_files=len(closure.file_nodes()),
        closure_size=closure.size,
        findings=image_findings(closure),
        targets={t: target_verdict(t, closure) for t in targets},
        seconds=time.perf_counter() - started,
        **facts,
    )


def _image_facts(image) -> dict:
    """What the image itself says, independent of analysis."""
    return {
        "digest": image.digest,
        "platform": str(image.platform),
        "image_size": int(image.size),
        "layer_count": len(image.layers),
        "wasted_bytes": wasted_bytes(image.fs),
        "distributions": catalog_distributions(image.fs),
        "system_packages": catalog_deb_packages(image.fs),
        "os": catalog_os(image.fs),
        "entrypoint": EntrypointInfo(argv=tuple(image.config.argv), workdir=image.config.working_dir or "/"),
    }


def wasted_bytes(fs) -> int:
    """Bytes of files that later layers overwrote or deleted (dive's wasted space)."""
    return sum(e.size for e in fs.shadowed() if e.is_file)
