"""Values the analyzers produce and the emitters/audit consume.

The Closure wraps ONE networkx DiGraph. Node ids are strings with a kind prefix:
    "entrypoint", "file:/usr/local/bin/python3.12", "module:json", "dist:flask", "hook:uvicorn"
Every edge carries `reason` (e.g. "imports", "DT_NEEDED", "PT_INTERP", "RUNPATH", "hook:uvicorn", "landmark",
"dist-info", "parent-dir", "symlink") and optionally `detail` (file:line, the soname, ...).
File nodes carry `path`, `size`, `kind` (an image Entry kind) and `magic` (python-magic's description).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping

import networkx as nx

from faktory.analyzers.runas import RunAs

BLOCKER, WARNING, INFO = "blocker", "warning", "info"


@dataclass(frozen=True)
class Location:
    """Where a finding points: an image path and, for code, a 1-based line. Written `path:line` (or `path`)."""

    path: str
    line: int | None = None

    @classmethod
    def parse(cls, text: str) -> "Location":
        """`/app/main.py:12` -> (path, 12); a path without a numeric tail is the whole text."""
        head, sep, tail = text.rpartition(":")
        return cls(head, int(tail)) if sep and head and tail.isdigit() else cls(text)

    def __str__(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Finding:
    kind: str  # "subprocess", "fork", "ctypes", "threads", "c-extension", "python-version", "writes", "port", ...
    message: str
    severity: str = WARNING  # facts; each target's `check` decides whether a kind blocks it
    location: Location | None = None  # given as a Location or as "path/in/image.py:42" text
    target: str | None = None  # set when a finding concerns one target only

    def __post_init__(self) -> None:
        if isinstance(self.location, str):  # producers may write "path:line": it is parsed once, here
            object.__setattr__(self, "location", Location.parse(self.location))

    @property
    def where(self) -> str:
        """The location as text ("" when there is none), for tables and messages."""
        return str(self.location) if self.location else ""

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        if self.location is not None:
            out["location"] = str(self.location)
        return out


@dataclass(frozen=True)
class Interpreter:
    path: str  # as named by the entrypoint (/usr/local/bin/python3)
    real_path: str  # after symlinks (/usr/local/bin/python3.12)
    version: tuple[int, int, int]
    abi_tag: str  # "cpython-312-x86_64-linux-gnu"
    libc: str  # "glibc" | "musl" | "static" | "unknown"
    pt_interp: str | None  # "/lib64/ld-linux-x86-64.so.2"
    libpython: str | None  # "/usr/local/lib/libpython3.12.so.1.0", None when static
    prefix: str  # "/usr/local"
    stdlib_dir: str  # "/usr/local/lib/python3.12"
    dynload_dir: str | None
    pie: bool

    @property
    def version_str(self) -> str:
        return ".".join(map(str, self.version))


@dataclass(frozen=True)
class Launch:
    """How to start the app in the converted image: the exact argv, env and cwd."""

    # argv[0]: the absolute path the image runs the interpreter by (may be a symlink such as /usr/local/bin/python
    # or a venv's bin/python, kept in the closure) so sys.executable and pyvenv.cfg lookup match the container;
    # Interpreter.real_path is the ELF it resolves to.
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/"
    script: str | None = None  # the main script in the image, if any
    module: str | None = None  # `-m module`, if any
    flags: tuple[str, ...] = ()  # interpreter flags found (-I, -E, -S, -u, ...)
    # The image's own Entrypoint + Cmd when its shell runs other commands before the app (a `sh -c` chain, a
    # wrapper script) and all of them were followed and kept: a target with a real kernel and the shell (a Linux
    # microVM) runs this, as the container does; a unikernel starts `argv` alone.
    shell_argv: tuple[str, ...] = ()
    user: RunAs | None = None  # who runs `argv`: the image's non-root User (or gosu's), from its passwd/group
    shell_user: RunAs | None = None  # who runs `shell_argv`: the image's User (a gosu in it drops by itself)


@dataclass
class Closure:
    """The result of analysis. `graph` is the single source of truth; the rest are summaries of it."""

    image_ref: str
    image_digest: str
    interpreter: Interpreter
    launch: Launch
    graph: nx.DiGraph
    findings: list[Finding] = field(default_factory=list)
    sys_path: tuple[str, ...] = ()
    observation: Mapping | None = None  # --observe: the run (argv, exit, seconds) and the files static analysis missed
    site_dirs: tuple[str, ...] = ()  # the installed distributions' dirs (site-packages, dist-packages, a venv's)

    @property
    def observed_missed(self) -> tuple[str, ...]:
        return tuple(self.observation["missed"]) if self.observation else ()

    def owner_of(self, path: str) -> str:
        """Who a file belongs to: its distribution (from the graph's `distribution` edges, else the top-level
        name under a site dir), "stdlib", or "app" for the app's own code."""
        owners = self.__dict__.get("_owners")
        if owners is None:
            owners = {}
            for node, data in self.graph.nodes(data=True):
                if node.startswith("module:") and data.get("path"):
                    for _, dist in self.graph.out_edges(node):
                        if dist.startswith("dist:"):
                            owners[data["path"]] = dist[len("dist:"):]
            self.__dict__["_owners"] = owners
        if path in owners:
            return owners[path]
        for site in sorted(self.site_dirs, key=len, reverse=True):
            if path.startswith(site.rstrip("/") + "/"):
                top = path[len(site.rstrip("/")) + 1:].split("/", 1)[0]
                return top[:-3] if top.endswith(".py") else top.split(".")[0]
        stdlib = self.interpreter.stdlib_dir.rstrip("/")
        if stdlib and path.startswith(stdlib + "/"):
            return "stdlib"
        return "app"

    def paths(self) -> list[str]:
        """Every image path to materialise (files, symlinks and the dirs on the way), sorted parents-first."""
        # Plain string order puts every parent before its children ("/usr" < "/usr-x" < "/usr/bin").
        return sorted(d["path"] for _, d in self.iter_file_nodes())

    def file_nodes(self) -> list[tuple[str, Mapping]]:
        return list(self.iter_file_nodes())

    def iter_file_nodes(self) -> Iterator[tuple[str, Mapping]]:
        """file_nodes() one at a time: on an image with 200,000 kept files the list alone is ~15 MB."""
        return ((n, d) for n, d in self.graph.nodes(data=True) if n.startswith("file:"))

    @property
    def size(self) -> int:
        return sum(d.get("size", 0) for _, d in self.iter_file_nodes() if d.get("kind") == "file")
