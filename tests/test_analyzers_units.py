"""Pure-Python checks of the analyzer parts on small hand-made trees (real files, real ELF, no mocks)."""

from __future__ import annotations

import ast
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from faktory.analyzers.elf import expand_origin, ld_so_conf_dirs, parse_elf
from faktory.analyzers.entrypoint import EntrypointResolver, UnsupportedEntrypoint, parse_python_argv
from faktory.analyzers.finder import Finder
from faktory.analyzers.graphbuild import ENTRY, GraphBuilder, fnode
from faktory.analyzers.hooks import hook_table, parse_hooks
from faktory.analyzers.imports import scan_source, static_truth
from faktory.analyzers.sysfiles import _locale_dirname
from tests.oracle.dirfs import DirFileSystem

HOST_PYTHON = Path("/root/.pyenv/versions/3.12.1/bin/python3.12")
ABI = "cpython-312-x86_64-linux-gnu"


def _tree(root: Path, files: dict[str, str | bytes | tuple[str]]) -> DirFileSystem:
    """files: path -> text | bytes | ("->", target) for a symlink."""
    for path, content in files.items():
        host = root / path.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            os.symlink(content[1], host)
        elif isinstance(content, bytes):
            host.write_bytes(content)
            host.chmod(0o755)
        elif path.endswith("/"):
            host.mkdir(parents=True, exist_ok=True)
        else:
            host.write_text(content)
    return DirFileSystem(root)


@pytest.fixture
def elf_bytes() -> bytes:
    if not HOST_PYTHON.exists():
        pytest.fail(f"{HOST_PYTHON} (a real CPython ELF) is part of the build environment")
    return HOST_PYTHON.read_bytes()

STDLIB = "/usr/local/lib/python3.12"


def _python_files(elf_bytes: bytes, **files) -> dict:
    """A minimal python:3.12-slim-like root: a real ELF interpreter and loader, a stub stdlib, plus `files`."""
    return {
        "/usr/local/bin/python3.12": elf_bytes, "/usr/local/bin/python3": ("->", "python3.12"),
        "/lib64/ld-linux-x86-64.so.2": Path("/lib64/ld-linux-x86-64.so.2").read_bytes(),
        "/lib/x86_64-linux-gnu/libc.so.6": Path("/lib/x86_64-linux-gnu/libc.so.6").read_bytes(),
        f"{STDLIB}/lib-dynload/": "", f"{STDLIB}/os.py": "", f"{STDLIB}/site.py": "", f"{STDLIB}/runpy.py": "",
        f"{STDLIB}/encodings/__init__.py": "", f"{STDLIB}/importlib/__init__.py": "", **files,
    }


def _analyze_root(root: Path, files: dict, cmd, env=("PATH=/usr/local/bin:/usr/bin:/bin",), workdir="/app"):
    from faktory.analyzers.analysis import analyze
    from faktory.image import ImageConfig
    from tests.oracle.dirimage import DirImage

    return analyze(DirImage(_tree(root, files), ImageConfig(env=tuple(env), cmd=tuple(cmd), working_dir=workdir)))



# --- python command line ------------------------------------------------------------------------------

def test_python_argv_forms():
    assert parse_python_argv(["-u", "app.py", "--once"]).script == "app.py"
    cmd = parse_python_argv(["-uB", "-X", "utf8", "-m", "pkg.cli", "run"])
    assert (cmd.module, cmd.flags, cmd.xoptions, cmd.args) == ("pkg.cli", ("-u", "-B"), ("utf8",), ("run",))
    cmd = parse_python_argv(["-I", "-c", "import json", "x"])
    assert (cmd.command, cmd.flags, cmd.args) == ("import json", ("-I",), ("x",))
    assert parse_python_argv(["-Wignore", "-mhttp.server"]).module == "http.server"


# --- entrypoint -------------------------------------------------------------------------------------------

def _resolver(fs, argv, env=None, workdir="/"):
    return EntrypointResolver(GraphBuilder(fs), tuple(argv), env or {"PATH": "/usr/local/bin:/usr/bin:/bin"}, workdir)


def test_shell_form_cd_env_and_exec(tmp_path, elf_bytes):
    fs = _tree(tmp_path, {"/usr/local/bin/python3.12": elf_bytes, "/usr/local/bin/python3": ("->", "python3.12"),
                          "/bin/sh": elf_bytes, "/app/main.py": "print(1)\n"})
    got = _resolver(fs, ["/bin/sh", "-c", "cd /app && FOO=1 exec python3 -u main.py --port $PORT"],
                    {"PATH": "/usr/local/bin:/bin", "PORT": "9000"}).resolve()
    assert got.interpreter == "/usr/local/bin/python3"
    assert got.python.script == "main.py" and got.python.args == ("--port", "9000") and got.python.flags == ("-u",)
    assert got.workdir == "/app" and got.env["FOO"] == "1" and got.skipped == ()
    chain = _resolver(fs, ["/bin/sh", "-c", "python3 manage.py migrate --noinput && echo ok; python3 main.py"],
                      {"PATH": "/usr/local/bin:/bin"}).resolve()
    assert chain.python.script == "main.py" and chain.skipped == ("python3 manage.py migrate --noinput",)
    # `2>&1` says where an fd goes; its `&` ends no command
    merged = _resolver(fs, ["/bin/sh", "-c", "python3 seed.py 2>&1; python3 main.py >&2"],
                       {"PATH": "/usr/local/bin:/bin"}).resolve()
    assert merged.python.script == "main.py" and merged.skipped == ("python3 seed.py",)


def test_a_shell_chain_is_a_finding(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{"/app/main.py": "", "/bin/sh": elf_bytes})
    closure = _analyze_root(tmp_path / "root", files, ("/bin/sh", "-c", "python3 seed.py && exec python3 main.py"))
    assert [f.kind for f in closure.findings if "seed.py" in f.message] == ["shell-chain"]


def test_the_commands_of_a_shell_chain_keep_what_they_need(tmp_path, elf_bytes):
    # a target keeping the shell runs every command of `migrate && exec app`, not only the app
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "", "/app/seed.py": "import seedlib\n", "/bin/sh": elf_bytes,
        "/bin/mkdir": Path("/usr/bin/mkdir").read_bytes(),  # an ELF that is not Python
        f"{site}/seedlib.py": "import textwrap\n", f"{STDLIB}/textwrap.py": "", "/usr/local/bin/migrate": (
            "#!/usr/local/bin/python3\nfrom migratekit import main\nmain()\n"),
        f"{site}/migratekit.py": "", f"{site}/unrelated.py": "",
    })
    cmd = ("/bin/sh", "-c", "mkdir -p /data && python3 seed.py --rows 3 && migrate up; exec python3 main.py")
    closure = _analyze_root(tmp_path / "root", files, cmd)
    kept = {n[len("module:"):] for n in closure.graph if n.startswith("module:")}
    assert {"seedlib", "textwrap", "migratekit"} <= kept and "unrelated" not in kept
    assert {"/bin/mkdir", "/app/seed.py", "/usr/local/bin/migrate"} <= set(closure.paths())
    chain = [f.message for f in closure.findings if f.kind == "shell-chain"]
    assert len(chain) == 3 and all("its needs are kept" in m for m in chain)
    # Every command was followed: a Linux VM runs the image's own command line, as the container does.
    assert closure.launch.shell_argv == cmd and all("oci and microvm run it" in m for m in chain)


def test_the_app_of_a_shell_chain_is_its_last_python_command(tmp_path, elf_bytes):
    # `app lint; app fix; cat out`: the chain ends in a program that is not Python, the app comes before it
    files = _python_files(elf_bytes, **{"/app/main.py": "import applib\n", "/bin/sh": elf_bytes,
                                        "/bin/cat": Path("/usr/bin/cat").read_bytes(),
                                        f"{STDLIB}/site-packages/applib.py": ""})
    cmd = ("/bin/sh", "-c", "python3 main.py lint; cd /app && python3 main.py fix out.txt; cat out.txt")
    got = _resolver(_tree(tmp_path / "r", files), cmd).resolve()
    assert got.python.script == "main.py" and got.python.args == ("fix", "out.txt") and got.workdir == "/app"
    assert got.skipped == ("python3 main.py lint", "cat out.txt")
    closure = _analyze_root(tmp_path / "root", files, cmd)
    assert "module:applib" in closure.graph and "/bin/cat" in set(closure.paths())
    assert closure.launch.shell_argv == cmd  # the VM runs the whole line, as the container does
    assert len([f for f in closure.findings if f.kind == "shell-chain"]) == 2


def test_subshell_and_group_commands_of_a_shell_chain_are_commands_of_their_own(tmp_path, elf_bytes):
    # `(tool bad.json; echo exit=$?)`: the parenthesis is the shell's, not part of the program's name
    files = _python_files(elf_bytes, **{"/app/main.py": "", "/bin/sh": elf_bytes})
    cmd = ("/bin/sh", "-c", "python3 main.py a && (python3 main.py b; echo exit=$?); { python3 main.py c; }")
    got = _resolver(_tree(tmp_path / "r", files), cmd).resolve()
    assert got.python.script == "main.py" and got.python.args == ("c",)
    assert got.skipped == ("python3 main.py a", "python3 main.py b")


