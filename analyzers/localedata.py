"""Locale-keyed data a library ships for every language (babel's `locale-data/*.dat`, gettext catalogues under
`locale/<lang>/LC_MESSAGES/`): only the languages the image can ask for are kept.

A library picks one entry of such a directory by the locale it runs in, so which one depends on configuration,
not on code. The languages kept are the ones the image names: the locale variables of the launch environment
(`LANG`, `LANGUAGE`, `LC_*`), the locale literals of the app's own code and config (`language = 'de'`,
`LANGUAGE_CODE = "pt-br"`), the user's `--locale` hints, and English, every such library's default. A language
keeps all its variants (`de` keeps `de_AT` and `de_CH`: parents and regional forms share the language), and
babel's `root` is always kept. Each directory trimmed is an INFO `locale-data-trimmed` finding that says what was
left out and how to keep it (`--locale LANG`, `--locale all`), so a language chosen at run time (a request's
Accept-Language) is a stated choice, never a silent loss.

Only library and system data is trimmed: files the app's own tree, an argument, a hint or an observed run kept
stay, and modules never go (Django's `conf/locale/de/formats.py` is code).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from faktory.analyzers.graphbuild import ENTRY
from faktory.analyzers.model import INFO, Finding
from faktory.units import human_bytes

KIND = "locale-data-trimmed"
ALL = "all"
ALWAYS = frozenset({"en"})  # every i18n library's default, and what C/POSIX means to babel (en_US_POSIX)
ROOT_NAMES = frozenset({"root"})  # babel's root locale: every locale's last parent
# a locale identifier: language, then script/region/variant parts (de_DE, sr_Cyrl_BA, es_419, pt-br, sr@latin)
LOCALE_NAME = re.compile(r"^([a-z]{2,3})(?:[_-][A-Za-z0-9]{1,8})*(?:@[A-Za-z0-9]+)?$")
# ISO 639-1, and the three-letter languages that locale tables commonly carry: a fixed list, so a table is told
# apart the same way on every host
KNOWN_LANGUAGES = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en
eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka
kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl
nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
ast fil haw yue ckb kab chr ceb gsw hsb dsb nds fur sah szl
""".split())
# codes one language goes by (an old ISO code, a macrolanguage and its members): naming one keeps them all, as
# babel reads `he.dat` for `iw_IL` and `no.dat` as the parent of `nb`
SAME_LANGUAGE = (frozenset({"he", "iw"}), frozenset({"id", "in"}), frozenset({"yi", "ji"}), frozenset({"jv", "jw"}),
                 frozenset({"ro", "mo"}), frozenset({"fil", "tl"}), frozenset({"no", "nb", "nn"}),
                 frozenset({"sr", "sh"}))
MIN_LOCALES = 8  # a directory with fewer locale-named entries is not a per-language table
# what tells locales from other two-letter names (a set of flags named by country code: de.png, fr.png): a
# gettext tree (`<lang>/LC_MESSAGES/`), or entries with a region or script part as locales have (de_DE, es_419,
# zh_Hant)
MIN_REGIONAL = 3
REGIONAL = re.compile(r"^[a-z]{2,3}[_-](?:[A-Z]{2}|\d{3}|[A-Z][a-z]{3})(?:[_-]|@|$)")
# the environment's locale settings: the C library's, and any an app or framework reads (BABEL_DEFAULT_LOCALE)
ENV_KEY = re.compile(r"^(?:LANG|LANGUAGE|LC_[A-Z]+)$|LOCALE|LANGUAGE", re.I)
_ID = r"[a-z]{2,3}(?:[_-][A-Za-z0-9]{1,8})*(?:@[A-Za-z0-9]+)?"
# quoted locale literals and lists (`'de'`, `"de,fr"`), and unquoted values of a locale-named key (`language: de`)
QUOTED = re.compile(rf"""(['"])({_ID}(?:[ \t]*,[ \t]*{_ID})*)\1""")
KEYED = re.compile(rf"(?im)^[ \t]*[\w.-]*(?:lang|locale)\w*[ \t]*[:=][ \t]*({_ID})[ \t]*$")
SHOWN = 4  # directories named in the finding
OWN_TEXT_SUFFIXES = (".py", ".cfg", ".ini", ".toml", ".yaml", ".yml", ".json", ".conf", ".env")
OWN_TEXT_LIMIT = 256 * 1024  # bytes read of one file
OWN_TEXT_FILES = 2000
USER_REASONS = ("hint:", "label:", "rule:", "observed")
CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")
SYSTEM_TREES = ("/usr/lib/", "/usr/share/", "/usr/libexec/", "/usr/local/lib/", "/usr/local/share/", "/lib/",
                "/lib64/")


