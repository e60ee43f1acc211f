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

import locale
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

from faktory.analyzers.graphbuild import ENTRY
from faktory.analyzers.model import INFO, Finding
from faktory.units import human_bytes

KIND = "locale-data-trimmed"
ALL = "all"
ALWAYS = frozenset({"en"})  # every i18n library's default, and what C/POSIX means to babel (en_US_POSIX)
ROOT_NAMES = frozenset({"root"})  # babel's root locale: every locale's last parent
# a locale identifier: language, then script/region/variant parts (de_DE, sr_Cyrl_BA, es_419, pt-br, sr@latin)
LOCALE_NAME = re.compile(r"^([a-z]{2,3})(?:[_-][A-Za-z0-9]{1,8})*(?:@[A-Za-z0-9]+)?$")
# the language codes the C library knows (the host interpreter's table, not the image's code)
KNOWN_LANGUAGES = frozenset(m.group(1) for m in (re.match(r"^([a-z]{2,3})(?:[_.@]|$)", key)
                                                   for key in locale.locale_alias) if m)
MIN_LOCALES = 8  # a directory with fewer locale-named entries is not a per-language table
# what tells locales from other two-letter names (a set of flags named by country code: de.png, fr.png): a
# gettext tree (`<lang>/LC_MESSAGES/`), or entries with a region or script part as locales have (de_DE, es_419,
# zh_Hant)
MIN_REGIONAL = 3
REGIONAL = re.compile(r"^[a-z]{2,3}[_-](?:[A-Z]{2}|\d{3}|[A-Z][a-z]{3})(?:[_-]|@|$)")
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "LC_CTYPE", "LC_TIME", "LC_NUMERIC", "LC_MONETARY",
            "LC_COLLATE")
# quoted locale literals, and unquoted values of a locale-named key (`language: de` in YAML)
QUOTED = re.compile(r"""(['"])([a-z]{2,3}(?:[_-][A-Za-z0-9]{1,8})*(?:@[A-Za-z0-9]+)?)\1""")
KEYED = re.compile(r"(?im)^\s*[\w.-]*(?:lang|language|locale|languages|locales)\w*\s*[:=]\s*([a-z]{2,3}"
                   r"(?:[_-][A-Za-z0-9]{1,8})*)\s*$")
SHOWN = 4  # directories named in the finding
OWN_TEXT_SUFFIXES = (".py", ".cfg", ".ini", ".toml", ".yaml", ".yml", ".json", ".conf", ".env")
OWN_TEXT_LIMIT = 256 * 1024
OWN_TEXT_FILES = 2000
KEPT_BY_USER = ("hint:", "label:", "rule:", "observed")
CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")
SYSTEM_TREES = ("/usr/lib/", "/usr/share/", "/usr/libexec/", "/usr/local/lib/", "/lib/", "/lib64/")


def language_of(name: str) -> str | None:
    """`de_DE.dat` -> de, `pt-br` -> pt, `sr@latin` -> sr; None for what is not shaped like a locale."""
    match = LOCALE_NAME.match(name.split(".", 1)[0])
    return match.group(1).lower() if match else None


def languages_of_env(env: Mapping[str, str]) -> set[str]:
    """The languages the launch environment sets: `LANG=de_DE.UTF-8` -> de, `LANGUAGE=fr:de` -> fr, de."""
    found = set()
    for var in ENV_VARS:
        for value in str(env.get(var, "")).split(":"):
            lang = language_of(value.strip())
            if lang:
                found.add(lang)
    return found


def languages_of_text(text: str) -> set[str]:
    """Locale literals of own code or config: quoted (`'de'`, `"pt_BR"`) or the value of a locale-named key."""
    found = {language_of(m.group(2)) for m in QUOTED.finditer(text)}
    found |= {language_of(m.group(1)) for m in KEYED.finditer(text)}
    return {lang for lang in found if lang}


@dataclass(frozen=True)
class LocaleTable:
    """One directory whose entries are per-language: the data files below each locale-named entry."""

    directory: str
    by_entry: Mapping[str, tuple[str, ...]]  # entry name (a file's stem or a dir) -> file paths below it

    def languages(self) -> set[str]:
        return {lang for lang in map(language_of, self.by_entry) if lang}


