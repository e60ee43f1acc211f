"""Views of a Closure for people and tools: why a file is kept, bytes per distribution, JSON, graph files."""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import dataclass

import networkx as nx

from faktory.analyzers.graphbuild import ENTRY, fnode
from faktory.analyzers.lazyattrs import LEFT_OUT
from faktory.analyzers.model import Closure
from faktory.distinfo import canonical_name
from faktory.errors import SymlinkLoop
from faktory.image import FILE

SCHEMA = "faktory.analyze/v1"


def why(closure: Closure, path: str) -> list[tuple[str, str, str | None]] | None:
    """The chain entrypoint -> … -> file:PATH as (node, reason, detail) steps; None if PATH is not kept."""
    graph = closure.graph
    path = posixpath.normpath("/" + path.lstrip("/"))
    target = fnode(path)
    if target not in graph:
        return None
    return _chain(closure, target)


@dataclass(frozen=True)
class WhyAnswer:
    """What `--why QUERY` found: the kept node and its chain, or why there is none."""

    query: str
    node: str | None  # the graph node QUERY names (file:… or module:…), when kept
    steps: tuple[tuple[str, str, str | None], ...] = ()
    in_image: bool = False  # not kept, but the image has it
    note: str = ""  # the finding that says why it was left out (a lazily attached submodule no code reads)

    @property
    def message(self) -> str:
        if self.node is not None:
            return ""
        if self.note:
            return f"{self.query} is in the image but not kept: {self.note}"
        if self.in_image:
            return f"{self.query} is in the image but not kept (nothing the app runs needs it)"
        return f"{self.query} is not in the image"


def explain(closure: Closure, query: str, fs=None) -> WhyAnswer:
    """`--why` for a path, a usrmerge alias of one (`/lib/x86_64-linux-gnu/libc.so.6` for `/usr/lib/…`), a
    symlink to one, or a module name (`flask.app`); `fs` is the image's filesystem, to resolve and to tell
    "not kept" from "not in the image"."""
    graph = closure.graph
    if "/" not in query and f"module:{query}" in graph:
        node = f"module:{query}"
        return WhyAnswer(query, node, tuple(_chain(closure, node)))
    path = posixpath.normpath("/" + query.lstrip("/"))
    candidates = [path]
    if fs is not None:
        try:
            candidates.append(fs.resolve(path))
            candidates.append(posixpath.join(fs.resolve(posixpath.dirname(path)), posixpath.basename(path)))
        except SymlinkLoop:
            pass
    for candidate in candidates:
        if fnode(candidate) in graph:
            node = fnode(candidate)
            return WhyAnswer(query, node, tuple(_chain(closure, node)))
    if "/" not in query:
        for finding in closure.findings:
            if finding.kind == LEFT_OUT and re.search(rf"[ ,]{re.escape(query)}[ ,]", finding.message):
                return WhyAnswer(query, None, in_image=True, note=finding.message)
    in_image = fs is not None and (fs.entry(path) is not None or ("/" not in query and _module_in_image(fs, query)))
    return WhyAnswer(query, None, in_image=bool(in_image))


def _module_in_image(fs, name: str) -> bool:
    """A module name the app does not import: is it on disk anywhere a Python path could hold it?"""
    tail = name.replace(".", "/")
    for entry in fs.walk("/"):
        if entry.path.endswith(("-packages/" + tail, "-packages/" + tail + ".py")) or \
                entry.path.endswith(f"/{tail}/__init__.py"):
            return True
    return False


def _chain(closure: Closure, target: str) -> list[tuple[str, str, str | None]]:
    graph = closure.graph
    try:
        nodes = nx.shortest_path(graph, ENTRY, target)
    except nx.NetworkXNoPath:
        return [(target, "kept", None)]
    steps = [(ENTRY, "", None)]
    for a, b in zip(nodes, nodes[1:]):
        data = graph.edges[a, b]
        steps.append((b, data.get("reason", ""), data.get("detail")))
    return steps


