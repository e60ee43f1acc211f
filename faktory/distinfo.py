"""Python distribution metadata as data, shared by the analysis and the audit: names and RECORD files."""

from __future__ import annotations

import csv
import io
import posixpath
import re


def canonical_name(name: str) -> str:
    """PEP 503: `Jinja2` -> `jinja2`, `typing_extensions` -> `typing-extensions`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def record_paths(record: str, base: str) -> tuple[str, ...]:
    """The files a RECORD lists, as paths; its rows are relative to the directory holding the .dist-info."""
    return tuple(posixpath.normpath(posixpath.join(base, row[0]))
                 for row in csv.reader(io.StringIO(record)) if row and row[0])
