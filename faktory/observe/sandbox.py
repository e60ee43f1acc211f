"""Run a command inside an image root on the host: bubblewrap, read-only, optionally under strace.

The root is bound read-only; /dev, /proc and a tmpfs /tmp are the sandbox's own; every namespace is new
(the network one holds only loopback); no capabilities are left; the sandbox dies with its parent. cwd and env
are set by bubblewrap, so nothing from the image runs before the command itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from faktory.observe.strace import parse_strace, strace_argv


@dataclass(frozen=True)
class Trace:
    paths: frozenset[str]  # absolute paths inside the root that a successful call named
    stdout: str  # the program's output; for a served run, the HTTP body
    stderr: str
    returncode: int | None
    timed_out: bool = False
    answered: bool | None = None  # served runs: whether the GET got an answer


def bwrap_argv(root: Path, argv: list[str], env: dict[str, str], workdir: str) -> list[str]:
    cmd = ["bwrap", "--ro-bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
           "--unshare-all", "--new-session", "--die-with-parent", "--cap-drop", "ALL",
           "--chdir", workdir or "/", "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *argv]


def _paths(log: Path | None, argv: list[str], workdir: str, root: Path) -> frozenset[str]:
    if log is None or not log.exists():
        return frozenset()
    return frozenset(parse_strace(log.read_text(errors="replace"), argv[0], workdir or "/", str(root)))


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()


def run_traced(root: Path, argv: list[str], env: dict[str, str], workdir: str, log: Path | None,
               timeout: float = 120) -> Trace:
    """One-shot: run argv until it exits (or `timeout`), under strace when `log` is given."""
    inner = bwrap_argv(root, argv, env, workdir)
    cmd = [*strace_argv(str(log)), *inner] if log else inner
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        out, err = _stop(proc)
    return Trace(_paths(log, argv, workdir, root), out, err, None if timed_out else proc.returncode, timed_out)


def run_plain(root: Path, argv: list[str], env: dict[str, str], workdir: str, timeout: float = 120) -> Trace:
    return run_traced(root, argv, env, workdir, None, timeout)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _sandboxed_pid(top: int) -> int | None:
    """A process below `top` that lives in a network namespace other than ours (the sandbox's)."""
    mine = os.readlink("/proc/self/ns/net")
    stack = _children(top)
    while stack:
        pid = stack.pop()
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != mine:
                return pid
        except OSError:
            continue
        stack.extend(_children(pid))
    return None


def listening(pid: int, port: int) -> bool:
    """Whether a TCP socket listens on `port` in the network namespace of `pid` (its /proc/PID/net view)."""
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def http_get_in_netns(pid: int, port: int, path: str, deadline: float) -> str | None:
    """GET http://127.0.0.1:PORT/PATH with the host's python, entered into the process's network namespace."""
    client = ("import sys,urllib.request\n"
              f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=5).read().decode())\n")
    while time.monotonic() < deadline:
        remaining = max(1.0, deadline - time.monotonic())
        try:
            proc = subprocess.run(["nsenter", "-t", str(pid), "-n", sys.executable, "-I", "-c", client],
                                  capture_output=True, text=True, timeout=remaining)
        except subprocess.TimeoutExpired:
            return None
        if proc.returncode == 0:
            return proc.stdout
        time.sleep(0.5)
    return None


def serve_and_get(root: Path, argv: list[str], env: dict[str, str], workdir: str, port: int, path: str,
                  log: Path | None, timeout: float = 90) -> Trace:
    """Start a server (under strace when `log` is given), wait until `port` listens inside its network
    namespace, GET one URL there, stop it."""
    inner = bwrap_argv(root, argv, env, workdir)
    cmd = [*strace_argv(str(log)), *inner] if log else inner
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", start_new_session=True)
    body = None
    deadline = time.monotonic() + timeout
    try:
        pid = None
        while time.monotonic() < deadline and proc.poll() is None:
            pid = pid or _sandboxed_pid(proc.pid)
            if pid is not None and listening(pid, port):
                break
            time.sleep(0.1)
        if pid is not None and proc.poll() is None:
            body = http_get_in_netns(pid, port, path, deadline)
    finally:
        exited = proc.poll()
        out, err = _stop(proc)
    timed_out = body is None and exited is None
    return Trace(_paths(log, argv, workdir, root), body or "", err, exited, timed_out, body is not None)
