"""Python distributions: every `*.dist-info` / `*.egg-info` in the merged filesystem, like syft's python cataloger.

Metadata is read as data (RFC 822 headers), never imported or executed. RECORD / installed-files.txt give the
files each distribution owns, which lets the extension cataloger attribute a `.so` to its distribution.
"""

from __future__ import annotations

import posixpath
from email.parser import HeaderParser

from faktory.audit.model import Package
from faktory.distinfo import record_paths
from faktory.image import FileSystem

MAX_METADATA_BYTES = 1 << 20  # image content is untrusted: never read an unbounded blob into memory


def catalog_distributions(fs: FileSystem) -> tuple[Package, ...]:
    found = []
    for entry in fs.walk("/"):
        name = posixpath.basename(entry.path)
        if name.endswith(".dist-info") and entry.is_dir:
            pkg = _dist_info(fs, entry.path)
        elif name.endswith(".egg-info") and (entry.is_dir or entry.is_file):
            pkg = _egg_info(fs, entry.path, entry.is_dir)
        else:
            continue
        if pkg is not None:
            found.append(pkg)
    return tuple(sorted(found, key=lambda p: (p.name.lower(), p.version, p.location)))


def _read_text(fs: FileSystem, path: str) -> str | None:
    entry = fs.stat(path)
    if entry is None or not entry.is_file or entry.size > MAX_METADATA_BYTES:
        return None
    return fs.read_bytes(path).decode("utf-8", errors="replace")


def _package(meta_text: str, location: str, files: tuple[str, ...]) -> Package | None:
    headers = HeaderParser().parsestr(meta_text, headersonly=True)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    return Package(
        name=name.strip(),
        version=version.strip(),
        ecosystem="python",
        location=location,
        license=_license(headers),
        summary=(headers.get("Summary") or "").strip(),
        files=files,
    )


def _license(headers) -> str:
    """SPDX expression if declared (PEP 639), else the License field's first line, else the trove classifier."""
    expr = (headers.get("License-Expression") or "").strip()
    if expr:
        return expr
    text = (headers.get("License") or "").strip().splitlines()
    if text and text[0].strip() and text[0].strip().upper() != "UNKNOWN" and len(text[0]) < 100:
        return text[0].strip()
    for classifier in headers.get_all("Classifier") or ():
        if classifier.startswith("License ::"):
            return classifier.split("::")[-1].strip()
    return ""


def _dist_info(fs: FileSystem, path: str) -> Package | None:
    meta = _read_text(fs, f"{path}/METADATA")
    if meta is None:
        return None
    files = record_paths(_read_text(fs, f"{path}/RECORD") or "", posixpath.dirname(path))
    return _package(meta, path, files)


def _egg_info(fs: FileSystem, path: str, is_dir: bool) -> Package | None:
    meta = _read_text(fs, f"{path}/PKG-INFO" if is_dir else path)
    if meta is None:
        return None
    files: tuple[str, ...] = ()
    if is_dir:
        listing = _read_text(fs, f"{path}/installed-files.txt") or ""
        files = tuple(posixpath.normpath(posixpath.join(path, line.strip())) for line in listing.splitlines() if line.strip())
    return _package(meta, path, files)
