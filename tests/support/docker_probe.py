"""Run a fixture image's probe in the real Docker engine (no network: --network=none).

One-shot probes replace Cmd and read stdout; HTTP probes start the image detached and fetch the endpoint from
inside the container with the image's own python3 (the engine has no bridge network to reach it from here).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import dataclass

HTTP_GET = """
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            sys.stdout.write(resp.read().decode()); break
    except OSError as err:
        if time.monotonic() > deadline:
            sys.exit(f"no answer from {url}: {err}")
        time.sleep(0.3)
"""


@dataclass(frozen=True)
class ProbeResult:
    returncode: int
    output: str
    logs: str = ""


def run_once(tag: str, argv: list[str] | tuple[str, ...], timeout: float = 120) -> ProbeResult:
    proc = subprocess.run(["docker", "run", "--rm", "--network=none", tag, *argv],
                          capture_output=True, text=True, timeout=timeout)
    return ProbeResult(proc.returncode, proc.stdout, proc.stderr)


def fetch_http(tag: str, port: int, path: str, wait: float = 60, python: str = "python3") -> ProbeResult:
    """Start tag detached with its own Cmd, GET 127.0.0.1:port/path from inside, always remove the container."""
    name = f"faktory-probe-{uuid.uuid4().hex[:10]}"
    started = subprocess.run(["docker", "run", "-d", "--network=none", "--name", name, tag],
                             capture_output=True, text=True, timeout=60)
    if started.returncode != 0:
        return ProbeResult(started.returncode, "", started.stderr)
    try:
        proc = subprocess.run(["docker", "exec", name, python, "-c", HTTP_GET, f"http://127.0.0.1:{port}{path}",
                               str(wait)], capture_output=True, text=True, timeout=wait + 30)
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=30)
        return ProbeResult(proc.returncode, proc.stdout, proc.stderr + logs.stdout + logs.stderr)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