def language_of(name: str) -> str | None:
    """`de_DE.dat` -> de, `pt-br` -> pt, `sr@latin` -> sr; None for what is not shaped like a locale."""
    match = LOCALE_NAME.match(name.split(".", 1)[0])
    return match.group(1) if match else None


def same_language(langs: Iterable[str]) -> set[str]:
    """The languages with every code they also go by."""
    out = set(langs)
    for group in SAME_LANGUAGE:
        if out & group:
            out |= group
    return out


def _languages_in(value: str) -> set[str]:
    return {lang for part in re.split(r"[:,\s]+", value) if part for lang in [language_of(part)] if lang}


def languages_of_env(env: Mapping[str, str]) -> set[str]:
    """The languages the launch environment sets: `LANG=de_DE.UTF-8` -> de, `LANGUAGE=fr:de` -> fr, de,
    `BABEL_DEFAULT_LOCALE=nl` -> nl."""
    return {lang for key, value in env.items() if ENV_KEY.search(key) for lang in _languages_in(str(value))}


def languages_of_text(text: str) -> set[str]:
    """Locale literals of own code or config: quoted (`'de'`, `"pt_BR"`, `"de,fr"`) or the value of a
    locale-named key."""
    found = {lang for m in QUOTED.finditer(text) for lang in _languages_in(m.group(2))}
    return found | {lang for m in KEYED.finditer(text) for lang in _languages_in(m.group(1))}


@dataclass(frozen=True)
class LocaleTable:
    """One directory whose entries are per-language: the data files below each locale entry."""

    directory: str
    by_entry: Mapping[str, tuple[str, ...]]  # entry name (a file's stem or a dir) -> file paths below it

    def languages(self) -> set[str]:
        return {lang for lang in map(language_of, self.by_entry) if lang}


def _form(directory: str, path: str) -> str:
    """How an entry holds its data: a file's suffix (`.dat`), or `/LC_MESSAGES/` or `/` for a directory."""
    rest = path[len(directory) + 1:]
    head, sep, _ = rest.partition("/")
    if not sep:
        return "." + head.split(".", 1)[1] if "." in head else ""
    return "/LC_MESSAGES/" if "/LC_MESSAGES/" in "/" + rest else "/"


def find_tables(paths: Iterable[str]) -> list[LocaleTable]:
    """Directories with at least MIN_LOCALES entries named like locales of known languages, most of them so, laid
    out as gettext catalogues or with regional locales among them. A table's entries are its known languages and
    those of the same form (babel's `yav.dat` beside `de.dat`); `map.json` beside `de/LC_MESSAGES/` is no locale."""
    entries: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        parts = path.split("/")
        for i in range(2, len(parts)):
            name = parts[i] if i < len(parts) - 1 else parts[i].split(".", 1)[0]
            if language_of(name) or name in ROOT_NAMES:
                entries["/".join(parts[:i])][name].append(path)
    tables = []
    for directory, by_entry in entries.items():
        known = {name for name in by_entry if language_of(name) in KNOWN_LANGUAGES}
        shaped = [name for name in by_entry if name not in ROOT_NAMES]
        gettext = any("/LC_MESSAGES/" in path for name in known for path in by_entry[name])
        regional = sum(1 for name in known if REGIONAL.match(name))
        if len(known) < MIN_LOCALES or 2 * len(known) < len(shaped) or not (gettext or regional >= MIN_REGIONAL):
            continue
        forms = {_form(directory, path) for name in known for path in by_entry[name]}
        kept = {name: tuple(by_entry[name]) for name in shaped
                if name in known or all(_form(directory, path) in forms for path in by_entry[name])}
        tables.append(LocaleTable(directory, kept))
    # the outermost table wins: `locale/de/LC_MESSAGES` is inside `locale`, never a table of its own
    tables.sort(key=lambda t: t.directory)
    outer: list[LocaleTable] = []
    for table in tables:
        if not any(table.directory.startswith(o.directory + "/") for o in outer):
            outer.append(table)
    return outer


@dataclass(frozen=True)
class LocaleChoice:
    """The languages kept and where each came from (shown in the finding)."""

    languages: frozenset[str]
    sources: tuple[str, ...]
    keep_all: bool = False
    from_code: frozenset[str] = frozenset()  # own-code literals: kept where a table has that language


def choose(env: Mapping[str, str], own_texts: Iterable[str], hinted: Iterable[str]) -> LocaleChoice:
    hinted = [h.strip() for h in hinted]
    if any(h == ALL for h in hinted):
        return LocaleChoice(frozenset(), ("--locale all",), keep_all=True)
    langs, sources = set(ALWAYS), ["en (the default)"]
    from_env = languages_of_env(env) - langs
    if from_env:
        sources.append(f"{', '.join(sorted(from_env))} (the environment)")
        langs |= from_env
    from_hints = {lang for lang in map(language_of, hinted) if lang} - langs
    if from_hints:
        sources.append(f"{', '.join(sorted(from_hints))} (--locale)")
        langs |= from_hints
    from_code = set().union(*map(languages_of_text, own_texts)) - langs
    return LocaleChoice(frozenset(same_language(langs)), tuple(sources), False, frozenset(same_language(from_code)))


