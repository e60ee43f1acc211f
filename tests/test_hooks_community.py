"""PyInstaller hook files read as data: every idiom on small hand-written sources, the real installed hook
dirs (coverage, nothing executed), and the analysis applying them to image files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from faktory.analyzers import report
from faktory.analyzers.communityhooks import all_hook_files, community_hook, coverage, translate
from faktory.analyzers.hookread import read_hook
from faktory.analyzers.hookrules import (DataFiles, DynamicLibs, EntryPoints, Metadata, MypycModules, Submodules,
                                         SystemPath, filter_predicate)
from faktory.analyzers.hooks import overridden, parse_hooks
from tests.test_analyzers_units import STDLIB, _analyze_root, _python_files, elf_bytes  # noqa: F401 (fixture)

FAKTORY = [sys.executable, "-m", "faktory"]


def _read(source: str, module: str = "x"):
    return read_hook(textwrap.dedent(source), module)


def _values(reading, output: str) -> list:
    return [item.value for item in reading.outputs.get(output, ())]


# --- idioms --------------------------------------------------------------------------------------------
def test_literal_lists_and_their_growth():
    r = _read("""
        '''docstring'''
        hiddenimports = ['a', 'b.c']
        hiddenimports += ['d']
        hiddenimports.append('e')
        hiddenimports.extend(('f', 'g'))
        hiddenimports = hiddenimports + ['h']
        excludedimports = ['tkinter'] + ['PyQt5']
        extra = ['i']
        hiddenimports += extra
        hiddenimports += ['pkg.' + n for n in ['one', 'two'] if n != 'two']
        hiddenimports += [f"fmt.{n}" for n in ("x",)]
        hiddenimports += [*('star',)]
    """)
    assert r.status == "full", r.problems
    assert _values(r, "hiddenimports") == ["a", "b.c", "d", "e", "f", "g", "h", "i", "pkg.one", "fmt.x", "star"]
    assert _values(r, "excludedimports") == ["tkinter", "PyQt5"]
    assert [i.line for i in r.outputs["hiddenimports"]][:3] == [3, 3, 4]


def test_collectors_become_rules():
    r = _read("""
        from PyInstaller.utils.hooks import (collect_submodules, collect_data_files, collect_dynamic_libs,
                                             copy_metadata, collect_all, collect_entry_point)
        hiddenimports = collect_submodules('p.sub')
        hiddenimports += collect_submodules('q', filter=lambda name: not name.startswith('q.tests'))
        datas = collect_data_files('p', subdir='templates', includes=['**/*.html'], excludes=['old/*'])
        datas += collect_data_files('r', True)
        datas += copy_metadata('p-dist', recursive=True)
        binaries = collect_dynamic_libs('p')
        d, b, h = collect_all('s')
        datas += d; binaries += b; hiddenimports += h
        ep_datas, ep_hidden = collect_entry_point('p.plugins')
        datas += ep_datas
        hiddenimports += ep_hidden
    """)
    assert r.status == "full", r.problems
    assert _values(r, "hiddenimports") == [Submodules("p.sub"), Submodules("q", "not name.startswith('q.tests')"),
                                           Submodules("s"), EntryPoints("p.plugins")]
    assert _values(r, "datas") == [DataFiles("p", "templates", ("**/*.html",), ("old/*",), False),
                                   DataFiles("r", "", (), (), True), Metadata("p-dist", True),
                                   DataFiles("s", "", (), (), True), Metadata("s"), EntryPoints("p.plugins")]
    assert _values(r, "binaries") == [DynamicLibs("p"), DynamicLibs("s")]


def test_module_paths_filter_loops_and_mypyc():
    r = _read("""
        import os
        from PyInstaller.utils.hooks import get_module_file_attribute, collect_submodules, logger
        from _pyinstaller_hooks_contrib.utils.mypy import find_mypyc_module_for_dist
        pkg_dir = os.path.dirname(get_module_file_attribute('p'))
        datas = [(os.path.join(pkg_dir, 'data', 'words.txt'), 'p/data'), ('/etc/fonts', 'etc/fonts')]
        hiddenimports = []
        for mod in collect_submodules('sqlite3'):
            if not mod.startswith('sqlite3.test'):
                hiddenimports.append(mod)
        hiddenimports += find_mypyc_module_for_dist('black')
        logger.info('collected %s', hiddenimports)
    """)
    assert r.status == "full", r.problems
    assert _values(r, "datas") == [DataFiles("p", "data/words.txt", (), (), True), SystemPath("/etc/fonts")]
    assert _values(r, "hiddenimports") == [Submodules("sqlite3", "not name.startswith('sqlite3.test')"),
                                           MypycModules("black")]


def test_version_tests_take_both_branches_and_platform_tests_are_linux():
    r = _read("""
        import sys
        from PyInstaller.utils.hooks import is_module_satisfies, check_requirement
        from PyInstaller.compat import is_win, is_darwin, is_linux
        from PyInstaller import compat
        hiddenimports = []
        if is_module_satisfies('x >= 2'):
            hiddenimports += ['new']
        elif check_requirement('x < 1'):
            hiddenimports += ['old']
        else:
            hiddenimports += ['middle']
        if compat.is_py312 and not is_darwin:
            hiddenimports.append('py312')
        if is_win or sys.platform == 'darwin':
            hiddenimports.append('windows_only')
        if is_linux and sys.platform.startswith('linux'):
            hiddenimports.append('linux_only')
        version = compat.importlib_metadata.version('x')
        if version >= (3, 0):
            hiddenimports.append('v3')
        try:
            hiddenimports.append('tried')
        except ImportError:
            hiddenimports.append('fallback')
        if is_module_satisfies('x < 0.1'):
            raise SystemExit('unsupported')
    """)
    assert r.status == "full", r.problems
    assert _values(r, "hiddenimports") == ["new", "old", "middle", "py312", "linux_only", "v3", "tried", "fallback"]


def test_what_is_not_understood_is_recorded_with_its_line():
    r = _read("""
        from PyInstaller.utils.hooks import get_module_attribute, collect_submodules
        hiddenimports = ['kept']
        hiddenimports += get_module_attribute('x', 'plugins')
        for name in os.listdir('/somewhere'):
            hiddenimports.append(name)
        def hook(hook_api):
            hook_api.add_imports('y')
        hiddenimports += collect_submodules('z', filter=some_function)
    """)
    assert r.status == "partial"
    reasons = dict(r.problems)
    assert reasons["hiddenimports: call of get_module_attribute()"] == 4
    assert "loop over a value not known statically" in reasons or "name os" in " ".join(reasons)
    assert reasons["hook(hook_api) function (runs at build time)"] == 7
    assert reasons["hiddenimports: collect_submodules() filter not understood (all kept)"] == 9
    assert _values(r, "hiddenimports") == ["kept", Submodules("z")]  # an unknown filter keeps everything

    none = _read("from PyInstaller.utils.hooks.qt import add_qt5_dependencies\n"
                 "hiddenimports, binaries, datas = add_qt5_dependencies(__file__)\n")
    assert none.status == "none" and any("add_qt5_dependencies" in reason for reason, _ in none.problems)
    broken = _read("hiddenimports = [\n")
    assert broken.status == "none" and broken.problems[0][0].startswith("syntax error")
    assert _read("datas = [('relative/file.txt', '.')]\n").problems[0][0].startswith("datas: a path relative")


def test_filters_are_evaluated_without_eval():
    accept = filter_predicate("not name.startswith('q.tests') and name.split('.')[-1] != 'conftest'")
    assert accept("q.core") and not accept("q.tests.unit") and not accept("q.sub.conftest")
    assert filter_predicate("")("anything")
    r = _read("from PyInstaller.utils.hooks import collect_submodules\n"
              "hiddenimports = collect_submodules('q', filter=lambda n: __import__('os').system('true'))\n")
    assert r.status == "partial"  # not in the subset: the filter is dropped (everything kept), and said so


def test_nothing_in_a_hook_file_runs(tmp_path):
    marker = tmp_path / "ran"
    source = f"""
