"""The audit's one model: what was found in one image (ImageAudit) and in a fleet (AuditReport).

Every value is a frozen dataclass with `to_dict`/`from_dict`, so a row round-trips through the digest cache and the
JSON report unchanged. The JSON layout is documented in docs/audit.md; bump SCHEMA_VERSION on any incompatible
change (a new optional key is compatible).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping

from faktory.distinfo import canonical_name

SCHEMA_VERSION = "1.0"

OK, ERROR, PARTIAL = "ok", "error", "partial"  # PARTIAL: the image loaded but analysis failed


def _tuple(items: Iterable | None) -> tuple:
    return tuple(items or ())


@dataclass(frozen=True)
class Package:
    """One installed package found by a cataloger (a Python distribution or a system package)."""

    name: str
    version: str
    ecosystem: str  # "python" | "deb"
    location: str  # the metadata that declared it (dist-info dir, dpkg status)
    license: str = ""
    summary: str = ""
    files: tuple[str, ...] = ()  # image paths the package owns (RECORD, dpkg .list), when known
    arch: str = ""  # dpkg's Architecture (amd64, all)

    @property
    def purl(self) -> str:
        return self.package_url().to_string()

    def package_url(self, os: "OsRelease | None" = None):
        """syft's purls: pkg:pypi/NAME@V, pkg:deb/debian/NAME@V?arch=A&distro=debian-12 (scanners match on it)."""
        from packageurl import PackageURL

        if self.ecosystem == "python":
            return PackageURL(type="pypi", name=canonical_name(self.name), version=self.version)
        qualifiers = {}
        if self.arch:
            qualifiers["arch"] = self.arch
        if os is not None and os.distro:
            qualifiers["distro"] = os.distro
        return PackageURL(type=self.ecosystem, namespace=(os.id if os and os.id else "debian"), name=self.name,
                          version=self.version, qualifiers=qualifiers or None)

    def to_dict(self, with_files: bool = False) -> dict:
        out = {
            "name": self.name,
            "version": self.version,
            "ecosystem": self.ecosystem,
            "location": self.location,
            "license": self.license,
            "summary": self.summary,
            "purl": self.purl,
            "file_count": len(self.files),
        }
        if self.arch:
            out["arch"] = self.arch
        if with_files:
            out["files"] = list(self.files)
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> "Package":
        return cls(
            name=d["name"],
            version=d["version"],
            ecosystem=d["ecosystem"],
            location=d.get("location", ""),
            license=d.get("license", ""),
            summary=d.get("summary", ""),
            files=_tuple(d.get("files")),
            arch=d.get("arch", ""),
        )


@dataclass(frozen=True)
class OsRelease:
    """The image's /etc/os-release, as SBOM scanners key vulnerability data on it."""

    id: str = ""  # "debian"
    version_id: str = ""  # "12"
    pretty_name: str = ""  # "Debian GNU/Linux 12 (bookworm)"
    version_codename: str = ""

    @property
    def distro(self) -> str:
        """purl's distro qualifier, as syft writes it: `debian-12`."""
        return f"{self.id}-{self.version_id}" if self.id and self.version_id else self.id

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping | None) -> "OsRelease | None":
        if not d:
            return None
        return cls(**{f.name: d.get(f.name, "") for f in fields(cls)})


@dataclass(frozen=True)
class CExtension:
    """A compiled Python extension module and the native libraries it pulls in."""

    path: str
    distribution: str | None  # owning distribution name, from RECORD; None for stdlib/lib-dynload or unowned
    needed: tuple[str, ...] = ()  # DT_NEEDED sonames
    libraries: tuple[str, ...] = ()  # image paths of the libraries those resolved to (transitively)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "distribution": self.distribution,
            "needed": list(self.needed),
            "libraries": list(self.libraries),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "CExtension":
        return cls(d["path"], d.get("distribution"), _tuple(d.get("needed")), _tuple(d.get("libraries")))


@dataclass(frozen=True)
class Issue:
    """A blocker or warning, as reported by the analyzer or by a target's `check`."""

    kind: str
    message: str
    severity: str
    location: str | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "severity": self.severity, "location": self.location}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Issue":
        return cls(d["kind"], d["message"], d["severity"], d.get("location"))

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.kind}: {self.message}{where}"


