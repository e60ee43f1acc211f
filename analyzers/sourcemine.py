"""What a module's source says beyond its imports, mined once per content and cached: the codecs it names
by a literal (codecnames.py), the directories it puts on sys.path (pathext.py), the absolute data
directories it names (NLTK's search path `"/usr/share/nltk_data"`, read when a corpus is first used) and the
file names it quotes (virtualenv's `yield "activate_this.py"`, read with `files(__name__) / name`)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from faktory.analyzers import codecnames, pathext
from faktory.analyzers.textlines import first_lines

DATA_FORMAT = 2
MINE_FORMAT = f"{codecnames.CODEC_FORMAT}.{pathext.PATHEXT_FORMAT}.{DATA_FORMAT}"  # part of the cache key
DATA_DIR = re.compile(rb"""["'](/(?:usr|opt|var|srv)/[\w.+-]+(?:/[\w.+-]+)*)/?["']""")
# a quoted base name with an extension ("activate_this.py", "schema.sql"); whether the module's own directory
# holds it is the caller's
FILE_NAME = re.compile(rb"""(?<![\w\\])["']([A-Za-z0-9_][\w+-]*(?:\.[\w+-]+)*\.[A-Za-z0-9]{1,8})["']""")


@dataclass(frozen=True)
class SourceFacts:
    codecs: tuple[str, ...] = ()
    sys_path_dirs: tuple[str, ...] = ()
    data_dirs: tuple[str, ...] = ()  # absolute; whether they are directories of the image is the caller's
    file_names: tuple[tuple[str, int], ...] = ()  # (quoted base name, line of its first appearance)


def cache_key(content_key: str | None) -> str | None:
    return content_key and f"source-facts-{MINE_FORMAT}:{content_key}"


def encode(source: bytes, origin: str) -> list[str]:
    """Cacheable form: directories relative to the module's own, since a content key may be shared by copies."""
    here = posixpath.dirname(origin)
    return [f"codec:{n}" for n in codecnames.codec_names(source)] + \
        [f"path:{posixpath.relpath(d, here)}" for d in pathext.added_dirs(source, origin)] + \
        [f"data:{d}" for d in dict.fromkeys(m.group(1).decode() for m in DATA_DIR.finditer(source))] + \
        [f"file:{line}:{name}" for name, line in
         first_lines(source, ((m.group(1).decode(), m.start()) for m in FILE_NAME.finditer(source))).items()]


def decode(items: list[str], origin: str) -> SourceFacts:
    here = posixpath.dirname(origin)
    codecs = tuple(i[6:] for i in items if i.startswith("codec:"))
    dirs = tuple(posixpath.normpath(posixpath.join(here, i[5:])) for i in items if i.startswith("path:"))
    data = tuple(i[5:] for i in items if i.startswith("data:"))
    files = tuple((name, int(line)) for line, _, name in (i[5:].partition(":") for i in items
                                                           if i.startswith("file:")))
    return SourceFacts(codecs, dirs, data, files)
