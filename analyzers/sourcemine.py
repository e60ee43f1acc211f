"""What a module's source says beyond its imports, mined once per content and cached: the codecs it names
by a literal (codecnames.py), the directories it puts on sys.path (pathext.py) and the absolute data
directories it names (NLTK's search path `"/usr/share/nltk_data"`, read when a corpus is first used)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from faktory.analyzers import codecnames, pathext

DATA_FORMAT = 1
MINE_FORMAT = f"{codecnames.CODEC_FORMAT}.{pathext.PATHEXT_FORMAT}.{DATA_FORMAT}"  # part of the cache key
DATA_DIR = re.compile(rb"""["'](/(?:usr|opt|var|srv)/[\w.+-]+(?:/[\w.+-]+)*)/?["']""")


@dataclass(frozen=True)
class SourceFacts:
    codecs: tuple[str, ...] = ()
    sys_path_dirs: tuple[str, ...] = ()
    data_dirs: tuple[str, ...] = ()  # absolute; whether they are directories of the image is the caller's


def cache_key(content_key: str | None) -> str | None:
    return content_key and f"source-facts-{MINE_FORMAT}:{content_key}"


def encode(source: bytes, origin: str) -> list[str]:
    """Cacheable form: directories relative to the module's own, since a content key may be shared by copies."""
    here = posixpath.dirname(origin)
    return [f"codec:{n}" for n in codecnames.codec_names(source)] + \
        [f"path:{posixpath.relpath(d, here)}" for d in pathext.added_dirs(source, origin)] + \
        [f"data:{d}" for d in dict.fromkeys(m.group(1).decode() for m in DATA_DIR.finditer(source))]


def decode(items: list[str], origin: str) -> SourceFacts:
    here = posixpath.dirname(origin)
    codecs = tuple(i[6:] for i in items if i.startswith("codec:"))
    dirs = tuple(posixpath.normpath(posixpath.join(here, i[5:])) for i in items if i.startswith("path:"))
    data = tuple(i[5:] for i in items if i.startswith("data:"))
    return SourceFacts(codecs, dirs, data)
