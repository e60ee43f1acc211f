"""What an SBOM describes, whichever format writes it: an audited image, or a converted output (only what
was kept). Both writers (CycloneDX, SPDX) follow syft's conventions so scanners (grype, trivy) match on them."""

from __future__ import annotations

from dataclasses import dataclass

from faktory.audit.catalogers import catalog_deb_packages, catalog_distributions, catalog_os
from faktory.audit.catalogers.dpkg import package_files, usrmerge_aliases
from faktory.audit.model import OsRelease, Package

PYTHON_CPE = "cpe:2.3:a:python_software_foundation:python:{v}:*:*:*:*:*:*:*"


@dataclass(frozen=True)
class SbomSubject:
    name: str  # the image ref, or the output's tag
    digest: str | None
    packages: tuple[Package, ...]
    os: OsRelease | None = None
    python_version: str | None = None
    python_path: str | None = None
    libc: str | None = None
    converted_from: str | None = None  # a converted output: the source image it was cut from

    @classmethod
    def from_audit_row(cls, row) -> "SbomSubject":
        interp = row.interpreter
        return cls(name=row.ref, digest=row.digest, packages=(*row.distributions, *row.system_packages), os=row.os,
                   python_version=interp.version if interp else None, python_path=interp.real_path if interp else None,
                   libc=interp.libc if interp else None)


def kept_subject(image, closure, name: str, digest: str | None) -> SbomSubject:
    """The converted output's SBOM: the packages of the source image with at least one file in the closure
    (usrmerge aliases count: a .list naming /lib/… owns the kept /usr/lib/…)."""
    fs = image.fs
    kept = set()
    for _, data in closure.file_nodes():
        path = data.get("path")
        if path and data.get("kind") == "file":  # a kept directory (/usr/lib) says nothing about who owns it
            kept.update(usrmerge_aliases(path))
    dists = tuple(p for p in catalog_distributions(fs) if any(f in kept for f in p.files))
    debs = tuple(p for p in catalog_deb_packages(fs) if package_files(fs, p) & kept)
    interp = closure.interpreter
    return SbomSubject(name=name, digest=digest, packages=(*dists, *debs), os=catalog_os(fs),
                       python_version=interp.version_str, python_path=interp.real_path, libc=interp.libc,
                       converted_from=f"{image.ref}@{image.digest}" if image.digest else image.ref)
