"""Locale-keyed data (analyzers/localedata.py) on small hand-made graphs: which directories are per-language
tables, which languages are kept and why, what is never trimmed; the sphinx fixture shows it on a real image."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from faktory.analyzers import localedata
from faktory.analyzers.graphbuild import ENTRY, fnode
from faktory.analyzers.leangraph import LeanDiGraph
from faktory.analyzers.options import OptionError, hint

BABEL = "/site/babel/locale-data"
LANGS = ("de", "de_AT", "fr", "fr_CA", "es", "es_419", "it", "ja", "ko", "nl", "pt_BR", "sr_Cyrl_BA", "en",
         "en_GB", "en_US_POSIX")


def graph_of(files: dict[str, str], user: tuple[str, ...] = ()) -> LeanDiGraph:
    """Files kept by `module:babel` as package data (the ones in `user` by the app itself), with parent dirs."""
    graph = LeanDiGraph()
    graph.add_node(ENTRY, kind="entrypoint")
    graph.add_node("module:babel", kind="module")
    graph.add_edge(ENTRY, "module:babel", reason="imports")
    for path, kind in files.items():
        graph.add_node(fnode(path), path=path, size=1000 if kind == "file" else 0, kind=kind, magic="")
    for path in files:
        parent = path.rsplit("/", 1)[0]
        if parent in files:
            graph.add_edge(fnode(path), fnode(parent), reason="parent-dir")
        if files[path] == "file":
            src = ENTRY if path in user else "module:babel"
            graph.add_edge(src, fnode(path), reason="app-root" if path in user else "package-data")
    return graph


def babel_files() -> dict[str, str]:
    files = {"/site": "dir", "/site/babel": "dir", BABEL: "dir", "/site/babel/global.dat": "file",
             f"{BABEL}/root.dat": "file", f"{BABEL}/LICENSE.unicode": "file"}
    files.update({f"{BABEL}/{name}.dat": "file" for name in LANGS})
    return files


def library(path: str) -> bool:
    """Places.is_own_code for these graphs: /site is the site dir, anything else the app's own."""
    return not path.startswith("/site/")


def trim(graph, env=None, texts=(), hinted=()):
    return localedata.trim(graph, env or {}, list(texts), list(hinted), library)


def kept(graph) -> set[str]:
    return {d["path"].rsplit("/", 1)[1] for _, d in graph.nodes(data=True) if d.get("path", "").startswith(BABEL + "/")}


def test_languages_of_names_env_and_text():
    assert localedata.language_of("de_DE.dat") == "de"
    assert localedata.language_of("pt-br") == "pt"
    assert localedata.language_of("sr@latin") == "sr"
    assert localedata.language_of("global") is None and localedata.language_of("LC_MESSAGES") is None
    assert localedata.languages_of_env({"LANG": "de_DE.UTF-8", "LANGUAGE": "fr:nl", "LC_ALL": ""}) == {"de", "fr",
                                                                                                        "nl"}
    text = "language = 'ja'\nLANGUAGE_CODE = \"pt-br\"\nname = 'hello'\n"
    assert localedata.languages_of_text(text) == {"ja", "pt"}
    assert localedata.languages_of_text("locale: ko\n") == {"ko"}
    texts = localedata.own_texts(LeanDiGraph(), None, lambda path: True, ["app.py", "--lang=fr_CA", "ja"])
    assert set().union(*map(localedata.languages_of_text, texts)) >= {"fr", "ja"}


def test_a_table_keeps_english_root_the_environment_and_own_literals():
    graph = graph_of(babel_files())
    found = trim(graph, {"LANG": "fr_FR.UTF-8"}, ["conf = {'language': 'ja'}"])
    assert kept(graph) == {"root.dat", "LICENSE.unicode", "en.dat", "en_GB.dat", "en_US_POSIX.dat", "fr.dat",
                           "fr_CA.dat", "ja.dat"}
    assert fnode("/site/babel/global.dat") in graph
    [finding] = found
    assert finding.kind == localedata.KIND and finding.severity == "info"
    assert f"the locale data of 7 language(s) the image does not name: 9 file(s), 8.8 KiB, in {BABEL} (9)" \
        in finding.message
    assert "fr (the environment)" in finding.message and "ja (the app's own code or command line)" in finding.message
    assert "--locale all" in finding.message