def test_a_chain_with_a_command_not_followed_starts_the_app_alone(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{"/app/main.py": "", "/app/seed.py": "", "/bin/sh": elf_bytes})
    closure = _analyze_root(tmp_path / "root", files, ("/bin/sh", "-c", "python3 gone.py && exec python3 main.py"))
    assert closure.launch.shell_argv == ()  # gone.py is not in the image: the analysis did not follow it
    assert closure.launch.argv[-1] == "/app/main.py"
    plain = _analyze_root(tmp_path / "plain", files, ("/bin/sh", "-c", "cd /app && exec python3 main.py"))
    assert plain.launch.shell_argv == ()  # nothing runs before the app: the VM starts it directly


def test_console_script_and_env_shebang(tmp_path, elf_bytes):
    fs = _tree(tmp_path, {
        "/usr/local/bin/python3.12": elf_bytes, "/usr/local/bin/python3": ("->", "python3.12"),
        "/usr/local/bin/uvicorn": "#!/usr/local/bin/python3.12\nfrom uvicorn.main import main\nmain()\n",
        "/usr/local/bin/tool": "#!/usr/bin/env python3\nimport tool\n",
        "/usr/bin/env": elf_bytes,
    })
    got = _resolver(fs, ["uvicorn", "main:app"]).resolve()
    assert got.interpreter == "/usr/local/bin/python3.12"
    assert got.python.script == "/usr/local/bin/uvicorn" and got.python.args == ("main:app",)
    assert ("/usr/local/bin/uvicorn", "shebang-script") in got.hops
    got = _resolver(fs, ["tool", "x"]).resolve()
    assert got.interpreter == "/usr/local/bin/python3" and got.python.script == "/usr/local/bin/tool"


def test_wrapper_script_and_init_shim(tmp_path, elf_bytes):
    fs = _tree(tmp_path, {
        "/usr/bin/python3": elf_bytes, "/usr/bin/tini": elf_bytes,
        "/docker-entrypoint.sh": '#!/bin/sh\nset -e\nexport MODE=prod\nexec python3 -m app "$@"\n',
    })
    got = _resolver(fs, ["tini", "--", "/docker-entrypoint.sh", "serve"]).resolve()
    assert got.python.module == "app" and got.python.args == ("serve",)
    assert [reason for _, reason in got.hops] == ["init-shim", "wrapper-script"]


def test_a_privilege_drop_runs_the_app_as_its_user(tmp_path, elf_bytes):
    """`exec gosu app "$@"` at the end of an entrypoint script: the app is what gosu runs, as gosu's user."""
    fs = _tree(tmp_path, {
        "/usr/bin/python3": elf_bytes, "/usr/bin/gosu": elf_bytes, "/bin/su-exec": elf_bytes,
        "/docker-entrypoint.sh": '#!/bin/sh\nset -e\nchown -R app /data\nexec gosu app "$@"\n',
    })
    got = _resolver(fs, ["/docker-entrypoint.sh", "python3", "-m", "worker"]).resolve()
    assert got.python.module == "worker" and got.user == "app"
    assert [reason for _, reason in got.hops] == ["wrapper-script", "user-shim"]
    got = _resolver(fs, ["su-exec", "1000:1000", "python3", "serve.py"]).resolve()
    assert got.python.script == "serve.py" and got.user == "1000:1000"


def test_wrapper_script_exports_reach_the_launch_and_its_shell_is_kept(tmp_path, elf_bytes):
    fs = _tree(tmp_path, {
        "/usr/bin/python3": elf_bytes, "/usr/bin/dash": elf_bytes, "/bin": ("->", "usr/bin"),
        "/usr/bin/sh": ("->", "dash"),
        "/entry.sh": ('#!/bin/sh\nset -e\nexport PYTHONPATH=/opt/app\nAPP_HOME=/opt\nexport APP_HOME\n'
                      'export LEVEL="${LEVEL:-info}" PATH="$PATH:/opt/bin"\n'
                      'if [ -n "$DEBUG" ]; then\n    export PYTHONPATH=/nope\nfi\nexec "$@"\n'),
    })
    got = _resolver(fs, ["/entry.sh", "python3", "-m", "reporter"]).resolve()
    assert got.python.module == "reporter"
    assert (got.env["PYTHONPATH"], got.env["APP_HOME"], got.env["LEVEL"]) == ("/opt/app", "/opt", "info")
    assert got.env["PATH"].endswith(":/opt/bin")
    assert [(path, reason) for path, reason in got.hops] == [("/entry.sh", "wrapper-script"),
                                                             ("/bin/sh", "wrapper-shell")]


def test_missing_main_module_blocks_every_target_and_argument_files_are_kept(tmp_path, elf_bytes):
    from faktory.emitters.convert import REGISTRY, blockers, check

    files = _python_files(elf_bytes, **{"/etc/tool/config.yaml": "a: 1\n", "/srv/rules.txt": "x\n",
                                         "/srv/tool/__init__.py": "", "/srv/tool/__main__.py": ""})
    argv = ("python3", "-m", "tool", "--config", "/etc/tool/config.yaml", "--rules=rules.txt")
    closure = _analyze_root(tmp_path / "ok", files, argv, workdir="/srv")
    assert {"/etc/tool/config.yaml", "/srv/rules.txt"} <= set(closure.paths())
    assert not any(f.kind == "unresolved-entrypoint" for f in closure.findings)
    missing = ("python3", "-m", "absent", "--config", "/etc/tool/config.yaml")
    closure = _analyze_root(tmp_path / "bad", files, missing, workdir="/srv")
    assert [f.kind for f in closure.findings if "absent" in f.message] == ["unresolved-entrypoint"]
    for target in REGISTRY:
        assert any(f.kind == "unresolved-entrypoint" for f in blockers(check(closure, target))), target


def test_not_python_and_missing_program(tmp_path, elf_bytes):
    fs = _tree(tmp_path, {"/usr/bin/nginx": Path("/bin/ls").read_bytes()})  # an ELF that is not python
    with pytest.raises(UnsupportedEntrypoint, match="not a Python interpreter"):
        _resolver(fs, ["nginx"]).resolve()
    with pytest.raises(UnsupportedEntrypoint, match="not in the image"):
        _resolver(fs, ["gunicorn"]).resolve()
    with pytest.raises(UnsupportedEntrypoint, match="neither Entrypoint nor Cmd"):
        _resolver(fs, []).resolve()


# --- imports ----------------------------------------------------------------------------------------------

SOURCE = b'''
import os, sys
from typing import TYPE_CHECKING
import importlib
if TYPE_CHECKING:
    import typing_only
try:
    import ujson as json
except ImportError:
    import json
WIN = sys.platform.startswith("win")
if WIN:
    import winreg
if os.name == "nt":
    import nt_only
else:
    import posix_only
from . import sibling
from ..pkg import thing
def lazy():
    import inside_function
    importlib.import_module("plugins.csv")
    __import__("dunder_target")
    from importlib import resources
    resources.files("mypkg.data")
import ctypes, ctypes.util
libm = ctypes.CDLL("libm.so.6")
ctypes.cdll.LoadLibrary(ctypes.util.find_library("z"))
ctypes.util.find_library("ssl")
import subprocess as sp
sp.run(["ls"])
os.fork()
open("/var/log/app.log", "a")
open("/tmp/ok", "w")
if __name__ == "__main__":
    import only_as_script
'''


def test_import_scan_semantics():
    scan = scan_source(SOURCE)
    by_name = {(r.module, r.level): r for r in scan.imports}
    names = {m for m, _ in by_name}
    assert {"os", "sys", "importlib", "ujson", "json", "posix_only", "inside_function", "plugins.csv",
            "dunder_target", "mypkg.data", "ctypes", "subprocess"} <= names
    assert not names & {"typing_only", "winreg", "nt_only", "only_as_script"}
    assert by_name[("ujson", 0)].optional and not by_name[("os", 0)].optional
    assert by_name[("json", 0)].fallback_for == (("ujson", 0, ()),)
    assert by_name[("inside_function", 0)].lazy and not by_name[("os", 0)].lazy
    assert by_name[("", 1)].names == ("sibling",) and by_name[("pkg", 2)].names == ("thing",)
    assert {lib for lib, _ in scan.libraries} == {"libm.so.6", "z", "ssl", "/sbin/ldconfig"}
    kinds = {(f.kind, f.detail) for f in scan.facts}
    assert ("subprocess", "subprocess.run") in kinds and ("fork", "os.fork") in kinds
    assert ("writes", "/var/log/app.log") in kinds and ("writes", "/tmp/ok") not in kinds
    assert scan.main_block_imports