import os, subprocess
open({str(marker)!r}, 'w').write('ran')
os.system('touch {marker}')
subprocess.run(['touch', {str(marker)!r}])
hiddenimports = [__import__('os').system('touch {marker}') or 'x']
datas = [(f.write('ran'), '.') for f in [open({str(marker)!r}, 'w')]]
"""
    r = read_hook(source, "evil")
    assert not marker.exists()
    assert r.status in ("partial", "none") and r.problems


def test_translation_and_the_yaml_hook_winning_per_key():
    r = _read("""
        from PyInstaller.utils.hooks import collect_submodules, collect_data_files, collect_dynamic_libs
        hiddenimports = collect_submodules('m') + ['m.extra']
        datas = collect_data_files('m')
        binaries = collect_dynamic_libs('m')
        excludedimports = ['m.tests']
    """, "m")
    hook = translate(r, "hooks/hook-m.py (dist 1.0)")
    assert hook.hiddenimports == ("m.**", "m.extra") and hook.package_datas == (DataFiles("m"),)
    assert hook.dynamic_libs == ("m",) and hook.excludedimports == ("m.tests",)
    assert hook.where("m.extra") == "hook-m.py:3" and hook.where(DataFiles("m")) == "hook-m.py:4"
    own = tuple(parse_hooks("- module: m\n  hiddenimports: [m.only]\n  datas: []\n", "thirdparty.yaml"))
    merged = overridden(hook, own)
    assert merged.hiddenimports == () and merged.package_datas == () and merged.sysfiles == ()
    assert merged.dynamic_libs == ("m",) and merged.excludedimports == ("m.tests",)  # keys YAML does not set


# --- the installed hook dirs ---------------------------------------------------------------------------
def test_real_hook_dirs_are_mostly_understood_and_never_imported():
    files = all_hook_files()
    dists = {f.dist.lower() for f in files}
    assert dists == {"pyinstaller", "pyinstaller-hooks-contrib"} and len(files) > 900
    doc = coverage()
    total = doc["total"]
    assert total["full"] > 0.45 * len(files) and total["full"] > total["none"]
    assert sum(total.values()) == len(files)
    contrib = next(d for name, d in doc["distributions"].items() if "contrib" in name.lower())
    assert contrib["full"] > 0.6 * contrib["files"]
    pygments = community_hook("pygments")
    assert "pygments.lexers.**" in pygments.hiddenimports and pygments.where("pygments.lexers.**").startswith(
        "hook-pygments.py:")
    probe = ("import sys; from faktory.analyzers.communityhooks import coverage; coverage(); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PyInstaller', '_pyinstaller_hooks_contrib')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_stats_and_one_module():
    out = subprocess.run([*FAKTORY, "hooks", "--stats", "--json"], capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert sum(doc["total"].values()) == len(all_hook_files()) and doc["reasons"]
    text = subprocess.run([*FAKTORY, "hooks", "pygments"], capture_output=True, text=True, check=True).stdout
    assert "hook-pygments.py:" in text and "pygments.lexers.**" in text
    bad = subprocess.run([*FAKTORY, "hooks", "not a module"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    missing = subprocess.run([*FAKTORY, "hooks", "no_such_module_here"], capture_output=True, text=True)
    assert missing.returncode == 1 and "no hook" in missing.stderr


# --- evaluated against an image's files ----------------------------------------------------------------
def test_a_shipped_hook_is_evaluated_against_the_image(tmp_path, elf_bytes):  # noqa: F811
    site = f"{STDLIB}/site-packages"
    hook = textwrap.dedent("""
        from PyInstaller.utils.hooks import (collect_submodules, collect_data_files, copy_metadata,
                                             collect_dynamic_libs)
        hiddenimports = collect_submodules('fancy.plugins', filter=lambda name: 'broken' not in name)
        datas = collect_data_files('fancy', subdir='assets', excludes=['**/*.tmp'])
        datas += copy_metadata('fancy', recursive=True)
        binaries = collect_dynamic_libs('fancy')
    """)
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import fancy\n",
        f"{site}/fancy/__init__.py": "", f"{site}/fancy/_pyinstaller/__init__.py": "",
        f"{site}/fancy/_pyinstaller/hook-fancy.py": hook,
        f"{site}/fancy/plugins/__init__.py": "", f"{site}/fancy/plugins/a.py": "",
        f"{site}/fancy/plugins/deep/__init__.py": "", f"{site}/fancy/plugins/deep/b.py": "",
        f"{site}/fancy/plugins/broken.py": "",
        f"{site}/fancy/assets/sub/__init__.py": "", f"{site}/fancy/assets/sub/logo.svg": "<svg/>",
        f"{site}/fancy/assets/sub/scratch.tmp": "x",
        f"{site}/fancy/native/libhelper.so": b"\x7fELF not really",
        f"{site}/fancy-1.0.dist-info/METADATA": "Name: fancy\nRequires-Dist: dep\nRequires-Dist: opt; extra == 'x'\n",
        f"{site}/dep-2.0.dist-info/METADATA": "Name: dep\n",
        f"{site}/opt-1.0.dist-info/METADATA": "Name: opt\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    graph, paths = closure.graph, set(closure.paths())
    for module in ("fancy.plugins.a", "fancy.plugins.deep.b"):
        assert f"module:{module}" in graph, module
    assert "module:fancy.plugins.broken" not in graph
    assert f"{site}/fancy/assets/sub/logo.svg" in paths and f"{site}/fancy/assets/sub/scratch.tmp" not in paths
    assert f"{site}/dep-2.0.dist-info/METADATA" in paths and f"{site}/opt-1.0.dist-info/METADATA" not in paths
    steps = report.why(closure, f"{site}/fancy/assets/sub/logo.svg")
    assert ("hook:fancy@image", "shipped-hook") in [step[:2] for step in steps]
    assert steps[-1][1:] == ("hook:fancy", "hook-fancy.py:5")  # the hook file and the line of its `datas`


def test_a_community_hook_keeps_what_imports_do_not_say(tmp_path, elf_bytes):  # noqa: F811
    """PyInstaller's hook-pygments.py collects pygments.lexers: no import statement names the lexers."""
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import pygments\n",
        f"{site}/pygments/__init__.py": "", f"{site}/pygments/lexers/__init__.py": "",
        f"{site}/pygments/lexers/python.py": "", f"{site}/pygments/formatters/__init__.py": "",
        f"{site}/pygments/formatters/html.py": "", f"{site}/pygments/unrelated.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    assert "module:pygments.lexers.python" in closure.graph and "module:pygments.unrelated" not in closure.graph
    steps = report.why(closure, f"{site}/pygments/lexers/python.py")
    assert any(detail and detail.startswith("hook-pygments.py:") for _, _, detail in steps), steps


