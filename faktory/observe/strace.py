"""strace's log -> the paths a program named in calls that succeeded, as seen inside its root."""

from __future__ import annotations

import os
import re

PATH_CALLS = {"open", "openat", "openat2", "creat", "execve", "execveat", "stat", "lstat", "newfstatat",
              "fstatat64", "statx", "readlink", "readlinkat", "access", "faccessat", "faccessat2", "statfs",
              "chdir", "truncate", "mkdir", "unlink", "rename", "utimensat", "getxattr", "lgetxattr", "listxattr",
              "llistxattr", "inotify_add_watch", "name_to_handle_at"}
LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|0x[0-9a-f]+|\?)")
FIRST_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
DIRFD = re.compile(r"^(?:AT_FDCWD|\d+<(?P<dir>[^>]*)>)")
UNFINISHED = re.compile(r"^(\d+)\s+(.*) <unfinished \.\.\.>$")
RESUMED = re.compile(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$")


def strace_argv(log: str) -> list[str]:
    """Follow forks, one line per call, fds shown with their paths, file calls and execs only."""
    return ["strace", "-f", "-qq", "-y", "-s", "4096", "-e", "trace=%file,execve", "-o", log]


def _unescape(text: str) -> str:
    return bytes(text, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def parse_strace(log: str, program: str, cwd: str, host_root: str | None = None,
                 calls: frozenset[str] | set[str] = frozenset(PATH_CALLS)) -> set[str]:
    """Paths of successful path calls (of `calls`) made after the first successful execve of `program` (the
    sandbox's own set-up before it is not the app). `host_root`: a prefix the kernel may show for fds, stripped."""
    pending: dict[str, str] = {}
    started = False
    paths: set[str] = set()
    for raw in log.splitlines():
        line = raw
        m_unf = UNFINISHED.match(raw)
        if m_unf:
            pending[m_unf.group(1)] = m_unf.group(2)
            continue
        m_res = RESUMED.match(raw)
        if m_res and m_res.group(1) in pending:
            line = f"{m_res.group(1)} {pending.pop(m_res.group(1))}{m_res.group(2)}"
        m = LINE.match(line)
        if not m:
            continue
        call, args, ret = m.group("call"), m.group("args"), m.group("ret")
        if call not in PATH_CALLS or ret.startswith("-") or ret == "?":
            continue
        if call not in calls and started:
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
        path = os.path.normpath(path if path.startswith("/") else os.path.join(base, path))
        if host_root and (path == host_root or path.startswith(host_root + "/")):
            path = path[len(host_root):] or "/"
        paths.add(path)
    return paths
