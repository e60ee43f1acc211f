"""Type stubs read at run time: lazy_loader's `attach_stub(__name__, __file__)` (scikit-image, and other
scientific packages) parses the package's `__init__.pyi` beside `__init__.py` and imports what the stub imports
on first attribute access. A source module with a `.pyi` sibling that passes its `__file__` somewhere keeps the
stub, and the stub's imports count as the module's own."""

from __future__ import annotations

import posixpath

from faktory.analyzers.keeper import Keeper


def stub_read_by(keeper: Keeper, origin: str) -> str | None:
    """The `.pyi` beside `origin` when the module's source names `__file__` (it may read the stub), else None."""
    if not origin.endswith(".py"):
        return None
    stub = origin[:-3] + ".pyi"
    directory, name = posixpath.split(stub)
    if name not in keeper.listdir(directory):
        return None
    text = keeper.read_text(origin)
    return stub if text and "__file__" in text else None


def attaches_stub(keeper: Keeper, origin: str) -> bool:
    """Whether the module hands its stub to lazy_loader (`attach_stub(__name__, __file__)`): the stub's lines are
    then loaded on attribute access, not at import (lazyattrs.py)."""
    text = keeper.read_text(origin)
    return bool(text) and "attach_stub" in text
