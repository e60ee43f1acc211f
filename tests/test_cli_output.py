"""Output that survives a pipe and answers plainly: `--why` chains, the audit table and its CI gate, with the
real CLI on the real fixture images (stdout is a pipe in every test here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import hidden_image

FAKTORY = [sys.executable, "-m", "faktory"]


def faktory(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FAKTORY, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "40", **env})


@pytest.fixture(scope="module")
def flask(fixture_images):
    return fixture_images["flask"].tag


@pytest.mark.parametrize("query, last", [
    ("/usr/lib/x86_64-linux-gnu/libc.so.6", "file:/usr/lib/x86_64-linux-gnu/libc.so.6"),
    ("/lib/x86_64-linux-gnu/libc.so.6", "file:/usr/lib/x86_64-linux-gnu/libc.so.6"),  # the usrmerge alias
    ("werkzeug.serving", "module:werkzeug.serving"),
])
def test_why_accepts_aliases_and_module_names_and_keeps_each_step_on_a_line(flask, query, last):
    result = faktory("analyze", flask, "--why", query)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "entrypoint" and len(lines) >= 2
    assert lines[-1].split()[2] == last, lines  # `reason → node (detail)`, never broken mid-step
    for depth, line in enumerate(lines):
        assert line.startswith("  " * depth) and not line.startswith("  " * depth + " "), lines


def test_piped_analyze_summary_keeps_the_whole_digest(flask):
    result = faktory("analyze", flask)
    assert result.returncode == 0, result.stderr
    digest = json.loads(faktory("inspect", "--json", flask).stdout)["digest"]
    assert result.stdout.splitlines()[0].split() == [flask, digest]


@pytest.mark.parametrize("query, says", [
    ("/usr/bin/perl", "/usr/bin/perl is in the image but not kept"),
    ("pip", "pip is in the image but not kept"),
    ("/opt/nothing/here.so", "/opt/nothing/here.so is not in the image"),
])
def test_why_tells_not_kept_from_not_in_the_image(flask, query, says):
    result = faktory("analyze", flask, "--why", query)
    assert result.returncode == 1
    assert result.stdout == "" and result.stderr.strip().startswith(f"faktory: {says}"), result.stderr


def test_audit_table_piped_keeps_one_row_per_image_and_the_gate_exits_1(fixture_images, tmp_path):
    refs = [fixture_images["flask"].tag, f"docker-archive:{tmp_path}/missing.tar"]
    common = ["--cache-dir", str(tmp_path / "cache"), "--jobs", "1"]
    result = faktory("audit", *refs, "--targets", "oci,km", *common)
    assert result.returncode == 0, result.stderr  # no gate: the table is the answer
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 2, result.stdout  # one line per image, however narrow COLUMNS is
    assert refs[1] in result.stdout.split("\n", len(rows) + 4)[-1]  # the missing archive's reason, below
    # flask's computed imports all sit inside library functions: notes, not "unverified"
    assert "✓" in rows[0] and "✓?" not in rows[0] and rows[0].count("│") == 11

    gated = faktory("audit", refs[0], "--targets", "rumprun", "--fail-on", "blocked", *common)
    assert gated.returncode == 1
    assert gated.stderr.strip().splitlines()[-1] == f"faktory: --fail-on blocked: 1 image(s) fail: {refs[0]}"
    assert faktory("audit", refs[0], "--targets", "oci", "--fail-on", "unverified", "-q", *common).returncode == 0
    # an app whose own code imports a name computed at run time: convertible, but unverified
    hidden = hidden_image.build(fixture_images["py3.12-slim"].tag, "faktory-test/cli-unverified:latest",
                                tmp_path / "hidden")
    try:
        unverified = faktory("audit", hidden, "--targets", "oci", "--fail-on", "unverified", "-q", *common)
    finally:
        hidden_image.remove(hidden)
    assert unverified.returncode == 1, unverified.stderr
    clean = fixture_images["pkg-app"].tag  # pure Python, no name the analysis cannot resolve
    passing = faktory("audit", clean, "--targets", "oci", "--fail-on", "unverified", "-q", "--json", "-", *common)
    assert passing.returncode == 0, passing.stderr
    assert json.loads(passing.stdout)["images"][0]["targets"]["oci"]["convertible"] is True
    unreadable = faktory("audit", refs[1], "--targets", "oci", "--fail-on", "blocked", "-q", *common)
    assert unreadable.returncode == 1


def test_audit_fail_on_takes_only_its_two_words():
    result = faktory("audit", "x", "--fail-on", "warnings")
    assert result.returncode == 2
    assert result.stderr.strip() == "faktory: error: --fail-on 'warnings': choose from blocked, unverified"