@pytest.mark.parametrize("source,asks_ldconfig", [
    ("import ctypes.util\nctypes.util.find_library('uuid')\n", True),
    ("from ctypes import util\nutil.find_library('uuid')\n", True),
    ("from ctypes.util import find_library as fl\nfl('uuid')\n", True),
    ("from ctypes.util import find_library\nfind_library('uuid')\n", True),
    # ctypes/util.py itself: its test() calls the module's own find_library
    ("import os\ndef find_library(name):\n    return None\ndef test():\n    print(find_library('m'))\n", False),
])
def test_only_ctypes_find_library_asks_ldconfig(source, asks_ldconfig):
    libraries = {lib for lib, _ in scan_source(source.encode()).libraries}
    assert ("/sbin/ldconfig" in libraries) is asks_ldconfig


def test_unparsable_source_falls_back_to_line_scan():
    scan = scan_source(b"import alpha\nfrom beta.gamma import (delta,\n  eps)\ndef broken(:\n")
    assert not scan.parsed
    assert {r.module for r in scan.imports} == {"alpha", "beta.gamma"}


@pytest.mark.parametrize("expr,expected", [
    ('sys.platform == "win32"', False), ('sys.platform != "win32"', True), ('os.name == "nt"', False),
    ('sys.platform.startswith(("linux", "freebsd"))', True), ('platform.system() == "Darwin"', False),
    ('sys.platform in ("darwin", "win32")', False), ('not WIN and sys.platform == "linux"', True),
    ('sys.version_info >= (3, 8)', None), ('DEBUG', None),
])
def test_static_platform_truth(expr, expected):
    assert static_truth(ast.parse(expr, mode="eval").body, {"WIN": False}) is expected


# --- ELF --------------------------------------------------------------------------------------------------

def test_parse_elf_reads_program_headers(elf_bytes):
    info = parse_elf("/python3.12", elf_bytes)
    assert info.interp == "/lib64/ld-linux-x86-64.so.2" and info.pie
    assert any(n.startswith("libpython3.12") for n in info.needed) and "libc.so.6" in info.needed
    assert parse_elf("/x", b"#!/bin/sh\n") is None and parse_elf("/x", b"\x7fELF garbage") is None
    assert expand_origin("$ORIGIN/../../numpy.libs", "/sp/numpy/core") == "/sp/numpy.libs"
    assert expand_origin("${ORIGIN}/lib", "/a") == "/a/lib"


def test_ld_so_conf_includes(tmp_path):
    fs = _tree(tmp_path, {
        "/etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n/opt/extra/lib # trailing comment\n",
        "/etc/ld.so.conf.d/a.conf": "/usr/local/lib\ninclude nested.conf.inc\n",
        "/etc/ld.so.conf.d/b.conf": "/usr/lib/x86_64-linux-gnu/libfakeroot\n",
        "/etc/ld.so.conf.d/nested.conf.inc": "/opt/nested\n",
        "/etc/ld.so.conf.d/ignored.txt": "/nope\n",
    })
    gb = GraphBuilder(fs)
    read = lambda p: fs.read_bytes(p).decode() if gb.is_file(p) else None  # noqa: E731
    assert ld_so_conf_dirs(gb.listdir, read) == ["/usr/local/lib", "/opt/nested",
                                                 "/usr/lib/x86_64-linux-gnu/libfakeroot", "/opt/extra/lib"]


# --- graph: dirs and symlinks on the way ----------------------------------------------------------------

def test_keep_path_follows_usrmerge_symlinks(tmp_path):
    fs = _tree(tmp_path, {
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": b"\x7fELF",
        "/usr/lib64/ld-linux-x86-64.so.2": ("->", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        "/lib64": ("->", "usr/lib64"), "/lib": ("->", "usr/lib"),
    })
    gb = GraphBuilder(fs)
    end = gb.keep_path("/lib64/ld-linux-x86-64.so.2", ENTRY, "PT_INTERP")
    assert end == "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    kinds = {d["path"]: d["kind"] for n, d in gb.graph.nodes(data=True) if n.startswith("file:")}
    assert kinds == {"/lib64": "symlink", "/lib": "symlink", "/usr": "dir", "/usr/lib64": "dir",
                     "/usr/lib64/ld-linux-x86-64.so.2": "symlink", "/usr/lib": "dir",
                     "/usr/lib/x86_64-linux-gnu": "dir", end: "file"}
    assert gb.graph.edges[fnode("/lib64"), fnode("/usr/lib64")]["reason"] == "symlink"
    assert gb.graph.edges[fnode(end), fnode("/usr/lib/x86_64-linux-gnu")]["reason"] == "parent-dir"
    assert gb.keep_path("/lib64/missing.so", ENTRY, "x") is None


# --- finder -----------------------------------------------------------------------------------------------

def test_finder_resolution_order(tmp_path):
    zip_path = tmp_path / "deps.zip"
    fs = _tree(tmp_path / "root", {
        "/sp/pkg/__init__.py": "", "/sp/pkg/__pycache__/__init__.cpython-312.pyc": "x",
        "/sp/fast.py": "", f"/sp/fast.{ABI}.so": "elf",
        "/sp/ns/a.py": "", "/other/ns/b.py": "",
        "/sp/compiled.pyc": "bytecode",
        "/bin/tool": "#!/bin/sh\n", "/bin/tool.py": "",
    })
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("zipped/__init__.py", "import json\n")
    shutil.copy(zip_path, tmp_path / "root" / "deps.zip")
    finder = Finder(GraphBuilder(fs), ["/bin", "/sp", "/other", "/deps.zip"], ABI, "cpython-312")
    pkg = finder.find("pkg")
    assert pkg.kind == "source" and pkg.is_package and pkg.cached == "/sp/pkg/__pycache__/__init__.cpython-312.pyc"
    assert finder.find("fast").kind == "extension"  # extension suffixes come before .py
    ns = finder.find("ns")
    assert ns.kind == "namespace" and ns.search == ("/sp/ns", "/other/ns")
    assert finder.find("ns.b").origin == "/other/ns/b.py"
    assert finder.find("compiled").kind == "bytecode"
    zipped = finder.find("zipped")
    assert zipped.kind == "zip" and zipped.origin == "/deps.zip" and b"json" in finder.read_source(zipped)
    assert finder.find("tool").origin == "/bin/tool.py" and "/bin/tool" in finder.probed
    assert finder.find("absent") is None


# --- hooks and small helpers --------------------------------------------------------------------------

def test_hook_table_is_valid_data():
    table = hook_table()
    assert "uvicorn.loops.auto" in table["uvicorn"][0].hiddenimports
    assert table["importlib.metadata"][0].all_dist_info
    assert "jinja2.ext" in table["jinja2"][0].hiddenimports
    with pytest.raises(ValueError, match="unknown keys"):
        parse_hooks("- module: x\n  hiddenimport: [y]\n")


def test_locale_names_are_normalised_like_glibc():
    assert _locale_dirname("C.UTF-8") == "C.utf8"
    assert _locale_dirname("en_US.UTF-8@euro") == "en_US.utf8"
    assert _locale_dirname("de_DE") == "de_DE"


def _pyc(source: str) -> bytes:
    """A sourceless module as compileall -b leaves it (made by the host interpreter: only names matter)."""
    import importlib.util
    import marshal

    return importlib.util.MAGIC_NUMBER + b"\x00" * 12 + marshal.dumps(compile(source, "compiled.py", "exec"))


def test_whole_analysis_on_a_handmade_root(tmp_path, elf_bytes):
    """The full pipeline on a tiny root: real ELF interpreter and loader, a stub stdlib, a zipapp."""
    from faktory.analyzers.analysis import analyze
    from faktory.image import ImageConfig
    from tests.oracle.dirimage import DirImage

    pyz = tmp_path / "app.pyz"
    with zipfile.ZipFile(pyz, "w") as zf:
        zf.writestr("__main__.py", "import json\nimport helper\nimport compiled\n")
        zf.writestr("helper.py", "import os\n")
    stdlib = "/usr/local/lib/python3.12"
    stub = {f"{stdlib}/{name}": text for name, text in {
        "os.py": "import stat\nimport posixpath\n", "stat.py": "", "posixpath.py": "import genericpath\n",
        "genericpath.py": "", "codecs.py": "", "io.py": "import abc\n", "abc.py": "", "_collections_abc.py": "",
        "site.py": "import os\nimport _sitebuiltins\n", "_sitebuiltins.py": "",
        "encodings/__init__.py": "import codecs\nfrom . import aliases\n", "encodings/aliases.py": "",
        "encodings/utf_8.py": "import codecs\n", "json/__init__.py": "from .decoder import JSONDecoder\n",
        "json/decoder.py": "import re\n", "re.py": "", "unused.py": "import json\n",
    }.items()}
    fs = _tree(tmp_path / "root", {
        "/usr/local/bin/python3.12": elf_bytes, "/usr/local/bin/python3": ("->", "python3.12"),
        "/lib64": ("->", "usr/lib64"),
        "/usr/lib64/ld-linux-x86-64.so.2": Path("/lib64/ld-linux-x86-64.so.2").read_bytes(),
        "/usr/lib/x86_64-linux-gnu/libc.so.6": Path("/lib/x86_64-linux-gnu/libc.so.6").read_bytes(),
        f"{stdlib}/lib-dynload/": "", f"{stdlib}/site-packages/": "", **stub,
        "/app/app.pyz": pyz.read_bytes(),
        f"{stdlib}/site-packages/compiled.pyc": _pyc("import textwrap\nfrom . import x\n"),
        f"{stdlib}/textwrap.py": "",
    })
    image = DirImage(fs, ImageConfig(env=("PATH=/usr/local/bin:/usr/bin:/bin",), cmd=("python3", "/app/app.pyz")))
    closure = analyze(image)
    interp = closure.interpreter
    assert (interp.prefix, interp.stdlib_dir, interp.version[:2]) == ("/usr/local", stdlib, (3, 12))
    assert closure.launch.argv == ("/usr/local/bin/python3", "/app/app.pyz")
    assert closure.sys_path[0] == "/app/app.pyz"
    graph = closure.graph
    for module in ("__main__", "helper", "json", "json.decoder", "re", "encodings.utf_8", "site", "os",
                   "compiled", "textwrap"):
        assert f"module:{module}" in graph, module
    assert "module:unused" not in graph
    paths = set(closure.paths())
    assert {"/app/app.pyz", "/lib64", "/usr/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libc.so.6",
            f"{stdlib}/lib-dynload", "/usr/local/bin/python3", "/usr/local/bin/python3.12"} <= paths
    assert f"{stdlib}/unused.py" not in paths
    assert any(f.kind == "unresolved-library" and "libpython3.12" in f.message for f in closure.findings)


def test_modules_named_by_strings_and_env_are_kept(tmp_path, elf_bytes):
    """Frameworks import by name what settings, plugin lists and env vars say; a package named whole is kept whole."""
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        f"{STDLIB}/textwrap.py": "",
        "/app/main.py": ('import plug\nimport django.template.context\nimport importlib\n'
                         'def load(kind):\n    return importlib.import_module(f"exporters.{kind}")\n'
                         'SETTINGS = {"ENGINE": "plug.backends.fast", "LOG": "plug.handlers.Console.emit",\n'
                         '            "PAGE": "index.html", "VERSION": "1.2.3", "SITE": "example.com"}\n'
                         "APPS = ['myapp']\n"),
        "/app/myapp/__init__.py": "", "/app/myapp/apps.py": "", "/app/myapp/tags/__init__.py": "",
        "/app/myapp/tags/extra.py": "import textwrap\n",
        "/app/conf/__init__.py": "", "/app/conf/prod.py": "", "/app/conf/dev.py": "",
        "/app/exporters/__init__.py": "", "/app/exporters/csv.py": "", "/app/exporters/pdf/__init__.py": "",
        "/app/exporters/pdf/fonts.py": "",
        f"{site}/plug/__init__.py": "", f"{site}/plug/backends/__init__.py": "",
        f"{site}/plug/backends/fast.py": "from plug import util\n", f"{site}/plug/backends/slow.py": "",
        f"{site}/plug/handlers.py": "", f"{site}/plug/util.py": "", f"{site}/plug/unused.py": "",
        # A library module the hook table marks string_imports: its quoted names are imports too.
        f"{site}/django/__init__.py": "", f"{site}/django/template/__init__.py": "",
        f"{site}/django/template/context.py": '_builtin = ("django.template.context_processors.csrf",)\n',
        f"{site}/django/template/context_processors.py": "",
        f"{site}/django/template/unrelated.py": "",
    })
    env = ("PATH=/usr/local/bin:/usr/bin:/bin", "SETTINGS_MODULE=conf.prod")
    graph = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"), env).graph
    kept = {n[len("module:"):] for n in graph if n.startswith("module:")}
    assert {"plug.backends.fast", "plug.util", "plug.handlers", "myapp", "myapp.apps", "myapp.tags",
            "myapp.tags.extra", "textwrap", "conf.prod", "django.template.context_processors",
            "exporters.csv", "exporters.pdf.fonts"} <= kept
    assert not {"plug.backends.slow", "plug.unused", "conf.dev", "django.template.unrelated"} & kept
    assert graph.edges["entrypoint", "module:conf.prod"]["reason"] == "env:SETTINGS_MODULE"
    reasons = {graph.edges[e]["reason"] for e in graph.in_edges("module:plug.handlers")}
    assert "named-by-string" in reasons
    assert any(graph.edges[e].get("detail", "").endswith("main.py:6") for e in graph.in_edges("module:plug.handlers"))


