"""SPDX 2.3 JSON SBOMs through spdx-tools (its model, validator and JSON writer), shaped as syft writes them:
a root package for the image (purpose CONTAINER), the operating system (OPERATING-SYSTEM), every package with
its purl (and the interpreter's CPE), DOCUMENT DESCRIBES root, root CONTAINS each package."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from datetime import datetime, timezone

from faktory.audit.model import Package
from faktory import installed_version
from faktory.audit.sbom_subject import PYTHON_CPE, SbomSubject
from faktory.errors import FaktoryError

NAMESPACE = "https://spdx.org/spdxdocs/faktory"  # the SPDX spec's base for tools without a domain of their own


class InvalidSpdx(FaktoryError):
    exit_code = 1  # a bug, not a user mistake: still one line, never a half-written file


def _id(*parts: str) -> str:
    """SPDXRef-<kind>-<name>-<short hash>: [A-Za-z0-9.-] only, unique per (kind, name, version, location)."""
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", "-".join(parts[:2])).strip("-")
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return f"SPDXRef-{readable}-{digest}"


def _license(text: str):
    from spdx_tools.common.spdx_licensing import spdx_licensing
    from spdx_tools.spdx.model import SpdxNoAssertion

    if not text:
        return SpdxNoAssertion(), None
    try:
        expression = spdx_licensing.parse(text, validate=True, strict=True)
    except Exception:  # a free-text License field ("BSD License"): kept as a comment, not as an expression
        return SpdxNoAssertion(), f"declared license: {text}"
    return expression, None


def _package(pkg: Package, subject: SbomSubject):
    from spdx_tools.spdx.model import ExternalPackageRef, ExternalPackageRefCategory, Package as SpdxPackage
    from spdx_tools.spdx.model import PackagePurpose, SpdxNoAssertion

    declared, comment = _license(pkg.license)
    source = "acquired package info from " + ("DPKG DB" if pkg.ecosystem == "deb" else "installed python package")
    return SpdxPackage(
        spdx_id=_id("Package", f"{pkg.ecosystem}-{pkg.name}", pkg.version, pkg.location),
        name=pkg.name, version=pkg.version, download_location=SpdxNoAssertion(), files_analyzed=False,
        supplier=SpdxNoAssertion(), license_concluded=SpdxNoAssertion(), license_declared=declared,
        license_comment=comment, copyright_text=SpdxNoAssertion(), summary=pkg.summary or None,
        source_info=f"{source}: {pkg.location}", primary_package_purpose=PackagePurpose.LIBRARY,
        external_references=[ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl",
                                                pkg.package_url(subject.os).to_string())],
    )


def build_document(subject: SbomSubject, created: datetime | None = None):
    from spdx_tools.spdx.model import (Actor, ActorType, CreationInfo, Document, ExternalPackageRef,
                                       ExternalPackageRefCategory, Package as SpdxPackage, PackagePurpose,
                                       Relationship, RelationshipType, SpdxNoAssertion)

    created = created or datetime.now(timezone.utc).replace(microsecond=0)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", subject.name).strip("-") or "image"
    info = CreationInfo(
        spdx_version="SPDX-2.3", spdx_id="SPDXRef-DOCUMENT", name=subject.name,
        document_namespace=f"{NAMESPACE}/image/{safe}-{uuid.uuid4()}",
        creators=[Actor(ActorType.TOOL, f"faktory-{installed_version()}")], created=created,
        creator_comment=f"converted from {subject.converted_from}; lists only what the output kept"
        if subject.converted_from else None,
    )
    root = SpdxPackage(
        spdx_id=_id("DocumentRoot-Image", safe, subject.digest or ""), name=subject.name,
        version=subject.digest or None, download_location=SpdxNoAssertion(), files_analyzed=False,
        supplier=SpdxNoAssertion(), license_concluded=SpdxNoAssertion(), license_declared=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(), primary_package_purpose=PackagePurpose.CONTAINER,
    )
    packages = [root]
    if subject.os is not None:
        os = subject.os
        packages.append(SpdxPackage(
            spdx_id=_id("OperatingSystem", os.id, os.version_id), name=os.id, version=os.version_id or None,
            download_location=SpdxNoAssertion(), files_analyzed=False, supplier=SpdxNoAssertion(),
            license_concluded=SpdxNoAssertion(), license_declared=SpdxNoAssertion(),
            copyright_text=SpdxNoAssertion(), description=os.pretty_name or None,
            primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
        ))
    packages += [_package(p, subject) for p in subject.packages]
    if subject.python_version:
        v = subject.python_version
        packages.append(SpdxPackage(
            spdx_id=_id("Package", "binary-python", v, subject.python_path or ""), name="python", version=v,
            download_location=SpdxNoAssertion(), files_analyzed=False, supplier=SpdxNoAssertion(),
            license_concluded=SpdxNoAssertion(), license_declared=SpdxNoAssertion(),
            copyright_text=SpdxNoAssertion(), source_info=f"acquired package info from the interpreter binary: "
                                                          f"{subject.python_path}",
            primary_package_purpose=PackagePurpose.APPLICATION,
            external_references=[
                ExternalPackageRef(ExternalPackageRefCategory.SECURITY, "cpe23Type", PYTHON_CPE.format(v=v)),
                ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", f"pkg:generic/python@{v}"),
            ],
        ))
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, root.spdx_id)]
    relationships += [Relationship(root.spdx_id, RelationshipType.CONTAINS, p.spdx_id) for p in packages[1:]]
    return Document(creation_info=info, packages=_unique(packages), relationships=relationships)


def _unique(packages):
    """Two dist-infos of one name and version in one place collapse to one SPDX id: keep the first."""
    seen, out = set(), []
    for p in packages:
        if p.spdx_id not in seen:
            seen.add(p.spdx_id)
            out.append(p)
    return out


def validate(document) -> list[str]:
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    return [m.validation_message for m in validate_full_spdx_document(document)]


def spdx_json(subject: SbomSubject) -> str:
    from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

    document = build_document(subject)
    problems = validate(document)
    if problems:
        raise InvalidSpdx(f"SPDX document for {subject.name} does not validate: {problems[0]}")
    out = io.StringIO()
    write_document_to_stream(document, out, validate=False)
    return out.getvalue() + "\n"
