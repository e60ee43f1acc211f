"""`--observe`: the original app runs sandboxed under strace (real bwrap, strace, engine images), its files
join the closure, and what the static analysis missed is reported and then converted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from faktory import api
from faktory.analyzers.options import AnalyzeOptions, ObserveSettings
from faktory.observe import observe
from faktory.observe.sandbox import SandboxUnreachable
from tests import hidden_image
from tests.support.ci import TRACE_TOOLS, require_tools

TAG = "faktory-test/observe-hidden:latest"
PLUGIN_FILES = (f"{hidden_image.PLUGIN}/__init__.py", f"{hidden_image.PLUGIN}/message.txt",
                "/usr/local/lib/python3.12/colorsys.py")


def faktory(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faktory", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd)


@pytest.fixture(scope="module", autouse=True)
def tools():
    require_tools(*TRACE_TOOLS, purpose="to observe")


@pytest.fixture(scope="module")
def hidden(fixture_images, tmp_path_factory):
    tag = hidden_image.build(fixture_images["py3.12-slim"].tag, TAG, tmp_path_factory.mktemp("hidden"))
    yield tag
    hidden_image.remove(tag)


def test_observe_reports_what_static_analysis_missed_and_the_output_runs(hidden, tmp_path):
    static = json.loads(faktory("analyze", hidden, "--json").stdout)
    kept = {f["path"] for f in static["files"]}
    assert not kept & set(PLUGIN_FILES), "the hidden import is visible statically: the test proves nothing"
    assert "observed_missed" not in static

    seen = faktory("analyze", hidden, "--observe", "--json")
    assert seen.returncode == 0, seen.stderr
    report = json.loads(seen.stdout)
    assert set(PLUGIN_FILES) <= set(report["observed_missed"])
    assert set(PLUGIN_FILES) <= {f["path"] for f in report["files"]}
    assert report["observation"]["returncode"] == 0 and report["observation"]["argv"] == ["python", "app.py"]
    assert any(f["kind"] == "observed-missed" for f in report["findings"])
    assert not set(report["observed_missed"]) & kept  # only what static analysis lacked

    table = faktory("analyze", hidden, "--observe")
    assert "missed by the static analysis" in table.stdout and f"{hidden_image.PLUGIN}/message.txt" in table.stdout
    why = faktory("analyze", hidden, "--observe", "--why", f"{hidden_image.PLUGIN}/message.txt")
    assert "observed → file:" in why.stdout and "python app.py" in why.stdout

    out = tmp_path / "oci"
    conv = faktory("convert", hidden, "--to", "oci", "-o", str(out), "--observe")
    assert conv.returncode == 0, conv.stderr
    from faktory.runner.verify import Probe, verify_output

    checks = verify_output(hidden, out, Probe(expect=hidden_image.EXPECT), timeout=300)
    assert all(c.passed for c in checks), [(c.name, c.detail) for c in checks]


def test_the_static_output_of_the_same_app_does_not_run(hidden, tmp_path):
    """Without --observe the converted app lacks the plugin: what the observed test proves is real."""
    from faktory.runner.verify import Probe, verify_output

    out = tmp_path / "oci"
    assert faktory("convert", hidden, "--to", "oci", "-o", str(out)).returncode == 0
    checks = verify_output(hidden, out, Probe(expect=hidden_image.EXPECT), timeout=300)
    assert not all(c.passed for c in checks)
    # ... and the static analysis says so: a finding at the computed import, never silence
    found = json.loads((out / "faktory.json").read_text())["findings"]
    computed = [f for f in found if f["kind"] == "computed-import"]
    assert computed and computed[0]["location"].rsplit(":", 1)[0].endswith("/app.py"), found


def test_http_observation_of_the_flask_fixture(fixture_images):
    fx = fixture_images["flask"]
    probe = fx.probe
    result = faktory("analyze", fx.tag, "--observe", "--http", f"{probe.http_port}{probe.http_path}", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["observation"]["answered"] is True
    assert report["observed_missed"] == []  # the oracle's recall, seen through the product
    assert not [f for f in report["findings"] if f["kind"].startswith("observe-")]


def test_probe_replaces_cmd_and_a_server_without_http_is_stopped_at_the_timeout(fixture_images):
    fx = fixture_images["flask"]
    image = api.load_image(fx.tag)
    once = api.analyze(image, AnalyzeOptions(observe=ObserveSettings(probe=tuple(fx.probe.cmd))))
    assert once.observation["argv"] == list(fx.probe.cmd) and once.observation["returncode"] == 0
    served = api.analyze(image, AnalyzeOptions(observe=ObserveSettings(timeout=4)))
    assert served.observation["timed_out"] is True
    assert "observe-stopped" in {f.kind for f in served.findings}


def test_a_failing_run_is_a_finding(hidden):
    image = api.load_image(hidden)
    probe = ("python", "-c", "import sys; print('bye', file=sys.stderr); sys.exit(3)")
    closure = api.analyze(image, AnalyzeOptions(observe=ObserveSettings(probe=probe)))
    found = [f for f in closure.findings if f.kind == "observe-incomplete"]
    assert closure.observation["returncode"] == 3
    assert len(found) == 1 and "exited 3: bye" in found[0].message


def test_the_sandbox_is_read_only_offline_and_leaves_nothing(hidden, tmp_path):
    script = ("import os, socket\n"
              "try:\n    open('/app/written', 'w'); print('wrote')\nexcept OSError as e: print('write', e.errno)\n"
              "s = socket.socket(); s.settimeout(3)\n"
              "try:\n    s.connect(('1.1.1.1', 80)); print('connected')\nexcept OSError as e: print('net', e.errno)\n"
              "print('tmp', open('/tmp/x', 'w').write('ok'))\n"
              "print('caps', open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
              "print('uid', os.getuid(), '->', open('/proc/self/uid_map').read().split()[1])\n"
              "try:\n    os.close(os.open('/proc/sys/kernel/core_pattern', os.O_WRONLY)); print('sysctl writable')\n"
              "except OSError as e: print('sysctl', e.errno)\n")
    image = api.load_image(hidden)
    with pytest.raises(SandboxUnreachable, match="cannot enter .*pytest-of-root"):  # pytest's tmp is root's alone
        observe(image, ObserveSettings(probe=("python", "-c", script)), work_root=str(tmp_path))
    work = Path(tempfile.mkdtemp(prefix="observe-test-"))
    os.chmod(work, 0o711)
    try:
        seen = observe(image, ObserveSettings(probe=("python", "-c", script), timeout=60), work_root=str(work))
        left = list(work.iterdir())
    finally:
        shutil.rmtree(work)
    assert seen.returncode == 0, seen.stderr_tail
    lines = seen.output.split("\n")
    assert "write 30" in lines  # EROFS
    assert "net 101" in lines  # ENETUNREACH: loopback only
    assert "tmp 2" in lines
    assert "caps 0000000000000000" in lines
    assert "uid 0 -> 65534" in lines  # root of its own user namespace only: nobody on the host
    assert "sysctl 13" in lines  # EACCES: host files that trust uid 0 are out of reach
    assert left == []  # the private root is gone
    assert {"/usr/local/bin/python", "/usr/local/lib/python3.12/os.py"} <= seen.paths


def test_a_missing_tool_is_one_line(fixture_images, tmp_path):
    result = faktory("analyze", fixture_images["flask"].tag, "--observe", env={"PATH": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "faktory: error: --observe needs strace, bwrap, nsenter, setpriv on this host (scripts/setup.sh installs them)"]


@pytest.mark.parametrize("args, message", [
    (["--probe", "python app.py"], "--probe, --http and --observe-timeout need --observe"),
    (["--observe", "--http", "eighty/x"], "the HTTP check wants PORT/PATH"),
    (["--observe", "--observe-timeout", "-3"], "the timeout must be between 0 and 3600 seconds"),
    (["--observe", "--probe", "a", "--http", "80/"], "takes a probe or an HTTP check, not both"),
    (["--observe", "--probe", "'unclosed"], "bad probe"),
])
def test_malformed_observe_options_are_one_line(args, message, tmp_path):
    for verb, extra in (("analyze", []), ("convert", ["--to", "oci", "-o", "out"])):
        result = faktory(verb, "docker-archive:/nonexistent.tar", *extra, *args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and lines[0].startswith("faktory: error: ")
        assert not (tmp_path / "out").exists()


def test_audit_takes_observe(hidden):
    result = faktory("audit", hidden, "--observe", "--targets", "oci", "--json", "-", "--quiet")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    row = json.loads(result.stdout)["images"][0]
    kinds = {f["kind"] for f in row["findings"]}
    assert "observed-missed" in kinds, row["findings"]