def test_entry_point_plugins_of_a_group_the_app_names(tmp_path, elf_bytes):
    from faktory.analyzers.plugins import parse_entry_points

    assert parse_entry_points("[g]\na = m.sub:Cls [extra]\nb=plain\n# c = no\n[h]\nbad = 1x:y\n") == \
        [("g", "m.sub"), ("g", "plain")]
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": ("from importlib.metadata import entry_points\n"
                         "for ep in entry_points(group='shopapp.exporters'):\n    ep.load()\n"),
        f"{STDLIB}/importlib/metadata/__init__.py": "", f"{STDLIB}/textwrap.py": "",
        f"{site}/csv_export/__init__.py": "", f"{site}/csv_export/plugin.py": "import textwrap\n",
        f"{site}/csv_export/cli.py": "",
        f"{site}/csv_export-1.0.dist-info/METADATA": "Name: csv-export\n",
        f"{site}/csv_export-1.0.dist-info/entry_points.txt": (
            "[console_scripts]\ncsv-export = csv_export.cli:main\n\n"
            "[shopapp.exporters]\ncsv = csv_export.plugin:CsvExporter\n"),
        f"{site}/other-2.0.dist-info/entry_points.txt": "[unrelated.group]\nx = other_mod\n",
        f"{site}/other_mod.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = {n[len("module:"):] for n in closure.graph if n.startswith("module:")}
    assert {"csv_export.plugin", "textwrap"} <= kept
    assert not {"csv_export.cli", "other_mod"} & kept
    assert f"{site}/csv_export-1.0.dist-info/entry_points.txt" in set(closure.paths())


def test_programs_the_app_starts_are_kept(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": ("import subprocess, os\nsubprocess.run(['tool', '-v'])\nos.system('helper.sh now')\n"
                         "subprocess.run(['loop.sh'])\n"
                         "subprocess.run(cmd)\n"),
        "/usr/bin/tool": elf_bytes, "/usr/bin/dash": elf_bytes, "/bin": ("->", "usr/bin"),
        "/usr/bin/sh": ("->", "dash"), "/usr/local/bin/helper.sh": "#!/bin/sh\necho hi\n",
        "/usr/bin/unused": elf_bytes, "/usr/local/bin/loop.sh": "#!/usr/local/bin/loop.sh\n",
    })
    paths = set(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).paths())
    assert {"/usr/bin/tool", "/usr/local/bin/helper.sh", "/usr/bin/dash"} <= paths
    assert "/usr/bin/unused" not in paths


def test_a_subprocess_command_given_as_args_names_its_program():
    # pex's bootstrap: subprocess.Popen(args=["ldd", sys.executable]) to tell musl from glibc
    scan = scan_source(b'import subprocess, sys\nsubprocess.Popen(args=["ldd", sys.executable])\n'
                       b'subprocess.run(args="uname -a", shell=True)\nsubprocess.run(args=["git-" + sys.argv[1]])\n')
    assert scan.programs == [("ldd", 2), ("sh uname", 3)]
    assert scan.program_prefixes == [("git-", 4)]


def test_computed_import_names_keep_the_package_they_live_in():
    from faktory.analyzers.imports import PACKAGE_TREE

    scan = scan_source(b'''
import importlib
def load(kind, name):
    importlib.import_module(f"app.handlers.{kind}")
    importlib.import_module("drivers." + name)
    importlib.import_module("codecs_x.%s" % name)
    importlib.import_module("fmt.{}".format(name))
    importlib.import_module(f".{name}", __package__)
    importlib.import_module(f"{name}")
    importlib.import_module(name)
''')
    trees = [(r.module, r.level) for r in scan.imports if PACKAGE_TREE in r.names]
    assert trees == [("app.handlers", 0), ("drivers", 0), ("codecs_x", 0), ("fmt", 0), ("", 1)]


