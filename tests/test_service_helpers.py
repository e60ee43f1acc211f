"""Helpers for the webhook service tests: real `faktory serve` processes, a notification recorder, waits.

(No tests here; the name keeps it next to the tests it serves.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

SECRET = "hook-secret-for-tests"
AUTH = {"Authorization": f"Bearer {SECRET}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Proc:
    """A `faktory serve` process (server or worker-only) with its log in a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict | None = None):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "faktory", "serve", *args], stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        try:  # whatever the group left behind (huey worker processes)
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class Server(Proc):
    def __init__(self, tmp: Path, *extra: str, state_dir: Path | None = None, env: dict | None = None,
                 port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        state = state_dir or tmp / "state"
        super().__init__(["--port", str(self.port), "--state-dir", str(state), "--secret", SECRET, *extra],
                         tmp / f"serve-{self.port}.log", env)
        try:
            wait_for(self._healthy, 30, f"faktory serve on {self.url}")
        except AssertionError:
            self.stop()
            raise AssertionError(f"faktory serve did not come up:\n{self.output()[-3000:]}") from None

    def _healthy(self) -> bool:
        if self.popen.poll() is not None:
            raise AssertionError(f"faktory serve exited {self.popen.returncode}:\n{self.output()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def job(self, job_id: str) -> dict:
        return httpx.get(f"{self.url}/jobs/{job_id}", headers=AUTH, timeout=10).json()

    def jobs(self, limit: int = 1000) -> list[dict]:
        return httpx.get(f"{self.url}/jobs", params={"limit": limit}, headers=AUTH, timeout=10).json()["jobs"]

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric, _, rest = key.partition("{")
            if metric == name and ",".join(sorted(rest.rstrip("}").split(","))) == want:
                return float(value)
        return 0.0


class NotificationRecorder:
    """A second registry notification endpoint that keeps every event, to count manifest pushes."""

    def __init__(self):
        self.events: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    recorder.events.extend(json.loads(body).get("events", []))
                finally:
                    self.send_response(200)
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def manifest_pushes(self, repository: str, tag: str) -> list[dict]:
        return [e for e in self.events if e.get("action") == "push" and e["target"].get("repository") == repository
                and e["target"].get("tag") == tag and "manifest" in e["target"].get("mediaType", "")]

    def close(self) -> None:
        self.server.shutdown()


def endpoint(name: str, url: str, headers: dict | None = None) -> dict:
    """A registry `notifications.endpoints` entry that retries quickly."""
    return {"name": name, "url": url, "headers": {k: [v] for k, v in (headers or {}).items()},
            "timeout": "3s", "threshold": 3, "backoff": "1s"}


def _creds(creds: tuple[str, str] | None, flag: str) -> list[str]:
    return [flag, f"{creds[0]}:{creds[1]}"] if creds else []


def skopeo_inspect(ref: str, creds: tuple[str, str] | None = None, raw: bool = False) -> dict:
    out = subprocess.run(["skopeo", "inspect", *(["--raw"] if raw else []), "--tls-verify=false",
                          *_creds(creds, "--creds"), f"docker://{ref}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def skopeo_inspect_raw(ref: str, creds: tuple[str, str] | None = None) -> dict:
    return skopeo_inspect(ref, creds, raw=True)


def skopeo_copy(src: str, dest: str, creds: tuple[str, str] | None = None) -> None:
    out = subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", *_creds(creds, "--dest-creds"), src,
                          f"docker://{dest}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