def owner(closure: Closure, node: str) -> str:
    """Who a kept file is attributed to: its distribution, else 'python' (interpreter+stdlib), else 'system'."""
    graph = closure.graph
    for pred in graph.predecessors(node):
        if pred.startswith("module:"):
            for succ in graph.successors(pred):
                if succ.startswith("dist:"):
                    return succ[5:]
        if pred.startswith("dist:"):
            return pred[5:]
    path = graph.nodes[node].get("path", "")
    interp = closure.interpreter
    if path.startswith(interp.prefix + "/") and "site-packages" not in path and "dist-packages" not in path:
        return "python"
    if "-packages/" in path:
        return _vendored_libs_owner(closure, path) or "site-packages (unattributed)"
    app_dirs = [d for d in (closure.launch.workdir,
                            posixpath.dirname(closure.launch.script) if closure.launch.script else None)
                if d and d != "/"]
    if any(path == d or path.startswith(d + "/") for d in app_dirs):
        return "app"
    return "system"


def _vendored_libs_owner(closure: Closure, path: str) -> str | None:
    """auditwheel puts a wheel's bundled libraries in `<dist>.libs/` beside its packages; they are kept through
    DT_NEEDED edges from an extension, never a module of their own, yet belong to that distribution."""
    for site in closure.site_dirs:
        if path.startswith(site.rstrip("/") + "/"):
            top = path[len(site.rstrip("/")) + 1:].split("/", 1)[0]
            if top.endswith(".libs") and len(top) > len(".libs"):
                return canonical_name(top[:-len(".libs")])
    return None


def sizes(closure: Closure) -> list[tuple[str, int, int]]:
    """(owner, bytes, files) sorted by bytes, biggest first."""
    total: Counter = Counter()
    count: Counter = Counter()
    for node, data in closure.iter_file_nodes():
        if data.get("kind") == FILE:
            who = owner(closure, node)
            total[who] += data.get("size", 0)
            count[who] += 1
    return [(who, size, count[who]) for who, size in total.most_common()]


@dataclass(frozen=True)
class OptionalImport:
    """A module the closure keeps only because code imports it in `try: … except ImportError:` (guarded), or
    because a library function of another distribution imports it (lazy: it runs only when something calls that
    function), with the bytes of its files and of whatever below it nothing needed at start-up leads to (the
    most `--exclude` of it frees: another listed import may share some)."""

    module: str
    imported_at: str  # file:line of the guarded import
    bytes: int
    files: int
    exclude: str  # a glob for --exclude that drops it
    kind: str = "guarded"  # or "lazy"


def optional_imports(closure: Closure) -> list[OptionalImport]:
    """Guarded imports of installed packages, and library functions' imports of other distributions, whose modules
    nothing imported at start-up needs, biggest first: what `--exclude` can drop without touching a path the
    import of the app runs (recall first: they are kept, and listed)."""
    graph = closure.graph

    def owner(node: str) -> str:
        path = graph.nodes[node].get("path") or ""
        return closure.owner_of(path) if path else "stdlib"

    # a package's functions importing its own modules are part of that package: not an edge to cut
    candidates = [((u, v), "guarded") for u, v, d in graph.edges(data=True) if d.get("guarded")]
    candidates += [((u, v), "lazy") for u, v, d in graph.edges(data=True)
                   if d.get("lazy") and not d.get("guarded") and owner(v) != owner(u)]
    if not candidates:
        return []
    wanted = {edge for edge, _ in candidates}

    def reach(starts, allowed=None) -> set[str]:
        seen, stack = set(starts), list(starts)
        while stack:
            node = stack.pop()
            for succ in graph.successors(node):
                if succ in seen or (allowed is None and (node, succ) in wanted) or (
                        allowed is not None and succ not in allowed):
                    continue
                seen.add(succ)
                stack.append(succ)
        return seen

    needed = reach([ENTRY])
    optional = set(graph) - needed
    out: dict[str, OptionalImport] = {}
    # below one, the whole tree nothing needed leads to counts (--exclude takes what only the excluded kept)
    for (src, dst), kind in candidates:
        if dst in needed or src not in needed or dst[7:] in out:
            continue
        origin = graph.nodes[dst].get("path") or ""
        if not origin or closure.owner_of(origin) in ("stdlib", "app"):
            continue  # the stdlib's accelerators (_json, _decimal) and the app's own code are not to drop
        only = reach([dst], allowed=optional)
        files = [graph.nodes[n] for n in only if n.startswith("file:") and graph.nodes[n].get("kind") == FILE]
        if not files:
            continue
        module = dst[7:]
        base = posixpath.dirname(origin) if origin.endswith("/__init__.py") else origin
        out[module] = OptionalImport(module, graph.edges[src, dst].get("detail", ""),
                                     sum(f.get("size", 0) for f in files), len(files),
                                     f"{base}/**" if origin.endswith("/__init__.py") else base, kind)
    return sorted(out.values(), key=lambda o: -o.bytes)