def test_import_wrappers_and_literal_calls_are_recorded_and_cached():
    """A function whose parameter reaches import_module (directly, in a template, split, or passed on to
    another wrapper of the module) is a wrapper; calls with module-like literals name their callee absolutely."""
    from faktory.analyzers.wrapperscan import Wrapper
    from faktory.analyzers.scancache import decode_scan, encode_scan

    scan = scan_source(b'''
import importlib
from pkg.compat._optional import import_optional_dependency as iod
from ._util import helper
def optional(name, extra=""):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
def backend(kind, *, name):
    return __import__(name + "_backend")
def cached_import(module_path, class_name):
    return getattr(importlib.import_module(module_path), class_name)
def import_string(dotted_path):
    module_path, class_name = dotted_path.rsplit(".", 1)
    return cached_import(module_path, class_name)
def rebound(name):
    name = TABLE[name]
    return importlib.import_module(name)
class Loader:
    def load(self, name):
        return importlib.import_module(name)
def use():
    iod("tabulate")
    helper("a.b:C", extra="x y")
    backend("k", name="fast")
print("hello world")
''')
    assert scan.wrappers == [
        Wrapper("optional", 0, "name", "{}", 7), Wrapper("backend", -1, "name", "{}_backend", 11),
        Wrapper("cached_import", 0, "module_path", "{}", 13), Wrapper("import_string", 0, "dotted_path", "{}", 16)]
    assert scan.calls == [("pkg.compat._optional.import_optional_dependency", 0, "tabulate", 24, True),
                          ("._util.helper", 0, "a.b:C", 25, True), ("=backend", 0, "k", 26, True),
                          ("=backend", "name", "fast", 26, True)]
    # the wrapper's own import is still a computed one: a call with a name not known stays a finding
    assert [line for _, line, _ in scan.computed] == [7, 11, 13, 19, 22]
    again = decode_scan(encode_scan(scan))
    assert (again.wrappers, again.calls) == (scan.wrappers, scan.calls)


def test_modules_named_through_an_import_wrapper_are_kept(tmp_path, elf_bytes):
    """pandas' import_optional_dependency("tabulate"), Django's import_string("pkg.mod.Attr") and a backend
    template called from library code and from the app: the named module is kept (imported-by-wrapper,
    file:line) when the image has it, nothing when it does not; the wrappers' own computed imports still
    count."""
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": (
            "import importlib\nimport frame\nimport frame.loading as loading\n"
            "def get_backend(name):\n    return importlib.import_module(name + '_backend')\n"
            "get_backend('fast')\nloading.import_string('other.mod.Thing')\n"),
        f"{site}/frame/__init__.py": (
            "from frame.compat import import_optional_dependency\n"
            "from .loading import import_string\n"
            "def to_markdown():\n    tab = import_optional_dependency('tabulate')\n"
            "    import_optional_dependency('notinstalled')\n"
            "def _load(n):\n    return __import__(n)\n_load('samemod')\n"
            "HANDLER = import_string('handlers.json_handler:Handler')\n"),
        f"{site}/frame/compat/__init__.py": "from frame._optional import import_optional_dependency\n",
        f"{site}/frame/_optional.py": (
            "import importlib\ndef import_optional_dependency(name, extra=''):\n"
            "    return importlib.import_module(name)\n"),
        f"{site}/frame/loading.py": (
            "from importlib import import_module\n"
            "def cached_import(module_path, class_name):\n"
            "    return getattr(import_module(module_path), class_name)\n"
            "def import_string(dotted_path):\n    module_path, class_name = dotted_path.rsplit('.', 1)\n"
            "    return cached_import(module_path, class_name)\n"),
        **{f"{site}/{empty}.py": "" for empty in (
            "tabulate", "samemod", "fast_backend", "slow_backend", "other/__init__", "other/mod", "other/unused",
            "handlers/__init__", "handlers/json_handler", "handlers/xml_handler")},
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    graph = closure.graph
    kept = {n[len("module:"):] for n in graph if n.startswith("module:")}
    assert {"tabulate", "samemod", "fast_backend", "other.mod", "handlers.json_handler"} <= kept
    assert not {"slow_backend", "other.unused", "handlers.xml_handler", "notinstalled"} & kept
    edge = graph.edges["module:frame", "module:tabulate"]
    assert (edge["reason"], edge["detail"]) == ("imported-by-wrapper", f"{site}/frame/__init__.py:4")
    assert graph.edges["module:frame", "module:handlers.json_handler"]["detail"] == f"{site}/frame/__init__.py:9"
    assert graph.edges["entrypoint", "module:fast_backend"]["reason"] == "imported-by-wrapper"
    computed = sorted((f.kind, str(f.location)) for f in closure.findings if "computed" in f.kind)
    assert computed == [("computed-import", "/app/main.py:5"),
                        ("lazy-computed-import", f"{site}/frame/__init__.py:7"),
                        ("lazy-computed-import", f"{site}/frame/_optional.py:3"),
                        ("lazy-computed-import", f"{site}/frame/loading.py:3")]


def test_zipfile_keeps_the_codec_of_member_names_without_the_utf8_flag(tmp_path, elf_bytes):
    """zipfile decodes such names with cp437 (`metadata_encoding or 'cp437'`): read_excel of an openpyxl file."""
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import zipfile\n", f"{STDLIB}/zipfile/__init__.py": "",
        f"{STDLIB}/encodings/cp437.py": "", f"{STDLIB}/encodings/cp850.py": "",
    })
    kept = set(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).paths())
    assert f"{STDLIB}/encodings/cp437.py" in kept and f"{STDLIB}/encodings/cp850.py" not in kept


def test_computed_import_names_relative_to_the_own_package(tmp_path, elf_bytes):
    """f"{__spec__.parent}.{plugin}" (Pillow's plugin table) is a name inside the module's own package."""
    from faktory.analyzers.imports import CALLER_NAMED, PACKAGE_TREE

    scan = scan_source(b'''
def init(plugin, name):
    __import__(f"{__spec__.parent}.{plugin}", globals(), locals(), [])
    __import__(__package__ + ".codecs." + name)
    __import__(f"{__spec__.parent}.BmpPlugin")
    __import__(f"{__spec__.name}.{plugin}")
''')
    assert [(r.module, r.level, r.names) for r in scan.imports] == [
        ("", 1, (PACKAGE_TREE,)), ("codecs", 1, (PACKAGE_TREE,)), ("BmpPlugin", 1, ())]
    # a literal `package` argument, positional or keyword, is what a relative name is relative to
    scan = scan_source(b'''
import importlib
def __getattr__(widget_class):
    importlib.import_module(f"._{snake(widget_class)}", package="tui.widgets")
    importlib.import_module(".base", "web.backends.sqlite")
    importlib.import_module(f"..{name}", __package__)
def load(kind):
    path = f"._{kind}"
    return importlib.import_module(path, package="tui.drivers")
def other(kind):
    return importlib.import_module(path)  # another function's name: unknown here
''')
    assert [(r.module, r.level, r.names) for r in scan.imports[1:]] == [
        ("tui.widgets", 0, (PACKAGE_TREE,)), ("web.backends.sqlite.base", 0, ()), ("", 2, (PACKAGE_TREE,)),
        ("tui.drivers", 0, (PACKAGE_TREE, CALLER_NAMED))]  # what load's callers name
    assert [text for text, _, _ in scan.computed] == ["importlib.import_module(path)"]
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "from imgkit import core\ncore.open('x.webp')\n",
        f"{site}/imgkit/__init__.py": "_plugins = ['PngPlugin', 'WebpPlugin']\n",
        f"{site}/imgkit/core.py": ("from . import _plugins\n"
                                   "def open(path):\n    for plugin in _plugins:\n"
                                   "        __import__(f'{__spec__.parent}.{plugin}', globals(), locals(), [])\n"),
        f"{site}/imgkit/PngPlugin.py": "", f"{site}/imgkit/WebpPlugin.py": "from . import _webp\n",
        f"{site}/imgkit/_webp.py": "", f"{site}/imgkit/TkViewer.py": "import tkinter\n",
    })
    kept = {n[len("module:"):] for n in _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).graph
            if n.startswith("module:")}
    assert {"imgkit.PngPlugin", "imgkit.WebpPlugin", "imgkit._webp"} <= kept
    assert "imgkit.TkViewer" not in kept  # the loop is over imgkit's literal `_plugins`, which does not name it
    # a lookup in a literal table (Pillow's `_EXTENSION_PLUGIN.get(ext)`) is one of its values
    files[f"{site}/imgkit/core.py"] = ("TABLE: dict[str, str] = {'.png': 'PngPlugin', '.apng': 'PngPlugin'}\n"
                                      "def open(path):\n    plugin = TABLE.get(path[-4:])\n"
                                      "    __import__(f'{__spec__.parent}.{plugin}', globals(), locals(), [])\n")
    kept = {n[len("module:"):] for n in _analyze_root(tmp_path / "root2", files, ("python3", "/app/main.py")).graph
            if n.startswith("module:")}
    assert "imgkit.PngPlugin" in kept and not {"imgkit.WebpPlugin", "imgkit.TkViewer"} & kept
    # not a literal there (built at run time): any module of the package
    files[f"{site}/imgkit/__init__.py"] = "import os\n_plugins = os.listdir('.')\n"
    files[f"{site}/imgkit/core.py"] = ("from . import _plugins\n"
                                      "def open(path):\n    for plugin in _plugins:\n"
                                      "        __import__(f'{__spec__.parent}.{plugin}', globals(), locals(), [])\n")
    kept = {n[len("module:"):] for n in _analyze_root(tmp_path / "root3", files, ("python3", "/app/main.py")).graph
            if n.startswith("module:")}
    assert {"imgkit.PngPlugin", "imgkit.TkViewer"} <= kept