@pytest.mark.slow
def test_community_hooks_on_the_django_fixture(fixture_images, monkeypatch):
    """hook-django.contrib.sessions.py collects the session backends Django imports by a settings string;
    without the community hooks they are not in the closure."""
    from faktory.analyzers import analysis
    from faktory.sources import open_image

    tag = fixture_images["django"].tag
    module = "django.contrib.sessions.backends.cached_db"
    closure = analysis.analyze(open_image(tag))
    assert f"module:{module}" in closure.graph
    path = closure.graph.nodes[f"module:{module}"]["path"]
    why = subprocess.run([*FAKTORY, "analyze", tag, "--why", path], capture_output=True, text=True, check=True).stdout
    assert "hook-django.contrib.sessions.py:" in why
    from faktory.analyzers import communityhooks

    monkeypatch.setattr(communityhooks, "community_hook", lambda name: None)
    assert f"module:{module}" not in analysis.analyze(open_image(tag)).graph


def test_collect_data_files_ends_on_a_symlink_loop(tmp_path):
    """A hook's collect_data_files over an untrusted package dir holding `loop -> .` keeps each file once."""
    import os
    import signal

    from faktory.analyzers.hookapply import keep_data_files
    from tests.oracle.dirfs import DirFileSystem

    pkg = tmp_path / "site/tool"
    (pkg / "data").mkdir(parents=True)
    (pkg / "data" / "a.json").write_text("{}")
    os.symlink(".", pkg / "data" / "loop")
    fs = DirFileSystem(tmp_path)
    kept = []

    class Files:  # the part of hookapply.Keeper that keep_data_files asks, over the hand-made tree
        def find_package_dirs(self, name):
            return ("/site/tool",) if name == "tool" else None

        def is_dir(self, path):
            entry = fs.stat(path)
            return entry is not None and entry.kind == "dir"

        def listdir(self, path):
            return frozenset(fs.listdir(path))

        def realpath(self, path):
            return fs.resolve(path)

        def keep_file(self, path, src, reason, detail):
            kept.append(path)

    signal.alarm(20)
    try:
        keep_data_files(DataFiles("tool"), Files(), "module:tool", "hook", "hook-tool.py:1")
    finally:
        signal.alarm(0)
    assert kept == ["/site/tool/data/a.json"]
