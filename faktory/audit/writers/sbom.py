"""`--sbom DIR`: one CycloneDX JSON document per audited image (cyclonedx-python-lib).

The image is the BOM's subject (type container, version = digest); components are the Python distributions
(purl pkg:pypi), the Debian packages (pkg:deb/debian) and the interpreter itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from faktory.audit.model import ERROR, AuditReport, ImageAudit, Package, normalise_name
from faktory.audit.writers import atomic_text

try:
    from cyclonedx.contrib.license.factories import LicenseFactory
except ImportError:  # cyclonedx-python-lib < 11
    from cyclonedx.factory.license import LicenseFactory


def sbom_filename(row: ImageAudit) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", row.ref).strip("_") or "image"
    short = (row.digest or "").split(":")[-1][:12]
    return f"{name}{'-' + short if short else ''}.cdx.json"


def _purl(pkg: Package) -> PackageURL:
    if pkg.ecosystem == "python":
        return PackageURL(type="pypi", name=normalise_name(pkg.name), version=pkg.version)
    return PackageURL(type="deb", namespace="debian", name=pkg.name, version=pkg.version)


def _component(pkg: Package, licenses: LicenseFactory) -> Component:
    component = Component(
        type=ComponentType.LIBRARY,
        name=pkg.name,
        version=pkg.version,
        purl=_purl(pkg),
        bom_ref=f"{pkg.ecosystem}:{pkg.name}@{pkg.version}:{pkg.location}",
        description=pkg.summary or None,
        properties=[Property(name="faktory:location", value=pkg.location)],
    )
    if pkg.license:
        component.licenses.add(licenses.make_from_string(pkg.license))
    return component


def build_bom(row: ImageAudit) -> Bom:
    licenses = LicenseFactory()
    subject = Component(
        type=ComponentType.CONTAINER, name=row.ref, version=row.digest or None, bom_ref=f"image:{row.ref}",
    )
    bom = Bom()
    bom.metadata.component = subject
    components = [_component(p, licenses) for p in (*row.distributions, *row.system_packages)]
    if row.interpreter:
        components.append(
            Component(
                type=ComponentType.APPLICATION,
                name="cpython",
                version=row.interpreter.version,
                bom_ref=f"interpreter:{row.interpreter.real_path}",
                properties=[
                    Property(name="faktory:path", value=row.interpreter.real_path),
                    Property(name="faktory:libc", value=row.interpreter.libc),
                ],
            )
        )
    for component in components:
        bom.components.add(component)
    bom.register_dependency(subject, components)
    return bom


def write_sboms(report: AuditReport, outdir: str | Path) -> list[Path]:
    """One file per image that loaded; error rows have nothing to describe."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for row in report.images:
        if row.status == ERROR:
            continue
        path = outdir / sbom_filename(row)
        with atomic_text(path) as fh:
            fh.write(JsonV1Dot6(build_bom(row)).output_as_string(indent=2))
        written.append(path)
    return written
