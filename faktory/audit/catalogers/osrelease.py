"""The image's operating system from os-release(5): `/etc/os-release`, else `/usr/lib/os-release`."""

from __future__ import annotations

import shlex

from faktory.audit.model import OsRelease
from faktory.image import FileSystem

PATHS = ("/etc/os-release", "/usr/lib/os-release")
MAX_BYTES = 64 << 10


def catalog_os(fs: FileSystem) -> OsRelease | None:
    for path in PATHS:
        entry = fs.stat(path)
        if entry is None or not entry.is_file or entry.size > MAX_BYTES:
            continue
        values = parse_os_release(fs.read_bytes(path).decode("utf-8", "replace"))
        if values.get("ID"):
            return OsRelease(id=values["ID"], version_id=values.get("VERSION_ID", ""),
                             pretty_name=values.get("PRETTY_NAME", ""),
                             version_codename=values.get("VERSION_CODENAME", ""))
    return None


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines with shell quoting; comments and malformed lines are skipped (os-release(5))."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#") or not key.isidentifier():
            continue
        try:
            parts = shlex.split(value)
        except ValueError:
            continue
        out[key] = parts[0] if parts else ""
    return out