def test_locale_hints_add_languages_or_keep_all():
    graph = graph_of(babel_files())
    trim(graph, hinted=["ko", "sr_Latn"])
    assert {"ko.dat", "sr_Cyrl_BA.dat", "de.dat"} & kept(graph) == {"ko.dat", "sr_Cyrl_BA.dat"}
    graph = graph_of(babel_files())
    assert trim(graph, hinted=["all"]) == []
    assert len(kept(graph)) == len(LANGS) + 2


def test_gettext_trees_drop_whole_language_dirs_and_their_empty_dirs():
    files = {"/site": "dir", "/site/sphinx": "dir", "/site/sphinx/locale": "dir",
             "/site/sphinx/locale/__init__.py": "file"}
    for lang in LANGS:
        files[f"/site/sphinx/locale/{lang}"] = "dir"
        files[f"/site/sphinx/locale/{lang}/LC_MESSAGES"] = "dir"
        files[f"/site/sphinx/locale/{lang}/LC_MESSAGES/sphinx.mo"] = "file"
    graph = graph_of(files)
    trim(graph, {"LANG": "C.UTF-8"})
    left = {d["path"] for _, d in graph.nodes(data=True) if d.get("path")}
    assert "/site/sphinx/locale/de/LC_MESSAGES/sphinx.mo" not in left
    assert "/site/sphinx/locale/de" not in left  # nothing keeps the emptied dir
    assert "/site/sphinx/locale/en_GB/LC_MESSAGES/sphinx.mo" in left
    assert "/site/sphinx/locale/__init__.py" in left


def test_the_apps_own_files_hinted_ones_and_small_dirs_are_never_trimmed():
    # a Flask-Babel app's own catalogues, kept with its tree (an edge from its dir, as appfiles keeps them)
    own = {"/app": "dir", "/app/translations": "dir"}
    for lang in LANGS:
        own[f"/app/translations/{lang}"] = "dir"
        own[f"/app/translations/{lang}/LC_MESSAGES"] = "dir"
        own[f"/app/translations/{lang}/LC_MESSAGES/messages.mo"] = "file"
    graph = graph_of(own)
    for path in own:
        if own[path] == "file":
            graph.remove_edge("module:babel", fnode(path))
            graph.add_edge(fnode("/app"), fnode(path), reason="app-root")
    assert trim(graph) == [] and fnode("/app/translations/de/LC_MESSAGES/messages.mo") in graph
    files = babel_files()
    graph = graph_of(files, user=tuple(p for p in files if p.endswith("de.dat")))
    trim(graph)
    assert "de.dat" in kept(graph) and "fr.dat" not in kept(graph)
    graph = graph_of(babel_files())  # `--collect babel`: the module a hint kept keeps all its data
    graph.add_edge(ENTRY, "module:babel", reason="hint:--collect")
    assert trim(graph) == [] and "fr.dat" in kept(graph)
    few = {"/site": "dir", "/site/lib": "dir", **{f"/site/lib/{n}.txt": "file" for n in ("de", "fr", "it")}}
    graph = graph_of(few)
    assert trim(graph) == [] and fnode("/site/lib/de.txt") in graph


def test_codes_a_language_also_goes_by_and_framework_settings():
    files = babel_files()
    files.update({f"{BABEL}/{name}.dat": "file" for name in ("he", "iw", "nb", "no", "nn", "yav", "agq")})
    graph = graph_of(files)
    trim(graph, {"LANG": "iw_IL.UTF-8", "BABEL_DEFAULT_LOCALE": "nb_NO", "PATH": "/usr/bin"})
    assert {"he.dat", "iw.dat", "nb.dat", "no.dat", "nn.dat"} <= kept(graph)
    assert not {"yav.dat", "agq.dat", "fr.dat"} & kept(graph)  # unknown languages of the table's form go too
    graph = graph_of(babel_files())
    trim(graph, texts=['LANGUAGES = "de,fr"', "locale: it\n"], hinted=[])
    assert {"de.dat", "fr.dat", "it.dat"} <= kept(graph) and "ja.dat" not in kept(graph)