def test_app_root_keeps_hidden_files_but_not_hidden_directories(tmp_path, elf_bytes):
    files = _python_files(elf_bytes, **{
        "/app/main.py": "print('hi')\n", "/app/.env": "TITLE=x\n", "/app/templates/.keep": "",
        "/app/.git/config": "[core]\n", "/app/.gitignore": "*.pyc\n", "/app/.venv/lib/x.py": "",
    })
    paths = set(_analyze_root(tmp_path / "root", files, ("python3", "/app/main.py")).paths())
    assert {"/app/main.py", "/app/.env", "/app/templates/.keep"} <= paths
    assert not {"/app/.git/config", "/app/.gitignore", "/app/.venv/lib/x.py"} & paths


def test_data_scripts_and_tool_arguments_are_scanned_through_the_scan_cache(tmp_path, elf_bytes, monkeypatch):
    """A .py of the app's dir run by its path (Alembic's env.py) and one the command line names are scanned
    once per content: the first analysis stores their scans, the second reads them from the cache."""
    import hashlib

    from faktory.analyzers.scancache import SCAN_FORMAT, ScanCache

    monkeypatch.setenv("FAKTORY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FAKTORY_NO_SCAN_CACHE", raising=False)
    script, job = "import seen_by_script\n", "import seen_by_job\n"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "print('hi')\n", "/app/migrations/env.py": script, "/srv/jobs/job.py": job,
        **{f"{STDLIB}/site-packages/{m}.py": "" for m in ("seen_by_script", "seen_by_job", "from_cache_a",
                                                            "from_cache_b")}})
    root, cmd = tmp_path / "root", ("python3", "/app/main.py", "/srv/jobs/job.py")
    first = _analyze_root(root, files, cmd).graph
    assert {"module:seen_by_script", "module:seen_by_job"} <= set(first)
    cache = ScanCache(tmp_path / "cache" / "v1" / f"scans-{SCAN_FORMAT}.sqlite")
    keys = ["sha256:" + hashlib.sha256(text.encode()).hexdigest() for text in (script, job)]
    assert all(cache.get(key) is not None for key in keys)  # stored by the first analysis
    for key, planted in zip(keys, ("from_cache_a", "from_cache_b")):
        cache.put(key, scan_source(f"import {planted}\n".encode()))
    cache.flush()
    second = _analyze_root(tmp_path / "again", files, cmd).graph
    assert {"module:from_cache_a", "module:from_cache_b"} <= set(second)
    assert not {"module:seen_by_script", "module:seen_by_job"} & set(second)


def test_dir_files_of_an_env_dir_and_of_a_named_data_dir(tmp_path):
    """An Env dir is kept under a byte limit, a symlinked dir in it counting as one file; a data dir a library
    names has no byte limit and its symlinked dirs are walked into."""
    from faktory.analyzers.envdirs import dir_files

    fs = _tree(tmp_path, {"/data/a.txt": "hello", "/data/sub/b.txt": "b", "/data/link": ("->", "/elsewhere"),
                          "/elsewhere/c.txt": "c"})
    assert sorted(dir_files(fs, "/data")) == ["/data/a.txt", "/data/link", "/data/sub/b.txt"]
    assert sorted(dir_files(fs, "/data", max_bytes=None, follow_links=True)) == [
        "/data/a.txt", "/data/link/c.txt", "/data/sub/b.txt"]
    assert dir_files(fs, "/data", max_bytes=3) is None and dir_files(fs, "/usr") is None


# --- names no import statement states ------------------------------------------------------------------

DYNLOAD = Path("/root/.pyenv/versions/3.12.1/lib/python3.12/lib-dynload")
EXT = ".cpython-312-x86_64-linux-gnu.so"


def _extension(*names: str, base: str = "_json") -> bytes:
    """A real extension ELF (the host CPython's `base`) whose .rodata is made to hold `names` as C strings, as
    mypyc/Cython/pybind11 modules hold the names they import through the C API."""
    from elftools.elf.elffile import ELFFile
    import io
    import re

    data = bytearray((DYNLOAD / f"{base}{EXT}").read_bytes())
    rodata = ELFFile(io.BytesIO(bytes(data))).get_section_by_name(".rodata")
    start, end = rodata["sh_offset"], rodata["sh_offset"] + rodata["sh_size"]
    runs = [m for m in re.finditer(rb"(?<=\x00)[\x20-\x7e]{30,}(?=\x00)", bytes(data[start:end]))]
    assert len(runs) >= len(names), f"the host {base} has fewer long strings than the test needs"
    for run, name in zip(runs, names):
        text = name.encode() + b"\x00" * (len(run.group()) - len(name))
        data[start + run.start(): start + run.end()] = text
    return bytes(data)


def test_extension_string_tables_name_modules_imported_from_native_code(tmp_path, elf_bytes):
    """mypyc's shared runtime (`<hex>__mypyc`, a digit-leading name) and sibling modules are found in the
    extension's string sections; stray words naming dev-only or test modules are not followed."""
    from faktory.analyzers.strings import elf_string_names

    site = f"{STDLIB}/site-packages"
    runtime = "30fcd23745efe32ce681__mypyc"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import fmt\nimport fmt.broken\n",
        f"{site}/fmt/__init__{EXT}": _extension(runtime, "fmt.nodes", "lines", "unittest", "test.support"),
        f"{site}/{runtime}{EXT}": _extension("fmt.strings"),
        f"{site}/fmt/nodes.py": "", f"{site}/fmt/lines.py": "", f"{site}/fmt/strings.py": "",
        f"{site}/fmt/unused.py": "", f"{site}/fmt/broken{EXT}": b"not an ELF at all",
        f"{STDLIB}/unittest/__init__.py": "", f"{STDLIB}/test/__init__.py": "", f"{STDLIB}/test/support.py": "",
    })
    assert runtime in elf_string_names(files[f"{site}/fmt/__init__{EXT}"])
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    graph = closure.graph
    kept = {n[len("module:"):] for n in graph if n.startswith("module:")}
    assert {runtime, "fmt.nodes", "fmt.lines", "fmt.strings"} <= kept
    assert not {"fmt.unused", "unittest", "test", "test.support"} & kept
    edge = graph.edges["module:fmt", f"module:{runtime}"]
    assert edge["reason"] == "named-in-native-code" and edge["detail"].endswith(f"fmt/__init__{EXT}")
    unreadable = [f for f in closure.findings if f.kind == "unreadable-extension"]
    assert [str(f.location) for f in unreadable] == [f"{site}/fmt/broken{EXT}"]


def test_packed_literals_of_a_rust_extension_are_split_against_the_package_modules(tmp_path, elf_bytes):
    """pyo3 lays string literals end to end with no NUL between them: the module names its own package imports
    from Rust are pieces of longer runs, found by walking the image's real submodules from each `top.`."""
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import fmt\n",
        f"{site}/fmt/__init__.py": "from fmt import _native\n",
        f"{site}/fmt/_native{EXT}": _extension("Errorfmt.codecsfmt.deep.leafSerializerfmt.nowhere.x",
                                               "lib.rsother.thingfmt", "fmt.codecs2fmt.deep"),
        f"{site}/fmt/codecs.py": "", f"{site}/fmt/deep/__init__.py": "", f"{site}/fmt/deep/leaf.py": "",
        f"{site}/fmt/deep/other.py": "", f"{site}/fmt/unused.py": "", f"{site}/fmt/codecs2.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    kept = {n[len("module:"):] for n in closure.graph if n.startswith("module:")}
    assert {"fmt.codecs", "fmt.deep", "fmt.deep.leaf", "fmt.codecs2"} <= kept  # the last run is NUL-bounded
    assert not {"fmt.unused", "fmt.deep.other"} & kept
    edge = closure.graph.edges["module:fmt._native", "module:fmt.deep.leaf"]
    assert edge["reason"] == "named-in-native-code"


