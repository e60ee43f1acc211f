"""The closure's graph keeps per-node containers small; what readers see must be what a plain DiGraph shows."""

from __future__ import annotations

import json
import networkx as nx
import pytest

from faktory.analyzers.leangraph import LeanDiGraph, Neighbours, NodeAttrs
from tests.test_analyzers_units import _analyze_root, _python_files, elf_bytes  # noqa: F401 (fixture)


def _same_graph(build) -> tuple[nx.DiGraph, nx.DiGraph]:
    lean, plain = LeanDiGraph(), nx.DiGraph()
    build(lean)
    build(plain)
    return lean, plain


def test_a_lean_graph_reads_and_exports_as_a_plain_one():
    def build(g: nx.DiGraph) -> None:
        g.add_node("entrypoint", kind="entrypoint")
        g.add_node("file:/app", path="/app", size=0, kind="dir", magic="")
        for i in range(3):  # one neighbour each, then many: the inline slot turns into a dict
            g.add_node(f"file:/app/f{i}", path=f"/app/f{i}", size=i, kind="file", magic="ASCII text")
            g.add_edge(f"file:/app/f{i}", "file:/app", reason="parent-dir")
            g.add_edge("file:/app", f"file:/app/f{i}", reason="app-root")
        g.add_edge("entrypoint", "file:/app", reason="app-root")
        g.add_node("module:json", path="/usr/lib/json/__init__.py", kind="source", package=True)
        g.add_edge("entrypoint", "module:json", reason="imports", detail="/app/f0:1")
        g.nodes["file:/app/f1"]["magic"] = "data"
        g.remove_edge("file:/app", "file:/app/f2")
        g.remove_node("file:/app/f0")

    lean, plain = _same_graph(build)
    assert json.dumps(nx.node_link_data(lean, edges="links"), sort_keys=True) == \
        json.dumps(nx.node_link_data(plain, edges="links"), sort_keys=True)
    assert dict(lean.nodes(data=True)) == dict(plain.nodes(data=True))
    assert sorted(lean.edges(data=True)) == sorted(plain.edges(data=True))
    assert nx.shortest_path(lean, "entrypoint", "file:/app/f1") == ["entrypoint", "file:/app", "file:/app/f1"]
    assert "file:/app/f2" not in lean.succ["file:/app"] and lean.in_degree("file:/app/f2") == 0
    assert lean.nodes["module:json"]["package"] is True and "size" not in lean.nodes["module:json"]


def test_inline_neighbours_and_slotted_attributes_are_mappings():
    n = Neighbours()
    assert len(n) == 0 and "a" not in n and list(n) == []
    n["a"] = 1
    n["a"] = 2  # the same key again stays inline
    assert dict(n) == {"a": 2} and n.get("b") is None
    n["b"] = 3
    del n["a"]
    assert dict(n) == {"b": 3}
    with pytest.raises(KeyError):
        del n["a"]
    attrs = NodeAttrs()
    assert "kind" not in attrs and len(attrs) == 0 and attrs.get("kind") is None
    attrs.update(path="/x", kind="file", guarded=True)
    assert dict(attrs) == {"path": "/x", "kind": "file", "guarded": True} and attrs == {"path": "/x", "kind": "file",
                                                                                        "guarded": True}
    del attrs["kind"]
    with pytest.raises(KeyError):
        attrs["kind"]


def test_why_for_a_file_in_a_data_dir_of_the_app_root(tmp_path, elf_bytes):  # noqa: F811
    from faktory.analyzers import report

    data = {f"/app/data/d{i % 3}/f{i}.txt": f"record {i}\n" for i in range(30)}
    closure = _analyze_root(tmp_path / "root", _python_files(elf_bytes, **{"/app/main.py": "print('hi')\n"}, **data),
                            ("python3", "/app/main.py"))
    answer = report.explain(closure, "/app/data/d1/f4.txt")
    assert [(node, reason) for node, reason, _ in answer.steps] == [
        ("entrypoint", ""), ("file:/app", "workdir"), ("file:/app/data/d1/f4.txt", "app-root")]
    files = {f["path"]: f for f in report.to_dict(closure)["files"]}
    assert files["/app/data/d1/f4.txt"]["size"] == len("record 4\n") and files["/app/data/d1"]["kind"] == "dir"
    assert set(data) <= set(closure.paths())
    assert isinstance(closure.graph, LeanDiGraph)
