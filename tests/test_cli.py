"""The command line a new user meets first: every verb listed with one line, every verb's help renders."""

import subprocess
import sys

import pytest

from faktory.cli import VERBS


def faktory(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faktory", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_verb():
    result = faktory("--help")
    assert result.returncode == 0, result.stderr
    for verb in ("inspect", "analyze", "convert", "verify", "run", "audit", "serve"):
        assert verb in result.stdout


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_verb_help_renders(verb):
    result = faktory(verb, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and "Traceback" not in result.stderr


def test_unknown_verb_is_a_usage_error():
    result = faktory("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verb, extra", [("inspect", []), ("analyze", []), ("convert", ["--to", "oci", "-o", "out"])])
def test_malformed_platform_is_one_line(verb, extra, tmp_path):
    result = subprocess.run([sys.executable, "-m", "faktory", verb, *extra, "--platform", "amd64",
                             "docker-archive:/nonexistent.tar"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == ["faktory: error: platform must be os/arch[/variant], got 'amd64'"]
    assert not (tmp_path / "out").exists()