def find_tables(paths: Iterable[str]) -> list[LocaleTable]:
    """Directories with at least MIN_LOCALES entries named like locales of known languages, most of them so, laid
    out as gettext catalogues or with regional locales among them."""
    entries: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        parts = path.split("/")
        for i in range(2, len(parts)):
            name = parts[i] if i < len(parts) - 1 else parts[i].split(".", 1)[0]
            if language_of(name) or name in ROOT_NAMES:
                entries["/".join(parts[:i])][name].append(path)
    tables = []
    for directory, by_entry in entries.items():
        langs = [language_of(name) for name in by_entry if name not in ROOT_NAMES]
        known = sum(1 for lang in langs if lang in KNOWN_LANGUAGES)
        gettext = any("/LC_MESSAGES/" in path for paths in by_entry.values() for path in paths)
        regional = sum(1 for name in by_entry if REGIONAL.match(name))
        if known >= MIN_LOCALES and 2 * known >= len(langs) and (gettext or regional >= MIN_REGIONAL):
            tables.append(LocaleTable(directory, {k: tuple(v) for k, v in by_entry.items()}))
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
    from_code: set[str] = set()
    for text in own_texts:
        from_code |= languages_of_text(text)
    from_code -= langs
    from_hints = {lang for lang in map(language_of, hinted) if lang} - langs
    if from_hints:
        sources.append(f"{', '.join(sorted(from_hints))} (--locale)")
        langs |= from_hints
    return LocaleChoice(frozenset(langs), tuple(sources), False, frozenset(from_code))


def trim(graph, env: Mapping[str, str], own_texts: Iterable[str], hinted: Iterable[str]) -> list[Finding]:
    """Remove the kept library data of languages the image does not name; one finding per table trimmed."""
    choice = choose(env, own_texts, hinted)
    if choice.keep_all:
        return []
    files = {data["path"]: node for node, data in graph.nodes(data=True)
             if data.get("kind") == "file" and node.startswith("file:") and _trimmable(graph, node, data["path"])}
    trimmed, size, left_out, named_all = [], 0, set(), set()
    for table in find_tables(files):
        named = choice.from_code & table.languages()  # a literal counts where it names a language the table has
        wanted = choice.languages | named
        doomed = [path for name, paths in table.by_entry.items() if name not in ROOT_NAMES
                  and language_of(name) not in wanted for path in paths]
        if not doomed:
            continue
        size += sum(graph.nodes[files[p]].get("size", 0) for p in doomed)
        _remove(graph, [files[p] for p in doomed])
        trimmed.append((table.directory, len(doomed)))
        left_out |= table.languages() - wanted
        named_all |= named
    if not trimmed:
        return []
    sources = list(choice.sources) + ([f"{', '.join(sorted(named_all))} (the app's own code or command line)"] if named_all else [])
    shown = ", ".join(f"{d} ({n})" for d, n in trimmed[:SHOWN]) + (
        f" and {len(trimmed) - SHOWN} more" if len(trimmed) > SHOWN else "")
    files_out = sum(n for _, n in trimmed)
    return [Finding(
        KIND, f"left out the locale data of {len(left_out)} language(s) the image does not name: {files_out} file(s),"
              f" {human_bytes(size)}, in {shown}; kept: {'; '.join(sources)}; `--locale LANG` keeps one more "
              "language, `--locale all` every one", INFO, trimmed[0][0])]


def _trimmable(graph, node: str, path: str) -> bool:
    """Library or system data: not code, and kept only by a library, a hook or a program, never by the app's
    own tree, an argument, a hint or an observed run."""
    if path.endswith(CODE_SUFFIXES):
        return False
    for src, _dst, data in graph.in_edges(node, data=True):
        reason = str(data.get("reason", ""))
        if src == ENTRY or reason.startswith(KEPT_BY_USER):
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


def own_texts(graph, fs, is_own_code, argv: Iterable[str] = ()) -> list[str]:
    """The app's command line (`--lang=fr`, `fr_FR`) and its own code and config files kept, read for locale
    literals (bounded in size and number)."""
    texts = [repr(part) for arg in argv for part in str(arg).split("=")]
    for _node, data in graph.nodes(data=True):
        path = data.get("path") or ""
        if (data.get("kind") != "file" or not path.endswith(OWN_TEXT_SUFFIXES) or not is_own_code(path)
                or path.startswith(SYSTEM_TREES) or data.get("size", 0) > OWN_TEXT_LIMIT):
            continue
        try:
            texts.append(fs.read_bytes(path).decode("utf-8", "replace"))
        except (OSError, ValueError):
            continue
        if len(texts) >= OWN_TEXT_FILES:
            break
    return texts
