"""Run a command inside an image root on the host: bubblewrap, read-only, optionally under strace.

The root is bound read-only; /dev, /proc and a tmpfs /tmp are the sandbox's own; every namespace is new (the
network one holds only loopback); no capabilities are left; the sandbox dies with its parent. When faktory runs
as root, bubblewrap itself is started as an unprivileged host uid (SANDBOX_UID): the app is uid 0 of its own
user namespace only, so host files that trust uid 0 (/proc/sys, …) stay out of its reach. cwd and env are set
by bubblewrap, so nothing from the image runs before the command itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from faktory.errors import FaktoryError
from faktory.observe.strace import parse_strace, strace_argv


@dataclass(frozen=True)
class Trace:
    paths: frozenset[str]  # absolute paths inside the root that a successful call named
    stdout: str  # the program's output; for a served run, the HTTP body
    stderr: str
    returncode: int | None
    timed_out: bool = False
    answered: bool | None = None  # served runs: whether the GET got an answer


SANDBOX_UID = 65534  # nobody: what bubblewrap runs as on the host when faktory is root


class SandboxUnreachable(FaktoryError):
    pass


def bwrap_argv(root: Path, argv: list[str], env: dict[str, str], workdir: str) -> list[str]:
    drop = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups", "--inh-caps=-all"] \
        if os.geteuid() == 0 else []
    cmd = [*drop, "bwrap", "--ro-bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
           "--unshare-all", "--uid", "0", "--gid", "0", "--new-session", "--die-with-parent", "--cap-drop", "ALL",
           "--chdir", workdir or "/", "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *argv]


@contextlib.contextmanager
def private_dir(prefix: str = "faktory-observe-", parent: str | None = None) -> Iterator[Path]:
    """A fresh temp dir that only faktory and, when faktory is root, the sandbox's uid may enter (0710,
    group SANDBOX_UID): bubblewrap, started as that uid, must reach the root inside it. Removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        if os.geteuid() == 0:
            os.chown(path, 0, SANDBOX_UID)
            os.chmod(path, 0o710)
            closed = [str(p) for p in path.parents if not os.stat(p).st_mode & 0o001]
            if closed:
                raise SandboxUnreachable(f"observe: the sandbox's uid {SANDBOX_UID} cannot enter {closed[0]}; set "
                                         "TMPDIR to a directory others may enter (e.g. /tmp)")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def give_to_sandbox(root: Path) -> None:
    """Hand a written root to the sandbox's uid, as a container's root owns its image files (root only)."""
    if os.geteuid() != 0:
        return
    os.lchown(root, SANDBOX_UID, SANDBOX_UID)
    for top, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.lchown(os.path.join(top, name), SANDBOX_UID, SANDBOX_UID)


def _start(root: Path, argv: list[str], env: dict[str, str], workdir: str, log: Path | None) -> subprocess.Popen:
    inner = bwrap_argv(root, argv, env, workdir)
    cmd = [*strace_argv(str(log)), *inner] if log else inner
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True)


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
    proc = _start(root, argv, env, workdir, log)
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
    proc = _start(root, argv, env, workdir, log)
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