def test_library_plugin_tables_and_import_calls_outside_the_stdlib(tmp_path, elf_bytes):
    """Library code: a table of its own modules imported through a helper (named-by-string, file:line), a
    stdlib module copied through an aliased find_spec, exact names over a literal loop, resolve_name; a name
    that cannot be determined is a finding with its line."""
    from faktory.analyzers.findings import unresolved

    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import plug\n",
        f"{site}/plug/__init__.py": (
            "import importlib\nfrom importlib.util import find_spec as fs\nimport pkgutil\n"
            "_TABLE = (\n    'plug.formats.csv',\n    'other.unrelated',\n)\n"
            "def _load(path):\n    return importlib.import_module(path)\n"
            "LOADED = [_load(p) for p in _TABLE]\n"
            "spec = fs('textwrap')\n"
            "for name in ('a', 'b'):\n    importlib.import_module('plug.drivers.' + name)\n"
            "hook = pkgutil.resolve_name('hooks.mod:attr')\n"),
        f"{site}/plug/formats/__init__.py": "", f"{site}/plug/formats/csv.py": "", f"{site}/plug/formats/pdf.py": "",
        f"{site}/plug/drivers/__init__.py": "", f"{site}/plug/drivers/a.py": "", f"{site}/plug/drivers/b.py": "",
        f"{site}/plug/drivers/c.py": "", f"{site}/other/__init__.py": "", f"{site}/other/unrelated.py": "",
        f"{site}/hooks/__init__.py": "", f"{site}/hooks/mod.py": "", f"{STDLIB}/textwrap.py": "",
        f"{STDLIB}/pkgutil.py": "", f"{STDLIB}/importlib/util.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    graph = closure.graph
    kept = {n[len("module:"):] for n in graph if n.startswith("module:")}
    assert {"plug.formats.csv", "textwrap", "plug.drivers.a", "plug.drivers.b", "hooks.mod"} <= kept
    assert not {"plug.formats.pdf", "plug.drivers.c", "other.unrelated"} & kept
    edge = graph.edges["module:plug", "module:plug.formats.csv"]
    assert edge["reason"] == "named-by-string" and edge["detail"] == f"{site}/plug/__init__.py:5"
    # inside a library function: runs only if the app calls it, so a note with its line, not "unresolved"
    assert unresolved(closure.findings) == []
    computed = [(f.kind, f.severity, str(f.location)) for f in closure.findings if "computed" in f.kind]
    assert computed == [("lazy-computed-import", "info", f"{site}/plug/__init__.py:9")]


def test_a_syntax_error_is_a_finding_and_the_imports_are_still_read(tmp_path, elf_bytes):
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import newer\n",
        f"{site}/newer.py": "import textwrap\n\ndef f(:\n    pass\n", f"{STDLIB}/textwrap.py": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    assert "module:textwrap" in closure.graph
    found = [(f.kind, f.severity, str(f.location)) for f in closure.findings if f.kind == "syntax-error"]
    assert found == [("syntax-error", "warning", f"{site}/newer.py:3")]


def test_an_extension_with_a_pure_python_fallback_is_a_km_warning_naming_it(tmp_path, elf_bytes):
    from faktory.emitters.km import KmEmitter

    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import markup\nimport speedy\n",
        f"{site}/markup/__init__.py": ("try:\n    from ._speedups import escape\nexcept ImportError:\n"
                                       "    from ._native import escape\n"),
        f"{site}/markup/_speedups{EXT}": _extension(), f"{site}/markup/_native.py": "",
        f"{site}/speedy{EXT}": _extension(),  # no fallback: still a blocker
        f"{site}/pure/__init__.py": "try:\n    from ._fast import x\nexcept ImportError:\n    from ._slow import x\n",
        f"{site}/pure/_fast.py": "", f"{site}/pure/_slow.py": "",
    })
    files["/app/main.py"] += "import pure\n"
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    graph = closure.graph
    assert graph.edges["module:markup", "module:markup._native"]["reason"] == "import-fallback"
    assert "module:pure._slow" not in graph  # a pure-Python try needs no stand-in
    found = {f.location.path.rsplit("/", 1)[-1]: f for f in KmEmitter().check(closure) if f.kind == "c-extension"}
    assert found[f"_speedups{EXT}"].severity == "warning"
    assert "falls back to markup._native" in found[f"_speedups{EXT}"].message
    assert found[f"speedy{EXT}"].severity == "blocker"
    assert closure.owner_of(f"{site}/markup/_native.py") == "markup"
    assert closure.owner_of(f"{STDLIB}/os.py") == "stdlib" and closure.owner_of("/app/main.py") == "app"


def test_stdlib_extensions_name_the_stdlib_modules_they_import_and_arguments_name_modules(tmp_path, elf_bytes):
    """`_datetime` imports `_strptime` from C: a stdlib extension's exact names of stdlib modules are kept (its
    `socket.socket`-like type names are not cut down to modules); a dotted argument naming a module is kept, and
    a directory the command line names is kept whole."""
    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import _dt\n",
        f"{STDLIB}/lib-dynload/_dt{EXT}": _extension("_strptime", "textwrap.Wrapper", "fancy"),
        f"{STDLIB}/_strptime.py": "", f"{STDLIB}/textwrap.py": "", f"{site}/fancy.py": "",
        f"{site}/tools/__init__.py": "", f"{site}/tools/extra.py": "", f"{site}/tools/other.py": "",
        "/srv/sample/a/legacy.py": "import pickle\n", "/srv/elsewhere.txt": "",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py", "-x", "tools.extra", "-r",
                                                       "/srv/sample"))
    assert "/srv/sample/a/legacy.py" in closure.paths() and "/srv/elsewhere.txt" not in closure.paths()
    kept = {n[len("module:"):] for n in closure.graph if n.startswith("module:")}
    assert {"_strptime", "tools.extra"} <= kept
    assert not {"textwrap", "fancy", "tools.other"} & kept
    assert closure.graph.edges["module:_dt", "module:_strptime"]["reason"] == "named-in-native-code"
    assert closure.graph.edges["entrypoint", "module:tools.extra"]["reason"] == "argument"


def test_a_finding_location_is_a_path_and_line_value():
    from faktory.analyzers.model import Finding, Location

    found = Finding("computed-import", "import_module(name)", location="/app/plugins/__init__.py:12")
    assert found.location == Location("/app/plugins/__init__.py", 12)
    assert found.to_dict()["location"] == "/app/plugins/__init__.py:12" and found.where == "/app/plugins/__init__.py:12"
    assert Finding("c-extension", "x", location="/site/x.so").location == Location("/site/x.so")
    assert Location.parse("C:12x").line is None and Location.parse(":7") == Location(":7")
    assert Finding("port", "exposes 8080").where == "" and "location" not in Finding("port", "x").to_dict()


def test_optional_imports_nothing_else_needs_are_listed_with_their_bytes(tmp_path, elf_bytes):
    """`try: import big except ImportError:` keeps big (recall first) and lists it with the bytes only it
    brings; what something unguarded also needs is not counted, and an unguarded import is not listed."""
    from faktory.analyzers.report import optional_imports

    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import small\ntry:\n    import big\nexcept ImportError:\n    big = None\n",
        f"{site}/big/__init__.py": "import shared\nfrom . import heavy\n",
        f"{site}/big/heavy.py": "DATA = '" + "x" * 5000 + "'\n",
        f"{site}/shared.py": "",
        f"{site}/small.py": "import shared\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    assert "module:big.heavy" in closure.graph  # kept all the same
    found = {o.module: o for o in optional_imports(closure)}
    assert set(found) == {"big"}
    big = found["big"]
    assert big.imported_at == "/app/main.py:3" and big.exclude == f"{site}/big/**"
    assert big.files == 2 and big.bytes >= 5000  # big/__init__.py and heavy.py; shared.py small needs too


def test_excluding_a_listed_package_glob_removes_its_directory_too(tmp_path, elf_bytes):
    """`--exclude pkg/**` (the glob the optional-import listing offers) takes the directory itself: an empty
    `pkg/` left in site-packages imports as a namespace package, so `try: import pkg except ImportError:` would
    get an empty module instead of its fallback (tabulate's `wcwidth.wcswidth` AttributeError). What only the
    excluded package kept goes with it; what the app needs otherwise stays. `from pkg import submodule` in the
    try is as optional as the package (pygments' `from PIL import Image`)."""
    from faktory.analyzers.analysis import analyze
    from faktory.analyzers.options import AnalyzeOptions, hint
    from faktory.analyzers.report import optional_imports
    from faktory.image import ImageConfig
    from tests.oracle.dirimage import DirImage

    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import tab\n",
        f"{site}/tab/__init__.py": ("import shared\ntry:\n    from widechars import table\nexcept ImportError:\n"
                                    "    table = None\n"),
        f"{site}/widechars/__init__.py": "from .table import WIDTHS\nimport unitable\nimport shared\n",
        f"{site}/widechars/table.py": "WIDTHS = ()\n", f"{site}/unitable.py": "", f"{site}/shared.py": "",
    })
    image = DirImage(_tree(tmp_path / "root", files), ImageConfig(env=("PATH=/usr/local/bin:/usr/bin:/bin",),
                                                                  cmd=("python3", "/app/main.py"), working_dir="/app"))
    found = {o.module: o for o in optional_imports(analyze(image))}
    assert set(found) == {"widechars", "widechars.table"}
    listed = found["widechars"]
    assert listed.exclude == f"{site}/widechars/**"
    closure = analyze(image, AnalyzeOptions(hints=(hint("exclude", listed.exclude, "hint:--exclude"),)))
    kept = set(closure.paths())
    assert {f"{site}/tab/__init__.py", f"{site}/shared.py", site} <= kept
    assert not {p for p in kept if p.startswith(f"{site}/widechars")} and f"{site}/unitable.py" not in kept
    assert any("only the excluded ones kept" in f.message and "unitable.py" in f.message for f in closure.findings)


