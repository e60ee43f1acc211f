"""Honest but precise verdicts on real images: a computed import at module level or in the app's own code leaves
the verdict "convertible, unverified"; one only inside a library function is a note with its file:line (it runs
only if the app calls that function), and the verdict stays "convertible"."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

FAKTORY = [sys.executable, "-m", "faktory"]
TAG = "faktory-test/computed-imports:latest"
SITE = "/usr/local/lib/python3.12/site-packages"
# A library: one computed import runs when it is imported, the other only when `load` is called.
LIBRARY = '''import importlib
import os

BACKEND = importlib.import_module(os.environ.get("PICKER_BACKEND", "json"))


def load(name):
    return importlib.import_module(name)
'''
# The app's own code: a computed import inside a function counts all the same (the app is what runs).
APP = '''import importlib
import sys

import picker


def main(name):
    return importlib.import_module(name)


print("backend", picker.BACKEND.__name__, main(sys.argv[1] if len(sys.argv) > 1 else "csv").__name__)
'''


def faktory(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FAKTORY, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})


def audit(tag: str, out) -> tuple[dict, str]:
    """The oci verdict from the JSON report, and the terminal table."""
    result = faktory("audit", tag, "--targets", "oci", "--json", str(out), "--no-cache")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    return json.loads(out.read_text())["images"][0]["targets"]["oci"], result.stdout


@pytest.fixture(scope="module")
def computed(fixture_images, tmp_path_factory):
    context = tmp_path_factory.mktemp("computed")
    (context / "app.py").write_text(APP)
    (context / "picker").mkdir()
    (context / "picker" / "__init__.py").write_text(LIBRARY)
    (context / "Dockerfile").write_text(
        f"FROM {fixture_images['py3.12-slim'].tag}\nWORKDIR /app\nCOPY app.py ./\nCOPY picker {SITE}/picker\n"
        'CMD ["python", "app.py"]\n')
    subprocess.run(["docker", "build", "-q", "-t", TAG, str(context)], check=True, capture_output=True, timeout=600)
    yield TAG
    subprocess.run(["docker", "rmi", "-f", TAG], capture_output=True, timeout=120)


def test_module_level_and_app_computed_imports_stay_unverified_a_library_function_one_is_a_note(computed, tmp_path):
    run = subprocess.run(["docker", "run", "--rm", computed], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "backend json csv", run.stderr  # the image does what the test says it does
    verdict, table = audit(computed, tmp_path / "report.json")
    assert verdict["verdict"] == "convertible, unverified"
    unverified = sorted((i["kind"], i["location"]) for i in verdict["unverified"])
    assert unverified == [("computed-import", "/app/app.py:8"), ("computed-import", f"{SITE}/picker/__init__.py:4")]
    assert [(i["kind"], i["location"]) for i in verdict["notes"]] == [
        ("lazy-computed-import", f"{SITE}/picker/__init__.py:8")]
    assert "unverified computed-import" in table and "note lazy-computed-import" in table


def test_flask_computed_imports_are_all_inside_library_functions_so_it_is_convertible_with_notes(fixture_images,
                                                                                               tmp_path):
    verdict, table = audit(fixture_images["flask"].tag, tmp_path / "report.json")
    assert verdict["verdict"] == "convertible" and verdict["convertible"] and not verdict["unverified"]
    notes = verdict["notes"]
    assert len(notes) >= 5, notes  # flask, werkzeug, jinja2 and click import by name inside functions
    for note in notes:
        assert note["kind"] == "lazy-computed-import"
        path, _, line = note["location"].rpartition(":")
        assert path.startswith(f"{SITE}/") and line.isdigit(), note  # listed with file:line, never silent
    assert "note lazy-computed-import" in table and "unverified" not in table
    html = tmp_path / "report.html"
    assert faktory("audit", fixture_images["flask"].tag, "--targets", "oci", "--html", str(html)).returncode == 0
    assert "computed import(s) inside library functions" in html.read_text() and "✓?" not in html.read_text()
    # the analysis lists every one of them too
    found = json.loads(faktory("analyze", fixture_images["flask"].tag, "--json").stdout)["findings"]
    assert sorted(f["location"] for f in found if f["kind"] == "lazy-computed-import") == \
        sorted(n["location"] for n in notes)


def test_the_converted_output_says_both_kinds(computed, tmp_path):
    out = tmp_path / "out"
    result = faktory("convert", computed, "--to", "oci", "-o", str(out))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "unverified" in result.stderr and "computed import(s) inside library functions" in result.stderr
    found = {(f["kind"], f["location"]) for f in json.loads((out / "faktory.json").read_text())["findings"]}
    assert ("computed-import", "/app/app.py:8") in found
    assert ("lazy-computed-import", f"{SITE}/picker/__init__.py:8") in found
    assert "lazy-computed-import" in (out / "README.md").read_text()
