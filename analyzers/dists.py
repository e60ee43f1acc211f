"""Installed distributions in the site dirs: which files belong to which distribution, and its metadata dir.

RECORD lists every installed file of a wheel install; Debian's `*.egg-info` only has `top_level.txt`, so
top-level names are the fallback.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from faktory.analyzers.graphbuild import GraphBuilder
from faktory.distinfo import canonical_name, record_paths


@dataclass
class DistIndex:
    by_file: dict[str, str] = field(default_factory=dict)  # real file path -> canonical dist name
    by_top: dict[tuple[str, str], str] = field(default_factory=dict)  # (site dir, top-level name) -> dist
    meta_dir: dict[str, str] = field(default_factory=dict)  # dist -> its *.dist-info / *.egg-info path

    def dist_of(self, path: str, site_dirs: list[str]) -> str | None:
        found = self.by_file.get(path)
        if found:
            return found
        for site in site_dirs:
            if path.startswith(site + "/"):
                top = path[len(site) + 1:].split("/")[0]
                top = top.split(".")[0]
                return self.by_top.get((site, top))
        return None


def build_index(gb: GraphBuilder, site_dirs: list[str]) -> DistIndex:
    index = DistIndex()
    for site in site_dirs:
        for name in sorted(gb.listdir(site)):
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            meta = posixpath.join(site, name)
            dist = canonical_name(name.rsplit(".", 1)[0].split("-")[0])
            if not gb.is_dir(meta):
                index.meta_dir.setdefault(dist, meta)  # egg-info as a single PKG-INFO file
                continue
            index.meta_dir.setdefault(dist, meta)
            inner = gb.listdir(meta)
            if "RECORD" in inner:
                text = gb.fs.read_bytes(posixpath.join(meta, "RECORD")).decode("utf-8", "replace")
                for path in record_paths(text, site):
                    index.by_file.setdefault(path, dist)
            if "top_level.txt" in inner:
                text = gb.fs.read_bytes(posixpath.join(meta, "top_level.txt")).decode("utf-8", "replace")
                for top in text.split():
                    index.by_top.setdefault((site, top.split("/")[0]), dist)
    return index


REQUIRES = re.compile(r"^Requires-Dist:[ \t]*([A-Za-z0-9][A-Za-z0-9._-]*)([^;\n]*)(;[^\n]*)?$", re.M)


def requirements(metadata: str) -> frozenset[str]:
    """Canonical names a distribution's METADATA requires unconditionally (no `extra == …` marker)."""
    return frozenset(canonical_name(m.group(1)) for m in REQUIRES.finditer(metadata)
                     if not (m.group(3) and "extra" in m.group(3)))