def test_library_functions_imports_of_other_packages_are_listed_and_plugins_hang_below_who_names_their_group(
        tmp_path, elf_bytes):
    """A library function importing another distribution (tqdm's `pandas()`) keeps it (a caller may run it) and
    lists it as a lazy optional import, with the bytes of all below it that nothing needed leads to; the plugins of
    an entry point group a library names hang below that library, not below the entry, so they count there. The
    app's own function-level imports and a package's functions importing its own modules are not listed."""
    from faktory.analyzers.report import optional_imports

    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import progress\ndef later():\n    import extra\n",
        f"{STDLIB}/importlib/metadata/__init__.py": "",
        f"{site}/extra.py": "",
        f"{site}/progress/__init__.py": "def pandas():\n    from frames import Frame\n    return Frame\n",
        f"{site}/frames/__init__.py": ("from . import core\nclass Frame:\n    pass\ndef plot():\n    import plots\n"
                                       "def helper():\n    from . import slow\n"),
        f"{site}/frames/core.py": "DATA = '" + "x" * 5000 + "'\n", f"{site}/frames/slow.py": "",
        f"{site}/plots/__init__.py": ("from importlib.metadata import entry_points\n"
                                      "def backends():\n    return entry_points(group='plots.backend')\n"),
        f"{site}/inline-1.0.dist-info/METADATA": "Name: inline\n",
        f"{site}/inline-1.0.dist-info/entry_points.txt": "[plots.backend]\ninline = inline_backend\n",
        f"{site}/inline_backend.py": "import shell\n",
        f"{site}/shell/__init__.py": "DATA = '" + "y" * 7000 + "'\n",
    })
    closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    graph = closure.graph
    assert {"module:frames.core", "module:plots", "module:inline_backend", "module:shell"} <= set(graph)  # kept
    assert graph.edges["module:plots", "module:inline_backend"]["reason"] == "entry-point"
    assert ("entrypoint", "module:inline_backend") not in graph.edges
    found = {o.module: o for o in optional_imports(closure)}
    assert set(found) == {"frames"}
    frames = found["frames"]
    assert frames.kind == "lazy"
    assert frames.imported_at == f"{site}/progress/__init__.py:2" and frames.exclude == f"{site}/frames/**"
    assert frames.bytes >= 12000  # frames.core, and the plugin plots' group brings with what it imports


def test_a_wrapper_without_exec_runs_its_last_command_and_keeps_the_earlier_ones(tmp_path, elf_bytes):
    fs = _tree(tmp_path, {
        "/usr/bin/python3": elf_bytes, "/usr/bin/dash": elf_bytes, "/bin": ("->", "usr/bin"),
        "/usr/bin/sh": ("->", "dash"), "/usr/bin/mkdir": elf_bytes,
        "/run.sh": ('#!/bin/sh\nset -e\n# prepare\nexport MODE=prod\nmkdir -p /data\n'
                    'if [ -n "$DEBUG" ]; then\n    python3 -m debugger\nfi\n'
                    'python3 -m migrate \\\n    --to head\npython3 -m app "$@"\n'),
    })
    got = _resolver(fs, ["sh", "/run.sh", "serve"]).resolve()
    assert got.python.module == "app" and got.python.args == ("serve",)
    assert got.env["MODE"] == "prod"
    assert got.skipped == ("mkdir -p /data", "python3 -m migrate --to head")  # not what runs inside the `if`
    assert ("/run.sh", "wrapper-script") in got.hops and ("/usr/bin/sh", "wrapper-shell") in got.hops
    # A relative script is looked up in the workdir, as the shell does.
    fs2 = _tree(tmp_path / "rel", {"/usr/bin/python3": elf_bytes, "/usr/bin/sh": elf_bytes,
                                   "/srv/start.sh": "#!/bin/sh\npython3 -m app\n"})
    got = _resolver(fs2, ["sh", "start.sh"], workdir="/srv").resolve()
    assert got.python.module == "app" and ("/srv/start.sh", "wrapper-script") in got.hops


def test_a_wrapper_ending_in_control_flow_is_one_clear_refusal(tmp_path, elf_bytes):
    fs = _tree(tmp_path, {"/usr/bin/python3": elf_bytes, "/usr/bin/sh": elf_bytes,
                          "/run.sh": '#!/bin/sh\nif [ "$1" = web ]; then\n  exec python3 -m web\nelse\n'
                                     '  python3 -m worker\nfi\n',
                          "/loop.sh": "#!/bin/sh\nwhile true; do\n  python3 -m job\n  sleep 60\ndone\n"})
    got = _resolver(fs, ["sh", "/run.sh"]).resolve()
    assert got.python.module == "web"  # an `exec` line is followed wherever it is, as before
    with pytest.raises(UnsupportedEntrypoint, match="ends in shell control flow"):
        _resolver(fs, ["sh", "/loop.sh"]).resolve()
    with pytest.raises(UnsupportedEntrypoint, match="not in the image"):
        _resolver(fs, ["sh", "/missing.sh"]).resolve()


def test_a_data_dir_walk_that_follows_links_ends_on_a_link_loop(tmp_path):
    """Image contents are untrusted: `loop -> .` and `up -> ..` inside a library's data dir are walked once."""
    import signal

    from faktory.analyzers.envdirs import dir_files

    data = tmp_path / "usr/share/tooldata"
    (data / "sub").mkdir(parents=True)
    (data / "words.txt").write_text("a\n")
    (data / "sub" / "more.txt").write_text("b\n")
    os.symlink(".", data / "loop")
    os.symlink("..", data / "sub" / "up")
    empty = tmp_path / "usr/share/emptydata"
    empty.mkdir(parents=True)
    os.symlink(".", empty / "self")  # no file ever: the old walk never ended
    fs = DirFileSystem(tmp_path)
    signal.alarm(20)  # a hang fails the test instead of stalling the run
    try:
        found = dir_files(fs, "/usr/share/tooldata", max_bytes=None, follow_links=True)
        assert dir_files(fs, "/usr/share/emptydata", max_bytes=None, follow_links=True) == []
    finally:
        signal.alarm(0)
    assert found is not None
    assert {"/usr/share/tooldata/words.txt", "/usr/share/tooldata/sub/more.txt"} <= set(found)
    assert len(found) <= 4


def test_symlink_loops_in_an_image_end_every_walk(tmp_path, elf_bytes):
    """Untrusted image contents: a package data dir holding `loop -> .`, and a `..` link, are kept once; the
    analysis ends."""
    import signal

    site = f"{STDLIB}/site-packages"
    files = _python_files(elf_bytes, **{
        "/app/main.py": "import tool\n", f"{site}/tool/__init__.py": "", f"{site}/tool/data/words.txt": "a\n",
        f"{site}/tool/data/loop": ("->", "."), f"{site}/tool/data/nested/up": ("->", ".."),
        f"{site}/tool/data/nested/x.txt": "x\n", f"{site}/tool/data/pkgs": ("->", "../.."),
        f"{site}/tool/data/root": ("->", "/"), "/opt/unrelated/big.bin": "x" * 1000,
        "/app/rootlink": ("->", "/"),  # kept with the app's dir: a link to the root is a path like any other
    })
    signal.alarm(60)
    try:
        closure = _analyze_root(tmp_path / "root", files, ("python3", "/app/main.py"))
    finally:
        signal.alarm(0)
    paths = set(closure.paths())
    assert {f"{site}/tool/data/words.txt", f"{site}/tool/data/nested/x.txt"} <= paths
    assert not any("/loop/loop/" in p or "/up/up/" in p for p in paths)
    # links to an ancestor of the package (`../..`, `/`) hold the package, not its data
    assert "/opt/unrelated/big.bin" not in paths and f"{site}/tool/data/pkgs/tool/__init__.py" not in paths
    assert "/app/rootlink" in paths


def test_the_zone_tz_names_is_kept(tmp_path, elf_bytes):
    """`TZ=Europe/Berlin` (or `:Europe/Berlin`, or under $TZDIR): glibc reads that zone file for local time."""
    files = _python_files(elf_bytes, **{"/app/main.py": "print('local time')\n",
                                        "/usr/share/zoneinfo/Europe/Berlin": "TZif2 zone",
                                        "/usr/share/zoneinfo/Asia/Tokyo": "TZif2 other", "/opt/zones/Local": "TZif2 mine"})
    for tz, kept in (("TZ=Europe/Berlin", "/usr/share/zoneinfo/Europe/Berlin"),
                     ("TZ=:Europe/Berlin", "/usr/share/zoneinfo/Europe/Berlin")):
        paths = _analyze_root(tmp_path / tz.replace(":", "c").replace("/", "_"), files, ("python3", "main.py"),
                              env=("PATH=/usr/local/bin", tz)).paths()
        assert kept in paths and "/usr/share/zoneinfo/Asia/Tokyo" not in paths
    paths = _analyze_root(tmp_path / "tzdir", files, ("python3", "main.py"),
                          env=("PATH=/usr/local/bin", "TZ=Local", "TZDIR=/opt/zones")).paths()
    assert "/opt/zones/Local" in paths
