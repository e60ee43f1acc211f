"""Adding evidence to the one graph: files (with the dirs and symlinks on the way), modules, edges with reasons.

Every path is resolved component by component inside the image root, so `/lib64/ld-linux-x86-64.so.2` on a
usrmerged image keeps the `/lib64` symlink, the `/usr/lib64` dir and whatever the last component points at.
"""

from __future__ import annotations

import posixpath
import sys
from typing import Iterable

import networkx as nx

from faktory.errors import FaktoryError
from faktory.fs import below
from faktory.analyzers.leangraph import LeanDiGraph
from faktory.image import DIR, FILE, SYMLINK, FileSystem

ENTRY = "entrypoint"
MAX_LINKS = 40  # like the kernel's MAXSYMLINKS


# Node ids are interned: networkx keeps the key object it is handed in every adjacency dict, so on an image
# with 200,000 files equal-but-distinct ids would cost one string copy per edge end.
def fnode(path: str) -> str:
    return sys.intern(f"file:{path}")


def mnode(name: str) -> str:
    return sys.intern(f"module:{name}")


class GraphBuilder:
    """The shared graph plus the image filesystem it describes. Analyzers call `keep_*` and `edge`."""

    def __init__(self, fs: FileSystem) -> None:
        self.fs = fs
        self.graph: nx.DiGraph = LeanDiGraph()
        self.graph.add_node(ENTRY, kind="entrypoint")
        self._listing: dict[str, frozenset[str]] = {}
        self._reasons: dict[str, dict] = {}  # one shared, never-mutated attr dict per detail-less reason

    # --- filesystem helpers (cached: directory listings are asked for again and again by the finder) ---
    def listdir(self, path: str) -> frozenset[str]:
        cached = self._listing.get(path)
        if cached is None:
            try:
                st = self.fs.stat(path)
                cached = frozenset(self.fs.listdir(path)) if st is not None and st.kind == DIR else frozenset()
            except (OSError, KeyError, ValueError):
                cached = frozenset()
            self._listing[path] = cached
        return cached

    def exists(self, path: str) -> bool:
        parent, name = posixpath.split(path)
        return name in self.listdir(parent) if name else self.is_dir(path)

    def is_dir(self, path: str) -> bool:
        st = self._stat(path)
        return st is not None and st.kind == DIR

    def is_file(self, path: str) -> bool:
        st = self._stat(path)
        return st is not None and st.kind == FILE

    def _stat(self, path: str):
        try:
            return self.fs.stat(path)
        except Exception:  # symlink loops, paths through files: "does not exist" for the finder
            return None

    def realpath(self, path: str) -> str:
        return self.fs.resolve(path)

    # --- graph helpers ---
    def edge(self, src: str, dst: str, reason: str, detail: str | None = None) -> None:
        if src not in self.graph:
            self.graph.add_node(src)
        if dst not in self.graph:
            self.graph.add_node(dst)
        if self.graph.has_edge(src, dst):
            return  # first reason wins: the one found first is the shortest story
        if detail:
            self.graph.add_edge(src, dst, reason=reason, detail=detail)
            return
        # Most edges (parent-dir, a data tree's files) carry only a reason: they share one attr dict, set
        # where networkx's add_edge would put a fresh one (edge attrs are read, never written, after this).
        attrs = self._reasons.setdefault(reason, {"reason": reason})
        self.graph._succ[src][dst] = self.graph._pred[dst][src] = attrs
        getattr(nx, "_clear_cache", lambda graph: None)(self.graph)  # what add_edge does after adding

    def mark_import(self, src: str, dst: str, detail: str, how: str) -> None:
        """The import edge src -> dst found at `detail` is `how`: "guarded" (in `try: … except ImportError:`) or
        "lazy" (in a library function). Only an edge made for that very line is marked (it has its own attribute
        dict: edges with a detail always do)."""
        attrs = self.graph.get_edge_data(src, dst)
        if attrs is not None and attrs.get("detail") == detail:
            attrs[how] = True

    def keep_path(self, path: str, src: str, reason: str, detail: str | None = None) -> str | None:
        """Keep `path` (and every dir/symlink on the way). Returns the real path it ends at, or None if missing."""
        path = posixpath.normpath("/" + path.lstrip("/"))
        via: list[str] = []
        end = self._keep_components(path, 0, via)
        if end is None:
            return None
        first = via[0] if via and via[0] == path else end
        self.edge(src, fnode(first), reason, detail)
        for link in via:
            if link != first:
                self.edge(src, fnode(link), "symlink-on-path", path)
        return end

    def _keep_components(self, path: str, depth: int, via: list[str]) -> str | None:
        """Resolve `path` inside the image, adding nodes; symlinks crossed are appended to `via`."""
        if depth > MAX_LINKS:
            return None
        cur = "/"
        parts = [p for p in path.split("/") if p]
        nodes = self.graph._node  # networkx's node -> attributes map, read without the view's wrapping
        for i, name in enumerate(parts):
            here = below(cur, name)
            kept = nodes.get(fnode(here))
            kind = kept.get("kind") if kept is not None else None
            if kind is not None and kind != SYMLINK:  # kept before, with its parent-dir edge: nothing to add
                if i < len(parts) - 1 and kind != DIR:
                    return None
                cur = here
                continue
            try:
                entry = self.fs.entry(here)
            except FaktoryError:  # a symlink loop on the way: the path does not resolve, as for the kernel
                return None
            if entry is None:
                return None
            self._add_file_node(here, entry)
            if cur != "/":
                self.edge(fnode(here), fnode(cur), "parent-dir")
            if entry.kind == SYMLINK:
                via.append(here)
                target = posixpath.normpath(posixpath.join(cur, entry.linkname))
                inner: list[str] = []
                end = self._keep_components(target, depth + 1, inner)
                if end is None:
                    return None
                if end != "/":  # a link to the root (`rootlink -> /`) needs no node: every output has a root
                    self.edge(fnode(here), fnode(inner[0] if inner and inner[0] == target else end), "symlink",
                              entry.linkname)
                for link in inner:
                    self.edge(fnode(here), fnode(link), "symlink-on-path", target)
                cur = end
            else:
                if i < len(parts) - 1 and entry.kind != DIR:
                    return None
                cur = here
        return cur

    def _add_file_node(self, path: str, entry) -> None:
        node = fnode(path)
        if node in self.graph and "kind" in self.graph.nodes[node]:
            return
        path = entry.path if entry.path == path else path  # the filesystem's own string, not a copy
        self.graph.add_node(node, path=path, size=entry.size if entry.kind == FILE else 0, kind=entry.kind, magic="")

    def keep_tree(self, top: str, src: str, reason: str, skip: Iterable[str] = ()) -> None:
        """Keep every entry under a directory (data dirs, dist-info)."""
        real = self.keep_path(top, src, reason)
        if real is None:
            return
        skip = tuple(skip)
        for entry in self.fs.walk(real):
            if entry.path == real or any(part in skip for part in entry.path.split("/")):
                continue
            self.keep_path(entry.path, src, reason)

    def kept_files(self) -> list[str]:
        return [d["path"] for n, d in self.graph.nodes(data=True) if n.startswith("file:") and d.get("kind") == FILE]
