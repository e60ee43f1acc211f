"""Run images under the local Docker engine for verification: no network (`--network=none`), HTTP probed from
inside the container's network namespace (nsenter + this interpreter's urllib), never through a bridge."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from faktory.errors import FaktoryError, SourceUnavailable

TIMED_OUT = 124  # the exit code of a run killed at its timeout, as timeout(1) reports it
HTTP_GET = r"""
import json, sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode("utf-8", "replace")}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode("utf-8", "replace")}))
"""


class DockerFailed(FaktoryError):
    pass


@dataclass(frozen=True)
class RunResult:
    output: str
    exit_code: int | None  # None: the runtime cannot report it


@dataclass(frozen=True)
class HttpResult:
    status: int | None
    body: str
    error: str = ""


def docker(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("docker") is None:
        raise SourceUnavailable("docker CLI not found")
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise DockerFailed(f"docker {args[0]} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return proc


def in_daemon(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def load_archive(path: str) -> None:
    docker("load", "-i", path, timeout=600)


def ensure_in_daemon(ref: str, tag: str) -> str:
    """A daemon tag for any reference faktory reads: daemon names as they are, the rest copied by skopeo."""
    for prefix in ("docker-daemon:",):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    if not any(ref.startswith(p) for p in ("docker-archive:", "oci:", "docker://", "oci-archive:")):
        if in_daemon(ref):
            return ref
        ref = "docker://" + ref
    proc = subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", ref, f"docker-daemon:{tag}"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise DockerFailed(f"cannot load {ref} into the engine: {proc.stderr.strip()[:300]}")
    return tag


def run_once(image: str, args: list[str] | None, timeout: float = 300) -> RunResult:
    """`docker run --rm --network=none IMAGE [ARGS]`, stdout and stderr merged like a serial console. A run that
    outlives `timeout` is killed and is exit code 124 (timeout(1)'s), its output so far kept: a hang is a result."""
    name = f"faktory-run-{uuid.uuid4().hex[:12]}"
    cmd = ["docker", "run", "--rm", "--name", name, "--network=none", image, *(args or [])]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        # killing the client leaves the container running: kill it by name
        subprocess.run(["docker", "kill", name], capture_output=True, timeout=60)
        output = (exc.stdout or b"").decode("utf-8", "replace")
        return RunResult(f"{output}\n(no exit after {timeout:.0f} s: killed)", TIMED_OUT)
    return RunResult(proc.stdout.decode("utf-8", "replace"), proc.returncode)


def http_get_in_container(container: str, port: int, path: str, deadline: float) -> HttpResult:
    pid = docker("inspect", "-f", "{{.State.Pid}}", container).stdout.strip()
    url = f"http://127.0.0.1:{port}{path}"
    last = ""
    while time.monotonic() < deadline:
        state = docker("inspect", "-f", "{{.State.Running}}", container, check=False).stdout.strip()
        if state != "true":
            logs = docker("logs", container, check=False)
            return HttpResult(None, "", f"container exited: {(logs.stdout + logs.stderr).strip()[-300:]}")
        proc = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "--", sys.executable, "-I", "-c", HTTP_GET, url],
                              capture_output=True, text=True, timeout=30)
        if proc.returncode == 0 and proc.stdout.strip():
            doc = json.loads(proc.stdout)
            return HttpResult(doc["status"], doc["body"])
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        time.sleep(0.5)
    return HttpResult(None, "", f"no answer on {url}: {last}")


def serve_and_get(image: str, port: int, path: str, timeout: float = 120) -> HttpResult:
    cid = docker("run", "-d", "--network=none", image).stdout.strip()
    try:
        return http_get_in_container(cid, port, path, time.monotonic() + timeout)
    finally:
        docker("rm", "-f", cid, check=False)
