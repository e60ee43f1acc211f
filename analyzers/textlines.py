"""Line numbers of offsets in a text, counted in one pass: the scanners find matches by offset (regex, str.find)
and report each at its 1-based line."""

from __future__ import annotations

from typing import Iterable, Iterator


def lines_at(text: str | bytes, offsets: Iterable[int]) -> Iterator[int]:
    """The line of each offset, for offsets in increasing order."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    line, last = 1, 0
    for pos in offsets:
        line += text.count(newline, last, pos)
        last = pos
        yield line


def first_lines(text: str | bytes, found: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Each value's line at its first appearance, for (value, offset) pairs in increasing offset order."""
    firsts: dict[str, int] = {}
    for value, pos in found:
        firsts.setdefault(value, pos)
    return dict(zip(firsts, lines_at(text, firsts.values())))