@dataclass(frozen=True)
class TargetVerdict:
    """Can this image become a `target` image? `convertible` is None when no check exists for the target."""

    target: str
    convertible: bool | None
    blockers: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()
    projected_size: int | None = None  # bytes of the converted output, estimated from the closure
    # What the analysis could not resolve (computed imports, unreadable extensions): convertible, but unverified
    unverified: tuple[Issue, ...] = ()
    # Computed imports only inside library functions: listed, but they fail only if the app calls that function
    notes: tuple[Issue, ...] = ()

    @property
    def label(self) -> str:
        if self.convertible is None:
            return "not checked"
        if not self.convertible:
            return "blocked"
        return "convertible, unverified" if self.unverified else "convertible"

    def to_dict(self) -> dict:
        return {
            "convertible": self.convertible,
            "verdict": self.label,
            "projected_size": self.projected_size,
            "blockers": [i.to_dict() for i in self.blockers],
            "warnings": [i.to_dict() for i in self.warnings],
            "unverified": [i.to_dict() for i in self.unverified],
            "notes": [i.to_dict() for i in self.notes],
        }

    @classmethod
    def from_dict(cls, target: str, d: Mapping) -> "TargetVerdict":
        return cls(
            target=target,
            convertible=d.get("convertible"),
            blockers=tuple(Issue.from_dict(i) for i in d.get("blockers", ())),
            warnings=tuple(Issue.from_dict(i) for i in d.get("warnings", ())),
            projected_size=d.get("projected_size"),
            unverified=tuple(Issue.from_dict(i) for i in d.get("unverified", ())),
            notes=tuple(Issue.from_dict(i) for i in d.get("notes", ())),
        )


@dataclass(frozen=True)
class InterpreterInfo:
    path: str
    real_path: str
    version: str  # "3.12.7"
    libc: str  # "glibc" | "musl" | "static" | "unknown"
    pie: bool
    libpython: str | None
    provided_by: str | None = None  # "deb:python3.11-minimal@3.11.2-6" when a system package owns the binary

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping | None) -> "InterpreterInfo | None":
        if not d:
            return None
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class EntrypointInfo:
    argv: tuple[str, ...]  # what `docker run IMAGE` executes (Entrypoint + Cmd)
    workdir: str = "/"
    script: str | None = None
    module: str | None = None

    def to_dict(self) -> dict:
        return {"argv": list(self.argv), "workdir": self.workdir, "script": self.script, "module": self.module}

    @classmethod
    def from_dict(cls, d: Mapping | None) -> "EntrypointInfo | None":
        if not d:
            return None
        return cls(_tuple(d.get("argv")), d.get("workdir", "/"), d.get("script"), d.get("module"))


