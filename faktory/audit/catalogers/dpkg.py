"""Debian packages from the dpkg database (`/var/lib/dpkg/status`, and distroless `status.d/`)."""

from __future__ import annotations

import posixpath

from faktory.audit.model import Package
from faktory.image import FileSystem

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d"
INFO = "/var/lib/dpkg/info"
MAX_STATUS_BYTES = 64 << 20


def catalog_deb_packages(fs: FileSystem) -> tuple[Package, ...]:
    texts = []
    if _is_small_file(fs, STATUS):
        texts.append((STATUS, fs.read_bytes(STATUS).decode("utf-8", "replace")))
    status_d = fs.stat(STATUS_D)
    if status_d is not None and status_d.is_dir:
        for name in sorted(fs.listdir(STATUS_D)):
            path = f"{STATUS_D}/{name}"
            if _is_small_file(fs, path):
                texts.append((path, fs.read_bytes(path).decode("utf-8", "replace")))
    found = []
    for location, text in texts:
        for fields in _paragraphs(text):
            status = fields.get("status", "install ok installed")
            if not status.endswith(" installed") or "package" not in fields or "version" not in fields:
                continue
            found.append(
                Package(
                    name=fields["package"],
                    version=fields["version"],
                    ecosystem="deb",
                    location=location,
                    summary=fields.get("description", "").splitlines()[0] if fields.get("description") else "",
                    arch=fields.get("architecture", ""),
                )
            )
    return tuple(sorted(found, key=lambda p: p.name))


def deb_owner(fs: FileSystem, path: str, packages: tuple[Package, ...]) -> Package | None:
    """The installed package whose file list names `path` (or the same file through usrmerge symlinks)."""
    wanted = usrmerge_aliases(path) | usrmerge_aliases(fs.resolve(path))
    by_name = {p.name: p for p in packages}
    info = fs.stat(INFO)
    if info is None or not info.is_dir:
        return None
    for name in sorted(fs.listdir(INFO)):
        if not name.endswith(".list"):
            continue
        list_path = f"{INFO}/{name}"
        if not _is_small_file(fs, list_path):
            continue
        lines = set(fs.read_bytes(list_path).decode("utf-8", "replace").splitlines())
        if lines & wanted:
            pkg_name = posixpath.splitext(name)[0].split(":")[0]
            return by_name.get(pkg_name)
    return None


_MERGED = (("/bin/", "/usr/bin/"), ("/lib/", "/usr/lib/"), ("/sbin/", "/usr/sbin/"), ("/lib64/", "/usr/lib64/"))


def usrmerge_aliases(path: str) -> set[str]:
    """bookworm's /bin -> /usr/bin: a .list may name either spelling of a file."""
    out = {path}
    for short, long in _MERGED:
        if path.startswith(long):
            out.add(short + path[len(long):])
        elif path.startswith(short):
            out.add(long + path[len(short):])
    return out


def package_files(fs: FileSystem, pkg: Package) -> set[str]:
    """The paths dpkg's `.list` for `pkg` names (`NAME.list`, or `NAME:ARCH.list` for multi-arch packages)."""
    for name in (f"{pkg.name}.list", f"{pkg.name}:{pkg.arch}.list"):
        path = posixpath.join(INFO, name)
        if _is_small_file(fs, path):
            return set(fs.read_bytes(path).decode("utf-8", "replace").splitlines())
    return set()


def _is_small_file(fs: FileSystem, path: str) -> bool:
    entry = fs.stat(path)
    return entry is not None and entry.is_file and entry.size <= MAX_STATUS_BYTES


def _paragraphs(text: str):
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