def to_dict(closure: Closure, image_size: int | None = None) -> dict:
    interp = closure.interpreter
    graph = closure.graph
    modules = sorted(n[7:] for n in graph if n.startswith("module:"))
    return {
        "schema": SCHEMA,
        "image": {"ref": closure.image_ref, "digest": closure.image_digest, "size": image_size},
        "interpreter": {
            "path": interp.path, "real_path": interp.real_path, "version": interp.version_str,
            "abi_tag": interp.abi_tag, "libc": interp.libc, "pt_interp": interp.pt_interp,
            "libpython": interp.libpython, "prefix": interp.prefix, "stdlib_dir": interp.stdlib_dir,
            "dynload_dir": interp.dynload_dir, "pie": interp.pie,
        },
        "launch": {"argv": list(closure.launch.argv), "env": dict(closure.launch.env),
                   "workdir": closure.launch.workdir, "script": closure.launch.script,
                   "module": closure.launch.module, "flags": list(closure.launch.flags)},
        "sys_path": list(closure.sys_path),
        "modules": modules,
        "files": [{"path": d["path"], "kind": d.get("kind"), "size": d.get("size", 0), "magic": d.get("magic", "")}
                  for d in sorted((d for _, d in closure.iter_file_nodes()), key=lambda d: d["path"])],
        "size": closure.size,
        "sizes": [{"owner": who, "bytes": size, "files": n} for who, size, n in sizes(closure)],
        "findings": [f.to_dict() for f in closure.findings],
        "optional_imports": [{"module": o.module, "imported_at": o.imported_at, "bytes": o.bytes, "files": o.files,
                              "exclude": o.exclude, "kind": o.kind} for o in optional_imports(closure)],
        **({"observation": {k: v for k, v in closure.observation.items() if k != "missed"},
            "observed_missed": list(closure.observed_missed)} if closure.observation else {}),
    }


def write_graph(closure: Closure, path: str) -> None:
    """GraphML or Graphviz dot, by the file's suffix."""
    graph = nx.DiGraph()
    for node, data in closure.graph.nodes(data=True):
        graph.add_node(node, **{k: ("" if v is None else v) for k, v in data.items()})
    for a, b, data in closure.graph.edges(data=True):
        graph.add_edge(a, b, **{k: ("" if v is None else v) for k, v in data.items()})
    if path.endswith(".graphml"):
        nx.write_graphml(graph, path)
        return
    with open(path, "w", encoding="utf-8") as out:
        out.write("digraph closure {\n  rankdir=LR;\n")
        for node in graph.nodes:
            out.write(f"  {_dot_id(node)};\n")
        for a, b, data in graph.edges(data=True):
            out.write(f"  {_dot_id(a)} -> {_dot_id(b)} [label={_dot_id(data.get('reason', ''))}];\n")
        out.write("}\n")


def _dot_id(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
