"""CycloneDX 1.6 JSON SBOMs (cyclonedx-python-lib), shaped as syft writes them.

The image is the BOM's subject (type container, version = digest); components are the operating system
(type operating-system, from os-release), the Python distributions (pkg:pypi), the Debian packages
(pkg:deb/debian/NAME@V?arch=…&distro=debian-12) and the interpreter (pkg:generic/python@X.Y.Z with its CPE).
`metadata.tools` names faktory. `--sbom DIR` on the audit writes one per image; `convert --sbom FILE` one
for the output, listing only what it kept.
"""

from __future__ import annotations

import re
from pathlib import Path

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from faktory import installed_version
from faktory.audit.model import ERROR, AuditReport, ImageAudit, Package
from faktory.audit.sbom_subject import PYTHON_CPE, SbomSubject
from faktory.audit.writers import atomic_text
from faktory.errors import FaktoryError

try:
    from cyclonedx.contrib.license.factories import LicenseFactory
except ImportError:  # cyclonedx-python-lib < 11
    from cyclonedx.factory.license import LicenseFactory

FORMATS = {"cyclonedx-json": ".cdx.json", "spdx-json": ".spdx.json"}  # syft's -o names


def sbom_filename(row: ImageAudit, fmt: str = "cyclonedx-json") -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", row.ref).strip("_") or "image"
    short = (row.digest or "").split(":")[-1][:12]
    return f"{name}{'-' + short if short else ''}{FORMATS[fmt]}"


def format_for(path: str | Path, given: str | None = None) -> str:
    """--sbom-format, else what the file name says (`.spdx.json`), else CycloneDX."""
    if given is not None:
        if given not in FORMATS:
            raise FaktoryError(f"--sbom-format {given!r}: choose from {', '.join(FORMATS)}")
        return given
    return "spdx-json" if str(path).endswith((".spdx.json", ".spdx")) else "cyclonedx-json"


def _component(pkg: Package, subject: SbomSubject, licenses: LicenseFactory) -> Component:
    component = Component(
        type=ComponentType.LIBRARY,
        name=pkg.name,
        version=pkg.version,
        purl=pkg.package_url(subject.os),
        bom_ref=f"{pkg.ecosystem}:{pkg.name}@{pkg.version}:{pkg.location}",
        description=pkg.summary or None,
        properties=[Property(name="faktory:location", value=pkg.location)],
    )
    if pkg.license:
        component.licenses.add(licenses.make_from_string(pkg.license))
    return component


def build_bom(subject: SbomSubject | ImageAudit) -> Bom:
    if isinstance(subject, ImageAudit):
        subject = SbomSubject.from_audit_row(subject)
    licenses = LicenseFactory()
    image = Component(type=ComponentType.CONTAINER, name=subject.name, version=subject.digest or None,
                      bom_ref=f"image:{subject.name}",
                      properties=[Property(name="faktory:converted-from", value=subject.converted_from)]
                      if subject.converted_from else None)
    bom = Bom()
    bom.metadata.component = image
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="faktory",
                                                 version=installed_version()))
    components = []
    if subject.os is not None:
        os = subject.os
        components.append(Component(
            type=ComponentType.OPERATING_SYSTEM, name=os.id, version=os.version_id or None,
            description=os.pretty_name or None, bom_ref=f"os:{os.id}@{os.version_id}",
            properties=[Property(name=f"faktory:distro:{k}", value=v) for k, v in
                        (("id", os.id), ("versionID", os.version_id), ("versionCodename", os.version_codename)) if v],
        ))
    components += [_component(p, subject, licenses) for p in subject.packages]
    if subject.python_version:
        props = [Property(name="faktory:path", value=subject.python_path or ""),
                 Property(name="faktory:implementation", value="cpython")]
        if subject.libc:
            props.append(Property(name="faktory:libc", value=subject.libc))
        components.append(Component(
            type=ComponentType.APPLICATION, name="python", version=subject.python_version,
            purl=PackageURL(type="generic", name="python", version=subject.python_version),
            cpe=PYTHON_CPE.format(v=subject.python_version),
            bom_ref=f"interpreter:{subject.python_path}", properties=props,
        ))
    for component in components:
        bom.components.add(component)
    bom.register_dependency(image, components)
    return bom


def cyclonedx_json(subject: SbomSubject | ImageAudit) -> str:
    return JsonV1Dot6(build_bom(subject)).output_as_string(indent=2)


def write_sbom(subject: SbomSubject, path: str | Path, fmt: str) -> None:
    if fmt == "spdx-json":
        from faktory.audit.writers.spdx import spdx_json

        text = spdx_json(subject)
    else:
        text = cyclonedx_json(subject)
    with atomic_text(path) as fh:
        fh.write(text)


def write_sboms(report: AuditReport, outdir: str | Path, fmt: str = "cyclonedx-json") -> list[Path]:
    """One file per image that loaded; error rows have nothing to describe."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for row in report.images:
        if row.status == ERROR:
            continue
        path = outdir / sbom_filename(row, fmt)
        write_sbom(SbomSubject.from_audit_row(row), path, fmt)
        written.append(path)
    return written
