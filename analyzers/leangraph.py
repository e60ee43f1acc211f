"""A networkx DiGraph whose per-node containers are small: the closure of an image with 200,000 files holds
200,000 nodes, and plain dicts (one attribute dict and two adjacency dicts per node, ~200 bytes each once they
hold a key) would be most of the analysis's memory.

Nothing changes for readers: node attributes and adjacencies are still Mappings, networkx's views and
algorithms work on them unchanged.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Iterator

import networkx as nx

_NONE: Any = object()  # an unset slot (None is a value)


class Neighbours(MutableMapping):
    """One node's successors or predecessors: most nodes have one, so it is held inline until a second comes."""

    __slots__ = ("_key", "_value", "_more")

    def __init__(self) -> None:
        self._key = _NONE
        self._value = None
        self._more: dict | None = None

    def __getitem__(self, key):
        if self._more is not None:
            return self._more[key]
        if self._key is not _NONE and self._key == key:
            return self._value
        raise KeyError(key)

    def __setitem__(self, key, value) -> None:
        if self._more is not None:
            self._more[key] = value
        elif self._key is _NONE or self._key == key:
            self._key, self._value = key, value
        else:
            self._more = {self._key: self._value, key: value}
            self._key, self._value = _NONE, None

    def __delitem__(self, key) -> None:
        if self._more is not None:
            del self._more[key]
        elif self._key is not _NONE and self._key == key:
            self._key, self._value = _NONE, None
        else:
            raise KeyError(key)

    def __contains__(self, key) -> bool:
        if self._more is not None:
            return key in self._more
        return self._key is not _NONE and self._key == key

    def __iter__(self) -> Iterator:
        if self._more is not None:
            return iter(self._more)
        return iter(() if self._key is _NONE else (self._key,))

    def __len__(self) -> int:
        if self._more is not None:
            return len(self._more)
        return 0 if self._key is _NONE else 1

    def __repr__(self) -> str:
        return repr(dict(self))


class NodeAttrs(MutableMapping):
    """A node's attributes: the four every file node has in slots, any other key in a dict made when needed."""

    __slots__ = ("path", "size", "kind", "magic", "_more")
    _FIXED = frozenset(("path", "size", "kind", "magic"))

    def __init__(self) -> None:
        self._more: dict | None = None

    def __getitem__(self, key):
        if key in NodeAttrs._FIXED:
            try:
                return getattr(self, key)
            except AttributeError:
                raise KeyError(key) from None
        if self._more is None:
            raise KeyError(key)
        return self._more[key]

    def __setitem__(self, key, value) -> None:
        if key in NodeAttrs._FIXED:
            setattr(self, key, value)
        else:
            if self._more is None:
                self._more = {}
            self._more[key] = value

    def __delitem__(self, key) -> None:
        if key in NodeAttrs._FIXED:
            try:
                delattr(self, key)
            except AttributeError:
                raise KeyError(key) from None
        elif self._more is None:
            raise KeyError(key)
        else:
            del self._more[key]

    def __contains__(self, key) -> bool:
        if key in NodeAttrs._FIXED:
            return hasattr(self, key)
        return self._more is not None and key in self._more

    def __iter__(self) -> Iterator[str]:
        for key in ("path", "size", "kind", "magic"):
            if hasattr(self, key):
                yield key
        if self._more is not None:
            yield from self._more

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))


class LeanDiGraph(nx.DiGraph):
    node_attr_dict_factory = NodeAttrs
    adjlist_inner_dict_factory = Neighbours
