"""The analyzer on the real fixture images (via the inspector), and `faktory analyze` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from faktory.analyzers import report
from faktory.analyzers.analysis import analyze
from faktory.sources import open_image
from tests.oracle.check import with_cmd

FAKTORY = [sys.executable, "-m", "faktory"]


def _analyze(fixture):
    image = open_image(fixture.tag)
    cmd = fixture.probe.cmd if fixture.probe else None
    return image, analyze(with_cmd(image, tuple(cmd)) if cmd else image)


@pytest.mark.parametrize("base", ["py3.8-slim", "py3.11-slim", "py3.12-slim", "py3.13-slim"])
def test_source_built_interpreters(base, fixture_images):
    fixture = fixture_images[base]
    image, closure = _analyze(fixture)
    interp = closure.interpreter
    major, minor = map(int, fixture.python_version.split("."))
    assert interp.version[:2] == (major, minor)
    declared = image.config.env_map.get("PYTHON_VERSION")  # what the base image says it installed
    assert declared, "the python:3.X-slim-like bases declare PYTHON_VERSION"
    assert interp.version_str == declared  # the micro version comes from libpython's bytes
    assert interp.real_path == f"/usr/local/bin/python{major}.{minor}"
    assert interp.libpython == f"/usr/local/lib/libpython{major}.{minor}.so.1.0" and interp.pie
    assert (interp.prefix, interp.stdlib_dir) == ("/usr/local", f"/usr/local/lib/python{major}.{minor}")
    assert interp.abi_tag == f"cpython-{major}{minor}-x86_64-linux-gnu" and interp.libc == "glibc"
    paths = set(closure.paths())
    for needed in (interp.libpython, f"{interp.stdlib_dir}/os.py", f"{interp.stdlib_dir}/lib-dynload",
                   f"{interp.stdlib_dir}/encodings/__init__.py", f"{interp.stdlib_dir}/encodings/utf_8.py",
                   "/lib64", "/usr/lib/x86_64-linux-gnu/libc.so.6"):
        assert needed in paths, needed
    assert f"{interp.stdlib_dir}/site-packages" in closure.sys_path
    assert closure.size < image.size / 2


def test_debian_python_is_static_and_not_pie(fixture_images):
    image, closure = _analyze(fixture_images["debian-python"])
    interp = closure.interpreter
    assert interp.real_path == "/usr/bin/python3.11" and interp.libpython is None and not interp.pie
    assert "/usr/lib/python3/dist-packages" in closure.sys_path
    kinds = {f.kind for f in closure.findings}
    assert {"static-libpython", "non-pie-interpreter"} <= kinds


def test_runenv_style_base(fixture_images):
    fixture = fixture_images["runenv-python-3.12"]
    _, closure = _analyze(fixture)
    assert closure.interpreter.real_path == "/usr/local/bin/python3.12"
    assert closure.interpreter.stdlib_dir == "/usr/local/lib/python3.12"
    assert closure.launch.argv[0] == "/usr/local/bin/python3.12" and closure.launch.argv[1] == "-c"


def test_fastapi_console_script_hooks_and_dist_info(fixture_images):
    image, closure = _analyze(fixture_images["fastapi"])
    graph = closure.graph
    assert closure.launch.script and closure.launch.script.endswith("/uvicorn")
    for module in ("uvicorn.loops.auto", "uvicorn.protocols.http.auto", "uvicorn.lifespan.on", "fastapi",
                   "pydantic.main"):
        assert f"module:{module}" in graph, module
    app_modules = [n for n, d in graph.nodes(data=True) if n.startswith("module:") and
                   str(d.get("path", "")).startswith(closure.launch.workdir + "/")]
    assert app_modules, "the `module:app` argument of uvicorn names the app module"
    assert any(p.endswith(".dist-info/METADATA") and "/fastapi-" in p for p in closure.paths())


def test_cli_summary_json_why_graph(fixture_images, tmp_path):
    tag = fixture_images["flask"].tag
    doc = json.loads(subprocess.run([*FAKTORY, "analyze", tag, "--json"], capture_output=True, text=True,
                                    check=True).stdout)
    assert doc["schema"] == "faktory.analyze/v1"
    assert doc["interpreter"]["version"].startswith("3.12.") and doc["launch"]["argv"][1] == "/srv/app/app.py"
    assert "flask" in doc["modules"] and any(s["owner"] == "flask" for s in doc["sizes"])
    assert any(f["kind"] == "port" for f in doc["findings"])

    why = subprocess.run([*FAKTORY, "analyze", tag, "--why", "/usr/local/lib/libpython3.12.so.1.0"],
                         capture_output=True, text=True, check=True).stdout
    assert "DT_NEEDED" in why and "entrypoint" in why

    graph_file = tmp_path / "closure.graphml"
    out = subprocess.run([*FAKTORY, "analyze", tag, "--graph", str(graph_file), "--sizes"], capture_output=True,
                         text=True, check=True).stdout
    assert "flask" in out and "bytes by distribution" in out
    graph = nx.read_graphml(graph_file)
    assert graph.has_node("module:flask") and graph.number_of_edges() > 100


def test_django_settings_strings_and_the_folded_findings_table(fixture_images):
    tag = fixture_images["django"].tag
    doc = json.loads(subprocess.run([*FAKTORY, "analyze", tag, "--json"], capture_output=True, text=True,
                                    check=True).stdout)
    modules = set(doc["modules"])
    # named only by strings in settings.py, by DJANGO_SETTINGS_MODULE, or found by the template engine's scan
    assert {"shopsite.settings", "shop.apps", "shop.templatetags.shop_extras", "whitenoise.middleware",
            "django.db.backends.sqlite3.base", "django.templatetags.static", "django.conf.locale.de.formats",
            "django.template.context_processors"} <= modules
    library_facts = [f for f in doc["findings"] if "/site-packages/django/" in (f.get("location") or "")]
    assert len(library_facts) > 5  # the JSON keeps every one ...
    table = subprocess.run([*FAKTORY, "analyze", tag], capture_output=True, text=True, check=True,
                           env={**os.environ, "COLUMNS": "250"}).stdout
    django_rows = [line for line in table.splitlines() if "│ django:" in line.replace("│  ", "│ ")]
    assert django_rows and len(django_rows) <= len({f["kind"] for f in library_facts})  # ... the table folds them


def test_cli_user_errors_are_one_line(tmp_path):
    proc = subprocess.run([*FAKTORY, "analyze", f"docker-archive:{tmp_path / 'absent.tar'}"], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("faktory: error:") and "Traceback" not in proc.stderr
    proc = subprocess.run([*FAKTORY, "analyze", "whatever:latest", "--graph", str(tmp_path / "g.png")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and ".dot or .graphml" in proc.stderr
    assert not list(Path(tmp_path).iterdir())


def test_same_closure_from_every_source(fixture_images):
    """daemon, docker-archive and OCI layout give the same image, hence the same closure."""
    fixture = fixture_images["flask"]
    closures = [analyze(open_image(ref)) for ref in (fixture.tag, f"docker-archive:{fixture.archive}",
                                                     f"oci:{fixture.oci}:latest")]
    first = closures[0]
    for other in closures[1:]:
        assert other.paths() == first.paths() and other.launch == first.launch


def test_numpy_findings_and_vendored_libraries(fixture_images):
    _, closure = _analyze(fixture_images["numpy"])
    extensions = [f for f in closure.findings if f.kind == "c-extension"]
    assert extensions and all("/site-packages/numpy/" in f.location.path for f in extensions)
    assert not [f for f in closure.findings if f.kind == "unresolved-library"]
    vendored = [p for p in closure.paths() if "/numpy.libs/" in p]
    assert any("openblas" in p for p in vendored) and any("gfortran" in p for p in vendored)
    why = [reason for _, reason, _ in report.why(closure, next(p for p in vendored if "gfortran" in p))]
    assert why[-1] == "DT_NEEDED"  # reached from OpenBLAS through the extension's inherited DT_RPATH


def test_hidden_imports_declared_by_the_library_itself(fixture_images):
    """numpy ships numpy/_pyinstaller/hook-numpy.py: its literal hiddenimports are honoured."""
    _, closure = _analyze(fixture_images["numpy"])
    tests_ext = next(p for p in closure.paths() if "/numpy/core/_multiarray_tests." in p)
    assert "shipped-hook" in [reason for _, reason, _ in report.why(closure, tests_ext)]


def test_cli_help_renders():
    proc = subprocess.run([*FAKTORY, "analyze", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--why" in proc.stdout and "Traceback" not in proc.stderr
