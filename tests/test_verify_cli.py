"""`faktory verify` from the command line: the pass/fail table and its exit codes, with real Docker runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

FAKTORY = str(Path(__file__).resolve().parents[1] / ".venv/bin/faktory")


def _verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FAKTORY, "verify", *args], capture_output=True, text=True, timeout=900,
                          env={"COLUMNS": "200", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})


def test_verify_oci_passes_and_a_wrong_expectation_fails(fixture_images, tmp_path):
    fx = fixture_images["whiteout"]
    probe = " ".join(fx.probe.cmd)
    ok = _verify(fx.tag, "--to", "oci", "--probe", probe, "--expect", fx.probe.expect, "-o", str(tmp_path / "o"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "pass" in ok.stdout and "FAIL" not in ok.stdout
    assert (tmp_path / "o" / "faktory.json").is_file()
    bad = _verify(fx.tag, "--to", "oci", "--probe", probe, "--expect", "no such text anywhere")
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "not in the converted" in bad.stdout


def test_verify_structural_only_target(fixture_images):
    fx = fixture_images["whiteout"]
    proc = _verify(fx.tag, "--to", "nanos")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tree " in proc.stdout and "Nanos provides" in proc.stdout


def test_verify_blocked_target_is_a_user_error(fixture_images):
    proc = _verify(fixture_images["whiteout"].tag, "--to", "rumprun")
    assert proc.returncode == 2
    assert proc.stderr.startswith("faktory: error: cannot convert to rumprun") and "python-version" in proc.stderr


def test_verify_json_is_a_document_with_the_verdict(fixture_images):
    import json

    proc = _verify(fixture_images["whiteout"].tag, "--to", "nanos", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "faktory.verify/v1" and doc["target"] == "nanos" and doc["passed"] is True
    assert doc["checks"] and all(set(c) == {"name", "original", "converted", "passed", "detail"} for c in doc["checks"])


def test_convert_verify_runs_verify_right_after_emitting(fixture_images, tmp_path):
    fx = fixture_images["whiteout"]
    env = {"COLUMNS": "200", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    proc = subprocess.run([FAKTORY, "convert", fx.tag, "--to", "oci", "-o", str(tmp_path / "o"), "--verify"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "faktory verify" in proc.stdout and "pass" in proc.stdout and "FAIL" not in proc.stdout
    assert (tmp_path / "o" / "faktory.json").is_file()


def test_a_wrapper_script_without_exec_behaves_the_same_in_oci_and_microvm(fixture_images, tmp_path):
    """`CMD ["sh", "/run.sh"]`, a script that prints, makes a dir and then runs the app as its last command (no
    `exec`): oci keeps the shell, and the microVM runs the image's own command line since every command of the
    script was followed."""
    tag = "faktory-test/wrapper-no-exec:latest"
    script = "#!/bin/sh\nset -e\necho starting\nmkdir -p /tmp/work\ninvctl report\n"
    build = tmp_path / "ctx"
    build.mkdir()
    (build / "run.sh").write_text(script)
    (build / "Dockerfile").write_text(f"FROM {fixture_images['pkg-app'].tag}\nCOPY run.sh /run.sh\n"
                                      'CMD ["sh", "/run.sh"]\n')
    subprocess.run(["docker", "build", "-q", "-t", tag, str(build)], check=True, capture_output=True, timeout=600)
    try:
        for target in ("oci", "microvm"):
            proc = _verify(tag, "--to", target)
            assert proc.returncode == 0, target + proc.stdout + proc.stderr
            assert "starting" in proc.stdout and "FAIL" not in proc.stdout, target + proc.stdout
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)


def test_a_converted_run_that_hangs_is_a_failed_check_and_leaves_no_container(fixture_images, tmp_path):
    # the converted image lacks /etc/os-release, so only it sleeps past the timeout: before, the expired
    # `docker run` escaped as a traceback and left the container running
    fx = fixture_images["whiteout"]
    probe = "python3 -c \"import os, time; os.path.exists('/etc/os-release') or time.sleep(120); print('up')\""
    before = set(subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True).stdout.split())
    proc = _verify(fx.tag, "--to", "oci", "--timeout", "15", "--probe", probe, "-o", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "exit 124" in proc.stdout and "FAIL" in proc.stdout
    after = set(subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True).stdout.split())
    assert after <= before, "the timed-out container is still running"