def test_entries_of_another_form_stay_in_a_gettext_table():
    files = {"/site": "dir", "/site/pkg": "dir", "/site/pkg/locale": "dir", "/site/pkg/locale/map.json": "file",
             "/site/pkg/locale/src": "dir", "/site/pkg/locale/src/x.txt": "file"}
    for lang in LANGS:
        files[f"/site/pkg/locale/{lang}"] = "dir"
        files[f"/site/pkg/locale/{lang}/LC_MESSAGES"] = "dir"
        files[f"/site/pkg/locale/{lang}/LC_MESSAGES/pkg.mo"] = "file"
    graph = graph_of(files)
    [finding] = trim(graph)
    assert fnode("/site/pkg/locale/map.json") in graph and fnode("/site/pkg/locale/src/x.txt") in graph
    assert "of 9 language(s)" in finding.message and "12 file(s)" in finding.message


def test_locale_literals_are_read_in_linear_time():
    text = "\n" * 200_000 + "x"
    assert localedata.languages_of_text(text) == set()  # was quadratic: minutes at this size


def test_names_that_only_look_like_locales_are_no_table():
    files = {"/site": "dir", "/site/web": "dir",
             **{f"/site/web/{n}.js": "file" for n in ("app", "lib", "src", "css", "img", "api", "vue", "map", "bin")}}
    graph = graph_of(files)
    assert trim(graph) == []
    # flags named by country code: most are language codes too, but no name has a region part
    flags = {"/site": "dir", "/site/flags": "dir", **{f"/site/flags/{n}.png": "file" for n in (
        "de", "fr", "it", "es", "nl", "pt", "ar", "be", "bg", "ca", "gb-eng", "gb-sct")}}
    graph = graph_of(flags)
    assert trim(graph) == [] and fnode("/site/flags/de.png") in graph


@pytest.mark.parametrize("value", ["de", "pt_BR", "sr@latin", "all"])
def test_locale_hint_values(value):
    assert hint("locale", value, "hint:--locale").value == value


def test_a_malformed_locale_hint_is_an_option_error():
    with pytest.raises(OptionError, match="--locale: wants a language"):
        hint("locale", "German!", "hint:--locale")


SPHINX_BABEL = "/usr/local/lib/python3.12/site-packages/babel/locale-data"


def analyze_json(ref: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "faktory", "analyze", ref, "--json", *args], capture_output=True,
                            text=True, timeout=900, env={**os.environ, "COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sphinx_keeps_the_language_its_conf_names_and_the_hinted_ones(fixture_images):
    """The sphinx fixture builds German docs (`language = 'de'` in /docs/conf.py): babel's and Sphinx's German data
    stay, French goes with a finding; `--locale fr` keeps French, `--locale all` everything."""
    ref = fixture_images["sphinx"].tag
    report = analyze_json(ref)
    files = {f["path"] for f in report["files"]}
    assert {f"{SPHINX_BABEL}/de.dat", f"{SPHINX_BABEL}/de_CH.dat", f"{SPHINX_BABEL}/root.dat",
            f"{SPHINX_BABEL}/en.dat"} <= files
    assert f"{SPHINX_BABEL}/fr.dat" not in files
    assert any(p.startswith("/usr/local/lib/python3.12/site-packages/sphinx/locale/de/LC_MESSAGES/") for p in files)
    [finding] = [f for f in report["findings"] if f["kind"] == localedata.KIND]
    assert "de (the app's own code or command line)" in finding["message"] and SPHINX_BABEL in finding["message"]
    hinted = {f["path"] for f in analyze_json(ref, "--locale", "fr")["files"]}
    assert f"{SPHINX_BABEL}/fr.dat" in hinted and f"{SPHINX_BABEL}/it.dat" not in hinted
    every = analyze_json(ref, "--locale", "all")
    assert f"{SPHINX_BABEL}/it.dat" in {f["path"] for f in every["files"]}
    assert not [f for f in every["findings"] if f["kind"] == localedata.KIND]
