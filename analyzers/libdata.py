"""System files a shared library reads by paths built into it, whoever loads it (DT_NEEDED or dlopen).

A table, like the hook table for modules: fontconfig reads its configuration under /etc/fonts (conf.d links
into /usr/share/fontconfig), the font directories fonts.conf lists and the caches of those; without them Pango
lays text out with no font at all (WeasyPrint crashes in pango_font_get_hb_font). Keyed by soname without its
version, so libfontconfig.so.1 and a later .so.2 are the same entry.
"""

from __future__ import annotations

import posixpath

from faktory.analyzers import sysfiles
from faktory.analyzers.graphbuild import GraphBuilder

LIBRARY_DATA: dict[str, tuple[str, ...]] = {
    "libfontconfig.so": ("/etc/fonts/**", "/usr/share/fontconfig/**", "/var/cache/fontconfig/**",
                         "/usr/share/fonts/**", "/usr/local/share/fonts/**"),
}
REASON = "library-data"


def soname_stem(path: str) -> str:
    """libfontconfig.so.1.12.0 -> libfontconfig.so"""
    name = posixpath.basename(path)
    head, dot, _version = name.partition(".so")
    return head + dot


def keep_library_data(gb: GraphBuilder, real: str, node: str) -> None:
    for pattern in LIBRARY_DATA.get(soname_stem(real), ()):
        sysfiles.keep_glob(gb, pattern, node, REASON)  # what the image lacks keeps nothing