def trim(graph, env: Mapping[str, str], own_texts: Iterable[str], hinted: Iterable[str],
         is_own_code: Callable[[str], bool]) -> list[Finding]:
    """Remove the kept library data of languages the image does not name; one finding for all tables."""
    choice = choose(env, own_texts, hinted)
    if choice.keep_all:
        return []
    hinted_modules = {dst for src, dst, data in graph.out_edges(ENTRY, data=True) if dst.startswith("module:")
                      and str(data.get("reason", "")).startswith(USER_REASONS)}
    files = {data["path"]: node for node, data in graph.nodes(data=True)
             if data.get("kind") == "file" and node.startswith("file:")
             and _trimmable(graph, node, data["path"], is_own_code, hinted_modules)}
    trimmed, size, left_out, named_all = [], 0, set(), set()
    for table in find_tables(files):
        named = choice.from_code & table.languages()  # a literal counts where it names a language the table has
        wanted = choice.languages | named
        doomed = [path for name, paths in table.by_entry.items() if language_of(name) not in wanted for path in paths]
        if not doomed:
            continue
        size += sum(graph.nodes[files[p]].get("size", 0) for p in doomed)
        _remove(graph, [files[p] for p in doomed])
        trimmed.append((table.directory, len(doomed)))
        left_out |= table.languages() - wanted
        named_all |= named
    if not trimmed:
        return []
    sources = list(choice.sources) + ([f"{', '.join(sorted(named_all))} (the app's own code or command line)"]
                                      if named_all else [])
    shown = ", ".join(f"{d} ({n})" for d, n in trimmed[:SHOWN]) + (
        f" and {len(trimmed) - SHOWN} more" if len(trimmed) > SHOWN else "")
    return [Finding(
        KIND, f"left out the locale data of {len(left_out)} language(s) the image does not name: "
              f"{sum(n for _, n in trimmed)} file(s), {human_bytes(size)}, in {shown}; kept: {'; '.join(sources)}; "
              "a language chosen as the app runs (a request's or a browser's) needs `--locale LANG`, `--locale all` "
              "keeps every one", INFO, trimmed[0][0])]


def _trimmable(graph, node: str, path: str, is_own_code: Callable[[str], bool], hinted_modules: set[str]) -> bool:
    """Library or system data: not code, not the app's own (outside the stdlib and site dirs, unless in a system
    tree), and kept only by a library, a hook or a program: never by the app's command line or tree, a hint, an
    observed run, or a module a hint kept (`--collect babel` keeps all of babel)."""
    if path.endswith(CODE_SUFFIXES) or (is_own_code(path) and not path.startswith(SYSTEM_TREES)):
        return False
    for src, _dst, data in graph.in_edges(node, data=True):
        if src == ENTRY or src in hinted_modules or str(data.get("reason", "")).startswith(USER_REASONS):
            return False
    return True


def _remove(graph, nodes: list[str]) -> None:
    """The files, then each directory on their way up that nothing keeps any more."""
    parents = set()
    for node in nodes:
        parents.update(dst for _src, dst, data in graph.out_edges(node, data=True)
                       if data.get("reason") == "parent-dir")
    graph.remove_nodes_from(nodes)
    while parents:
        parent = parents.pop()
        if parent in graph and graph.in_degree(parent) == 0:
            parents.update(dst for _src, dst, data in graph.out_edges(parent, data=True)
                           if data.get("reason") == "parent-dir")
            graph.remove_node(parent)


def own_texts(graph, fs, is_own_code: Callable[[str], bool], argv: Iterable[str] = ()) -> list[str]:
    """The app's command line (`--lang=fr`, `fr_FR`) and its own code and config files kept, read for locale
    literals (the first OWN_TEXT_LIMIT bytes of at most OWN_TEXT_FILES files)."""
    texts = [repr(part) for arg in argv for part in str(arg).split("=")]
    for _node, data in graph.nodes(data=True):
        path = data.get("path") or ""
        if (data.get("kind") != "file" or not path.endswith(OWN_TEXT_SUFFIXES) or not is_own_code(path)
                or path.startswith(SYSTEM_TREES)):
            continue
        try:
            with fs.open(path) as fh:
                texts.append(fh.read(OWN_TEXT_LIMIT).decode("utf-8", "replace"))
        except (OSError, ValueError):
            continue
        if len(texts) >= OWN_TEXT_FILES:
            break
    return texts
