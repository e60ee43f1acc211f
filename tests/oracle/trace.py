"""The dynamic side of the oracle: run a command inside an image root under strace and list what it touched.

The root is entered with bubblewrap (fresh /dev, /proc, /tmp; cwd and env set without running anything from
the image). Only events after the program's own execve count (bwrap's setup is not the app). Opens, execs,
stats, readlinks and access checks that succeeded are kept, with paths as seen inside the root.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PATH_CALLS = {"open", "openat", "openat2", "creat", "execve", "execveat", "stat", "lstat", "newfstatat",
              "fstatat64", "statx", "readlink", "readlinkat", "access", "faccessat", "faccessat2", "statfs",
              "chdir", "truncate", "mkdir", "unlink", "rename", "utimensat", "getxattr", "lgetxattr", "listxattr",
              "llistxattr", "inotify_add_watch", "name_to_handle_at"}
LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|0x[0-9a-f]+|\?)")
FIRST_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
DIRFD = re.compile(r"^(?:AT_FDCWD|\d+<(?P<dir>[^>]*)>)")


@dataclass(frozen=True)
class Trace:
    paths: frozenset[str]  # absolute paths inside the root that a successful call named
    stdout: str
    stderr: str
    returncode: int | None


def _unescape(text: str) -> str:
    return bytes(text, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def bwrap_argv(root: Path, argv: list[str], env: dict[str, str], workdir: str, unshare_net: bool = True) -> list[str]:
    cmd = ["bwrap", "--bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
           "--chdir", workdir or "/", "--clearenv", "--die-with-parent"]
    if unshare_net:
        cmd.append("--unshare-net")
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *argv]


def parse_strace(log: str, program: str, cwd: str) -> set[str]:
    """Paths of successful path calls made after the first successful execve of `program`."""
    pending: dict[str, str] = {}
    started = False
    paths: set[str] = set()
    for raw in log.splitlines():
        line = raw
        m_unf = re.match(r"^(\d+)\s+(.*) <unfinished \.\.\.>$", raw)
        if m_unf:
            pending[m_unf.group(1)] = m_unf.group(2)
            continue
        m_res = re.match(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$", raw)
        if m_res and m_res.group(1) in pending:
            line = f"{m_res.group(1)} {pending.pop(m_res.group(1))}{m_res.group(2)}"
        m = LINE.match(line)
        if not m:
            continue
        call, args, ret = m.group("call"), m.group("args"), m.group("ret")
        if call not in PATH_CALLS or ret.startswith("-") or ret == "?":
            continue
        if call.startswith("execve") and not started:
            first = FIRST_STRING.search(args)
            if first and os.path.basename(_unescape(first.group(1))) == os.path.basename(program):
                started = True
            else:
                continue
        if not started:
            continue
        base = cwd
        dirfd = DIRFD.match(args)
        if dirfd and dirfd.group("dir"):
            base = dirfd.group("dir")
        first = FIRST_STRING.search(args)
        if not first:
            continue
        path = _unescape(first.group(1))
        if not path:
            continue
        paths.add(os.path.normpath(path if path.startswith("/") else os.path.join(base, path)))
    return paths


def run_traced(root: Path, argv: list[str], env: dict[str, str], workdir: str, log: Path,
               timeout: float = 120) -> Trace:
    """One-shot: run argv to completion under strace."""
    cmd = ["strace", "-f", "-qq", "-y", "-s", "4096", "-e", "trace=%file,execve", "-o", str(log),
           *bwrap_argv(root, argv, env, workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    paths = parse_strace(log.read_text(errors="replace"), argv[0], workdir)
    return Trace(frozenset(paths), proc.stdout, proc.stderr, proc.returncode)


def run_plain(root: Path, argv: list[str], env: dict[str, str], workdir: str, timeout: float = 120):
    return subprocess.run(bwrap_argv(root, argv, env, workdir), capture_output=True, text=True, timeout=timeout)


def _child_pid(parent: int) -> int | None:
    children = Path(f"/proc/{parent}/task/{parent}/children")
    try:
        pids = children.read_text().split()
    except OSError:
        return None
    return int(pids[-1]) if pids else None


def _leaf_pid(pid: int) -> int:
    while True:
        child = _child_pid(pid)
        if child is None:
            return pid
        pid = child


def http_get_in_netns(pid: int, port: int, path: str, deadline: float) -> str | None:
    """GET http://127.0.0.1:PORT/PATH from the host's python inside the process's network namespace."""
    client = (
        "import sys,urllib.request\n"
        f"print(urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=5).read().decode())\n"
    )
    nsenter = shutil.which("nsenter") or "nsenter"
    while time.monotonic() < deadline:
        proc = subprocess.run([nsenter, "-t", str(pid), "-n", "python3", "-c", client], capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout
        time.sleep(0.5)
    return None


def serve_and_get(root: Path, argv: list[str], env: dict[str, str], workdir: str, port: int, path: str,
                  log: Path | None, timeout: float = 90) -> Trace:
    """Start a server (under strace when `log` is given) in its own network namespace, GET one URL, stop it."""
    inner = bwrap_argv(root, argv, env, workdir)
    cmd = (["strace", "-f", "-qq", "-y", "-s", "4096", "-e", "trace=%file,execve", "-o", str(log), *inner]
           if log else inner)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    body = None
    try:
        deadline = time.monotonic() + timeout
        leaf = None
        while time.monotonic() < deadline and proc.poll() is None:
            leaf = _leaf_pid(proc.pid)
            if leaf != proc.pid and Path(f"/proc/{leaf}/ns/net").exists() and \
                    os.readlink(f"/proc/{leaf}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.2)
        if leaf is not None and proc.poll() is None:
            body = http_get_in_netns(leaf, port, path, deadline)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    paths = parse_strace(log.read_text(errors="replace"), argv[0], workdir) if log else set()
    return Trace(frozenset(paths), body or "", err, proc.returncode)
