"""One glob dialect for hook data patterns and user hints: pathlib-style, `**` spans directories."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern:
    """`*` and `?` stay inside one path component, `**/` is any number of directories (none too), `**` anything,
    `[...]` a character class; a trailing `/` is ignored. Matches the whole path. A trailing `dir/**` is the
    directory too, as in pathlib: excluding `pkg/**` must not leave an empty `pkg/`, which Python imports as a
    namespace package (so `try: import pkg except ImportError:` would not fall back)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("/**", i) and i + 3 == len(pattern.rstrip("/")):
            out.append("(?:/.*)?")
            i = len(pattern)
        elif pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            out.append("[" + pattern[i + 1:end].replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out).rstrip("/") + r"\Z")