@dataclass(frozen=True)
class ImageAudit:
    """One row of the audit. A failed image is still a row: status ERROR and `error` set."""

    ref: str
    status: str = OK
    digest: str | None = None
    error: str | None = None  # one line: "<ErrorClass>: message"
    platform: str | None = None
    image_size: int = 0  # uncompressed layers
    layer_count: int = 0
    wasted_bytes: int = 0  # shadowed by later layers (overwritten or deleted)
    interpreter: InterpreterInfo | None = None
    entrypoint: EntrypointInfo | None = None
    distributions: tuple[Package, ...] = ()
    system_packages: tuple[Package, ...] = ()
    os: OsRelease | None = None
    c_extensions: tuple[CExtension, ...] = ()
    closure_files: int = 0
    closure_size: int = 0
    findings: tuple[Issue, ...] = ()  # analyzer facts that concern every target (subprocess, threads, ...)
    targets: Mapping[str, TargetVerdict] = field(default_factory=dict)
    seconds: float = 0.0  # time the analysis took (0 for cached rows that came from elsewhere)
    cached: bool = False

    @property
    def efficiency(self) -> float:
        """dive's score: the share of layer bytes that are still visible in the merged filesystem."""
        if self.image_size <= 0:
            return 1.0
        return max(0.0, 1.0 - self.wasted_bytes / self.image_size)

    @property
    def native_libraries(self) -> tuple[str, ...]:
        return tuple(sorted({lib for ext in self.c_extensions for lib in ext.libraries}))

    def convertible_targets(self) -> list[str]:
        return [t for t, v in self.targets.items() if v.convertible]

    def to_dict(self) -> dict:
        return {
            "ref": self.ref,
            "status": self.status,
            "digest": self.digest,
            "error": self.error,
            "platform": self.platform,
            "image_size": self.image_size,
            "layer_count": self.layer_count,
            "wasted_bytes": self.wasted_bytes,
            "efficiency": round(self.efficiency, 4),
            "interpreter": self.interpreter.to_dict() if self.interpreter else None,
            "entrypoint": self.entrypoint.to_dict() if self.entrypoint else None,
            "distributions": [p.to_dict() for p in self.distributions],
            "system_packages": [p.to_dict() for p in self.system_packages],
            "os": self.os.to_dict() if self.os else None,
            "c_extensions": [e.to_dict() for e in self.c_extensions],
            "native_libraries": list(self.native_libraries),
            "closure": {"files": self.closure_files, "size": self.closure_size},
            "findings": [i.to_dict() for i in self.findings],
            "targets": {t: v.to_dict() for t, v in self.targets.items()},
            "seconds": round(self.seconds, 3),
            "cached": self.cached,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "ImageAudit":
        closure = d.get("closure") or {}
        return cls(
            ref=d["ref"],
            status=d.get("status", OK),
            digest=d.get("digest"),
            error=d.get("error"),
            platform=d.get("platform"),
            image_size=d.get("image_size", 0),
            layer_count=d.get("layer_count", 0),
            wasted_bytes=d.get("wasted_bytes", 0),
            interpreter=InterpreterInfo.from_dict(d.get("interpreter")),
            entrypoint=EntrypointInfo.from_dict(d.get("entrypoint")),
            distributions=tuple(Package.from_dict(p) for p in d.get("distributions", ())),
            system_packages=tuple(Package.from_dict(p) for p in d.get("system_packages", ())),
            os=OsRelease.from_dict(d.get("os")),
            c_extensions=tuple(CExtension.from_dict(e) for e in d.get("c_extensions", ())),
            closure_files=closure.get("files", 0),
            closure_size=closure.get("size", 0),
            findings=tuple(Issue.from_dict(i) for i in d.get("findings", ())),
            targets={t: TargetVerdict.from_dict(t, v) for t, v in (d.get("targets") or {}).items()},
            seconds=d.get("seconds", 0.0),
            cached=d.get("cached", False),
        )


@dataclass(frozen=True)
class AuditReport:
    images: tuple[ImageAudit, ...]
    targets: tuple[str, ...]
    generated_at: str  # ISO 8601 UTC
    complete: bool = True  # False when interrupted: `images` holds what was finished
    requested: int = 0  # how many refs were asked for
    tool_version: str = ""

    def summary(self) -> dict[str, Any]:
        ok = [i for i in self.images if i.status != ERROR]
        per_target = {}
        for t in self.targets:
            verdicts = [i.targets[t] for i in ok if t in i.targets]
            per_target[t] = {
                "convertible": sum(1 for v in verdicts if v.convertible),
                "unverified": sum(1 for v in verdicts if v.convertible and v.unverified),
                "blocked": sum(1 for v in verdicts if v.convertible is False),
                "unknown": len(ok) - sum(1 for v in verdicts if v.convertible is not None),
            }
        return {
            "images": len(self.images),
            "errors": sum(1 for i in self.images if i.status == ERROR),
            "image_bytes": sum(i.image_size for i in ok),
            "closure_bytes": sum(i.closure_size for i in ok),
            "saved_bytes": sum(i.image_size - i.closure_size for i in ok if i.status == OK),
            "wasted_bytes": sum(i.wasted_bytes for i in ok),
            "targets": per_target,
            "blockers_by_kind": blockers_by_kind(self.images),
        }

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "faktory", "version": self.tool_version},
            "generated_at": self.generated_at,
            "complete": self.complete,
            "requested": self.requested,
            "targets": list(self.targets),
            "summary": self.summary(),
            "images": [i.to_dict() for i in self.images],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "AuditReport":
        return cls(
            images=tuple(ImageAudit.from_dict(i) for i in d.get("images", ())),
            targets=tuple(d.get("targets", ())),
            generated_at=d.get("generated_at", ""),
            complete=d.get("complete", True),
            requested=d.get("requested", 0),
            tool_version=(d.get("tool") or {}).get("version", ""),
        )


def blockers_by_kind(images: Iterable[ImageAudit]) -> dict[str, dict[str, int]]:
    """kind -> target -> number of images that target is blocked on for that kind."""
    out: dict[str, dict[str, int]] = {}
    for image in images:
        for target, verdict in image.targets.items():
            for kind in sorted({b.kind for b in verdict.blockers}):
                out.setdefault(kind, {}).setdefault(target, 0)
                out[kind][target] += 1
    return dict(sorted(out.items(), key=lambda kv: -sum(kv[1].values())))
