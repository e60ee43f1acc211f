"""C extension modules: shared objects outside the interpreter's own stdlib that export `PyInit_<name>`.

The symbol decides, matched against the file's module name (`_speedups.cpython-312-x86_64-linux-gnu.so` must
export `PyInit__speedups`): vendored libraries such as `numpy.libs/libopenblas*.so` are native libraries, and a
bundled libpython, which exports PyInit_ for its built-in modules, is not an extension either. Which libraries an extension pulls in comes from the analyzer's graph
(DT_NEEDED edges, followed transitively) when there is one; otherwise only its DT_NEEDED sonames are listed.
"""

from __future__ import annotations

import io
from typing import Iterable

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from faktory.audit.model import CExtension, Package
from faktory.image import FileSystem

MAX_ELF_BYTES = 256 << 20
ELF_MAGIC = b"\x7fELF"
NEEDED_REASONS = {"DT_NEEDED", "symlink"}  # a soname is often a symlink to the real file


def catalog_extensions(
    fs: FileSystem, distributions: Iterable[Package], graph=None, interpreter: str | None = None
) -> tuple[CExtension, ...]:
    """`interpreter`: its real path; libraries it loads anyway (libc, libpython, …) are not charged to extensions."""
    owner = {path: dist.name for dist in distributions for path in dist.files}
    baseline = set(_reachable(graph, f"file:{interpreter}")) if interpreter else set()
    found = []
    for entry in fs.walk("/"):
        if not entry.is_file or not entry.path.endswith(".so") or "/lib-dynload/" in entry.path:
            continue
        if entry.size > MAX_ELF_BYTES or not _may_be_extension(fs, entry.path, owner):
            continue
        elf = _elf_facts(fs, entry.path, _module_name(entry.path))
        if elf is None or not elf[0]:
            continue
        needed = elf[1]
        found.append(
            CExtension(
                path=entry.path,
                distribution=owner.get(entry.path),
                needed=needed,
                libraries=tuple(sorted(set(_reachable(graph, f"file:{entry.path}")) - baseline)),
            )
        )
    return tuple(found)


def _may_be_extension(fs: FileSystem, path: str, owner: dict) -> bool:
    """Cheap filter before reading the ELF: system library dirs hold hundreds of plain `.so` files (gconv, …)."""
    directory, name = path.rsplit("/", 1)
    if path in owner or ".cpython-" in name or name.endswith(".abi3.so"):
        return True
    if "/site-packages/" in path or "/dist-packages/" in path:
        return True
    entry = fs.entry(f"{directory}/__init__.py")  # an untagged `mod.so` inside an app's package
    return entry is not None


def _module_name(path: str) -> str:
    return path.rsplit("/", 1)[-1].split(".", 1)[0]


def _elf_facts(fs: FileSystem, path: str, module: str) -> tuple[bool, tuple[str, ...]] | None:
    """(exports PyInit_<module>, DT_NEEDED sonames) or None when not a readable ELF."""
    try:
        with fs.open(path) as raw:
            # pyelftools seeks around: read on demand when the source can seek, else from memory.
            stream = raw if getattr(raw, "seekable", lambda: False)() else io.BytesIO(raw.read())
            if stream.read(4) != ELF_MAGIC:
                return None
            stream.seek(0)
            elf = ELFFile(stream)
            is_extension = False
            dynsym = elf.get_section_by_name(".dynsym")
            if dynsym is not None:
                init = f"PyInit_{module}"
                is_extension = any(sym.name == init for sym in dynsym.iter_symbols())
            needed: list[str] = []
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    needed = [tag.needed for tag in section.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]
            return is_extension, tuple(needed)
    except (ELFError, OSError):
        return None
    except Exception:  # pyelftools on a hostile or truncated file can fail in many ways: not an extension then
        return None


def _reachable(graph, start: str) -> list[str]:
    """Library paths reachable from `start` through DT_NEEDED (and symlink) edges of the analyzer's graph."""
    if graph is None or start not in graph:
        return []
    seen: set[str] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        for succ in graph.successors(node):
            reason = graph.edges[node, succ].get("reason", "")
            if reason in NEEDED_REASONS and succ not in seen and succ.startswith("file:"):
                seen.add(succ)
                stack.append(succ)
    return [graph.nodes[n].get("path", n[5:]) for n in seen]
