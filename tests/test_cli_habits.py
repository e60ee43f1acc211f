"""Habits users bring from docker, skopeo, syft and kraft: --version, completion, -v/-q on every verb, one-line
usage errors, a pull policy. Every test runs the real `faktory` process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from faktory.cli import VERBS
from faktory.commands.common import PULL_DEFAULTS
from tests.support.tcp import Listener as _Listener

FAKTORY = [sys.executable, "-m", "faktory"]


def faktory(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FAKTORY, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_version_prints_the_package_version():
    from importlib.metadata import version

    result = faktory("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"faktory {version('faktory-unikernel')}"


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o default -F _faktory_completion faktory"),
                                           ("zsh", "#compdef faktory"), ("fish", "complete --command faktory")])
def test_completion_scripts_generate(shell, marker):
    result = faktory("completion", shell)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout and "_FAKTORY_COMPLETE" in result.stdout


def test_bash_completion_completes_verbs_and_options():
    """What bash's completion function asks the program, answered by the real CLI."""
    words = faktory("completion", "bash")  # the script sets these variables before calling faktory
    assert "COMP_WORDS" in words.stdout
    verbs = faktory(_FAKTORY_COMPLETE="complete_bash", COMP_WORDS="faktory ins", COMP_CWORD="1")
    assert verbs.stdout.split() == ["inspect"], verbs.stderr
    options = faktory(_FAKTORY_COMPLETE="complete_bash", COMP_WORDS="faktory inspect --pu", COMP_CWORD="2")
    assert options.stdout.split() == ["--pull"], options.stderr


def test_unknown_shell_is_one_line():
    result = faktory("completion", "bsh")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["faktory: error: unknown shell 'bsh': choose from bash, zsh, fish; "
                                                  "did you mean 'bash'?"]


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_takes_verbosity_options(verb):
    result = faktory(verb, "--help", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    for option in ("--verbose", "-v", "--quiet", "-q", "--log-level"):
        assert option in result.stdout, (verb, option)
    assert ("--pull" in result.stdout) == (verb in PULL_DEFAULTS)


@pytest.mark.parametrize("args", [["inspect", "--frob", "x"], ["frobnicate"], ["inspect"], ["cache", "--until"],
                                  ["inspect", "--log-level", "loud", "x"], ["inspect", "--pull", "sometimes", "x"]])
def test_usage_errors_are_one_line_like_application_errors(args):
    result = faktory(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faktory: error: "), result.stderr
    assert "╭" not in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def listener():
    lst = _Listener()
    yield lst
    lst.close()


def test_pull_never_fails_at_once_naming_the_engine_and_connects_nowhere(services, listener):
    ref = f"127.0.0.1:{listener.port}/faktory-fixture/flsk:latest"
    result = faktory("inspect", "--pull", "never", ref)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not found in the Docker engine" in lines[0] and "--pull never" in lines[0], lines
    assert "unix://" in lines[0] or "tcp://" in lines[0]
    assert listener.connections == 0


def test_pull_missing_says_where_it_goes_before_pulling(services, listener):
    ref = f"127.0.0.1:{listener.port}/faktory-fixture/flsk:latest"
    result = faktory("inspect", ref)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"faktory: {ref} is not in the Docker engine: pulling from {ref}"
    assert listener.connections >= 1
    quiet = faktory("inspect", "-q", ref)
    assert not any("pulling from" in line for line in quiet.stderr.splitlines())


def test_pull_always_reads_the_registry_even_when_the_engine_has_it(services, fixture_images):
    flask = fixture_images["flask"]
    name = flask.registry_ref  # an engine name whose registry is the local one
    result = faktory("inspect", "--json", "--pull", "always", name)
    assert result.returncode == 0, result.stderr
    assert '"source": "registry"' in result.stdout
    assert result.stderr.splitlines()[0].startswith(f"faktory: pulling {name}")
    engine = faktory("inspect", "--json", "--pull", "never", flask.tag)
    assert engine.returncode == 0 and '"source": "daemon"' in engine.stdout, engine.stderr


def test_the_cli_needs_no_test_extra():
    """Every module of the installed package imports with the `test` extra's packages made unimportable."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    test_only = [d.split(">")[0].split("=")[0].split("[")[0].strip().replace("-", "_")
                 for d in project["optional-dependencies"]["test"]]
    runtime = {d.split(">")[0].split("=")[0].split("[")[0].strip().replace("-", "_") for d in project["dependencies"]}
    assert test_only and not set(test_only) & runtime
    script = f"""
import importlib, importlib.abc, pkgutil, sys
BLOCKED = {test_only!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError('test-only package ' + name)
sys.meta_path.insert(0, Block())
seen = 0
for top in ('faktory', 'faktory.analyzers', 'faktory.emitters'):  # the last two live outside faktory/
    package = importlib.import_module(top)
    for mod in pkgutil.walk_packages(package.__path__, top + '.'):
        if mod.name != 'faktory.__main__':  # that one runs the CLI
            importlib.import_module(mod.name)
            seen += 1
assert seen > 100, seen
from faktory.cli import main
sys.argv = ['faktory', '--version']
main()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("faktory ")


def test_verbosity_moves_what_stderr_says(services, fixture_images):
    """-v adds debug lines, -q and --log-level warning drop the pull notice; before or after the verb alike."""
    flask = fixture_images["flask"]
    args = ["inspect", "--json", "--pull", "always", flask.registry_ref]
    normal = faktory(*args)
    assert normal.returncode == 0 and normal.stderr.startswith("faktory: pulling "), normal.stderr
    for loud in (["-v", *args], [*args, "--verbose"], [*args, "--log-level", "debug"]):
        result = faktory(*loud) if loud[0] != "-v" else faktory(loud[0], *loud[1:])
        assert result.returncode == 0, result.stderr
        assert "pull policy always" in result.stderr and len(result.stderr.splitlines()) > 1, loud
    for hush in (["-q", *args], [*args, "-q"], ["--log-level", "warning", *args]):
        result = faktory(*hush)
        assert result.returncode == 0 and result.stderr == "", (hush, result.stderr)
        assert result.stdout == normal.stdout
