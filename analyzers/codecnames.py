"""Codecs named by a literal (`b.decode("utf-16-be")`, `codecs.lookup("cp1252")`, `open(p, encoding="latin9")`).

The codec registry's search function (encodings/__init__.py) imports `encodings.<name>` for a name it has not
seen: the name normalised (lower case, punctuation to `_`) and looked up in `encodings/aliases.py`. The same
mapping, read from the image's own aliases table with `ast` (never run), gives the module to keep.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import Iterable

from faktory.analyzers.keeper import Keeper

CODEC_FORMAT = 3  # part of the cache key: bump when codec_names changes
_NAME = r"""(["'])([A-Za-z][A-Za-z0-9_.\- ]{1,40})\1"""
CODEC_LITERAL = re.compile(
    # a bare or qualified `lookup("utf-16le")`: codecs' own imported by name, or a library's wrapper of it
    # (webencodings.lookup); a literal that names no codec keeps nothing
    r"""(?:\.(?:en|de)code\(\s*|\bencoding\s*=\s*|\blookup\(\s*|"""
    r"""\bcodecs\.(?:lookup|getencoder|getdecoder|getincrementalencoder|getincrementaldecoder|getreader|"""
    r"""getwriter|iterencode|iterdecode)\(\s*)""" + _NAME)
CODEC_SECOND_ARG = re.compile(  # codecs.encode(obj, "rot13"), codecs.open(path, "r", "utf-16")
    r"""\bcodecs\.(?:encode|decode)\([^(),]+,\s*""" + _NAME)


DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(\s*(?:(?:self|cls)\s*,\s*)?([A-Za-z_]\w*)",
                 re.M)
# the codecs calls whose first argument is a codec (codecs.open/encode/decode take data or a path first)
_CODECS_BY_NAME = (r"codecs\.(?:lookup|getencoder|getdecoder|getincrementalencoder|getincrementaldecoder|getreader|"
                   r"getwriter)")
NEXT_LINE = re.compile(r"\n([ \t]*)(\S)")
# a call of the codec machinery, up to the codec argument
_CODEC_CALL = r"(?:\.(?:en|de)code\(|\bencoding\s*=|\blookup\(|\b" + _CODECS_BY_NAME + r"\()\s*"
# a name, not a literal, given to the codec machinery somewhere in the source: only then can it hold a wrapper
HANDED_ON = re.compile(_CODEC_CALL + r"[A-Za-z_]")
MAX_WRAPPER_ROUNDS = 3  # a wrapper of a wrapper of `.decode(enc)`, as deep as libraries go


def codec_names(source: bytes) -> list[str]:
    """Literal codec names in `source`, as written: given to the codec machinery, or as the first argument of
    this module's own function that hands its first parameter on to it (pypdf's
    `fill_from_encoding("cp1252")` over `bytes((x,)).decode(enc)`, at import)."""
    text = source.decode("utf-8", "replace")
    found = {m.group(2) for m in CODEC_LITERAL.finditer(text)}
    found |= {m.group(2) for m in CODEC_SECOND_ARG.finditer(text)}
    for name in codec_wrappers(text):
        found |= {m.group(2) for m in re.finditer(rf"\b{name}\(\s*" + _NAME, text)}
    return sorted(found)


def codec_wrappers(text: str) -> set[str]:
    """Functions whose first parameter reaches a codec call (`.decode(p)`, `encoding=p`, `codecs.lookup(p)`), or
    another such function of the module."""
    if "def " not in text or not HANDED_ON.search(text):
        return set()
    bodies = [(m.group(2), m.group(3), _body(text, m)) for m in DEF.finditer(text)]
    wrappers: set[str] = set()
    for _ in range(MAX_WRAPPER_ROUNDS):
        callee = "|".join(sorted(wrappers)) if wrappers else None
        grown = {name for name, param, body in bodies if name not in wrappers and _hands_on(body, param, callee)}
        if not grown:
            break
        wrappers |= grown
    return wrappers


def _body(text: str, match: re.Match) -> str:
    """A function's text: from its def to the next line indented no deeper (a cheap stand-in for the AST)."""
    indent = len(match.group(1).expandtabs())
    end = len(text)
    for line in NEXT_LINE.finditer(text, match.end()):
        if len(line.group(1).expandtabs()) <= indent and line.group(2) not in ")]}#":
            end = line.start()
            break
    return text[match.start():end]


def _hands_on(body: str, param: str, callee: str | None) -> bool:
    p = re.escape(param)
    if re.search(rf"{_CODEC_CALL}{p}\b", body):
        return True
    # a wrapper of a wrapper calls it bare (`fill(encoding)`): `codecs.open(path)` is no call of a method `open`
    return callee is not None and re.search(rf"(?<![\w.])(?:{callee})\(\s*{p}\b", body) is not None


def normalize_encoding(name: str) -> str:
    """encodings.normalize_encoding after the registry's lower-casing: runs of punctuation become one `_`."""
    chars, punct = [], False
    for c in name.lower():
        if c.isalnum() or c == ".":
            if punct and chars:
                chars.append("_")
            chars.append(c)
            punct = False
        else:
            punct = True
    return "".join(chars)


@lru_cache(maxsize=8)
def parse_aliases(text: str) -> dict[str, str]:
    """The `aliases = {…}` dict literal of encodings/aliases.py."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "aliases" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return {}
            return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
    return {}


def codec_module(name: str, aliases: dict[str, str]) -> str:
    norm = normalize_encoding(name)
    return aliases.get(norm) or aliases.get(norm.replace(".", "_")) or norm.replace(".", "_")


def keep_codecs(keeper: Keeper, node: str, names: Iterable[str], where: str, depth: int = 0) -> None:
    """Each named codec's `encodings.<module>`, when the image has it (`codec-name`)."""
    names = list(names)
    if not names:
        return
    spec = keeper.find("encodings.aliases")
    text = keeper.read_text(spec.origin) if spec is not None and spec.origin else None
    aliases = parse_aliases(text) if text else {}
    for name in names:
        module = f"encodings.{codec_module(name, aliases)}"
        if keeper.find(module) is not None:
            keeper.keep_module(module, node, "codec-name", f"{where}: {name!r}", optional=True, depth=depth)
