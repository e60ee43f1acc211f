"""What `strip` made of each ELF file is cached by content: a second convert writes the same bytes and runs no
`strip`; a damaged entry is noticed and stripped again; "kept, stripping misaligned it" is cached too; prune
and the quota count the entries. `strip` here is a wrapper script around the real binutils one that logs its
calls."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from faktory.cache import LayerCache
from faktory.cache_prune import prune, usage
from faktory.emitters.base import EmitOptions
from faktory.emitters.convert import MANIFEST, convert
from tests.handmade import python_image

REAL_STRIP = shutil.which("strip")
# After the real strip: optionally push the first PT_LOAD with a nonzero offset off its alignment, as binutils
# does to some patchelf'd libraries (the output must then be refused and the input kept).
WRAPPER = textwrap.dedent("""\
    #!{python}
    import os, struct, subprocess, sys
    with open({log!r}, "a") as log:
        log.write(" ".join(sys.argv[1:]) + "\\n")
    rc = subprocess.run([{real!r}] + sys.argv[1:]).returncode
    if rc == 0 and {misalign} and "-o" in sys.argv:
        out = sys.argv[sys.argv.index("-o") + 1]
        with open(out, "r+b") as fh:
            data = fh.read(64)
            phoff, phentsize, phnum = struct.unpack_from("<Q", data, 32)[0], *struct.unpack_from("<HH", data, 54)
            for i in range(phnum):
                fh.seek(phoff + i * phentsize)
                ph = fh.read(phentsize)
                p_type, p_offset, p_align = struct.unpack_from("<I", ph)[0], struct.unpack_from("<Q", ph, 8)[0], \\
                    struct.unpack_from("<Q", ph, 48)[0]
                if p_type == 1 and p_offset and p_align > 1:
                    fh.seek(phoff + i * phentsize + 8)
                    fh.write(struct.pack("<Q", p_offset + 16))
                    break
    sys.exit(rc)
    """)


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    return python_image(tmp_path_factory.mktemp("img") / "root")


def wrap_strip(monkeypatch, where: Path, *, misalign: bool = False) -> Path:
    """A `strip` first on PATH that logs its arguments, one line per call, to the returned file."""
    assert REAL_STRIP, "binutils strip is needed"
    where.mkdir()
    log = where / "calls.log"
    log.write_text("")
    script = where / "strip"
    script.write_text(WRAPPER.format(python=sys.executable, log=str(log), real=REAL_STRIP, misalign=misalign))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{where}{os.pathsep}{os.environ['PATH']}")
    return log


def strips(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if " -o " in line]


def convert_to(handmade, out: Path) -> dict:
    """A unikraft output (its initrd has no per-build seed, unlike microvm's) and its manifest."""
    image, closure = handmade
    convert(image, closure, "unikraft", out, EmitOptions(force=True))
    return json.loads((out / MANIFEST).read_text())


def payload(out: Path) -> dict[str, bytes]:
    """Every output file but the two that name the output dir."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("README.md", MANIFEST)}


def test_second_convert_is_byte_identical_and_runs_no_strip(handmade, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKTORY_CACHE_DIR", str(tmp_path / "cache"))
    first_log = wrap_strip(monkeypatch, tmp_path / "bin1")
    first = convert_to(handmade, tmp_path / "a")
    assert first["debug_stripped"]["elf_files"] >= 1 and len(strips(first_log)) >= first["debug_stripped"]["elf_files"]
    second_log = wrap_strip(monkeypatch, tmp_path / "bin2")
    second = convert_to(handmade, tmp_path / "b")
    assert strips(second_log) == []
    assert any(name.endswith("initrd") or "cpio" in name for name in payload(tmp_path / "a")), payload(tmp_path / "a").keys()
    assert second["debug_stripped"] == first["debug_stripped"] and second["contents"] == first["contents"]
    assert payload(tmp_path / "a") == payload(tmp_path / "b")
    # --compact strips with another mode: its own entries, not the debug-only ones
    convert(*handmade, "unikraft", tmp_path / "c", EmitOptions(force=True, compact=True))
    assert strips(second_log) and all("--strip-unneeded" in line for line in strips(second_log))


def test_a_damaged_entry_is_stripped_again(handmade, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKTORY_CACHE_DIR", str(tmp_path / "cache"))
    wrap_strip(monkeypatch, tmp_path / "bin1")
    convert_to(handmade, tmp_path / "a")
    stripped = tmp_path / "cache/v1/stripped"
    elves = sorted(stripped.glob("*.elf"))
    assert elves
    damaged = elves[0]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte off
    damaged.write_bytes(bytes(data))
    (stripped / f"{elves[-1].stem}.json").write_text("{not json")
    log = wrap_strip(monkeypatch, tmp_path / "bin2")
    convert_to(handmade, tmp_path / "b")
    assert len(strips(log)) == (1 if len(elves) == 1 else 2)
    assert payload(tmp_path / "a") == payload(tmp_path / "b")
    assert damaged.read_bytes() != bytes(data)  # the recomputed outcome replaced it
    log.write_text("")
    convert_to(handmade, tmp_path / "c")
    assert strips(log) == []


def test_kept_because_misaligned_is_cached_too(handmade, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKTORY_CACHE_DIR", str(tmp_path / "cache"))
    first_log = wrap_strip(monkeypatch, tmp_path / "bin1", misalign=True)
    first = convert_to(handmade, tmp_path / "a")
    assert strips(first_log) and first["debug_stripped"]["elf_files"] == 0  # every stripped copy refused
    records = [json.loads(p.read_text()) for p in (tmp_path / "cache/v1/stripped").glob("*.json")]
    assert records and {r["kind"] for r in records} == {"keep"}
    second_log = wrap_strip(monkeypatch, tmp_path / "bin2")  # an honest strip now: the cached "keep" holds
    second = convert_to(handmade, tmp_path / "b")
    assert strips(second_log) == [] and second["debug_stripped"]["elf_files"] == 0
    assert payload(tmp_path / "a") == payload(tmp_path / "b")


def test_prune_and_the_quota_count_stripped_entries(handmade, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKTORY_CACHE_DIR", str(tmp_path / "cache"))
    convert_to(handmade, tmp_path / "a")
    cache = LayerCache(tmp_path / "cache")
    held = usage(cache).stripped
    elf_bytes = sum(p.stat().st_size for p in (tmp_path / "cache/v1/stripped").glob("*.elf"))
    assert held and elf_bytes and cache.used_bytes() == elf_bytes  # a directory image: no layers cached
    # a quota already full keeps nothing new (and the convert still strips)
    shutil.rmtree(tmp_path / "cache/v1/stripped")
    (tmp_path / "cache/v1/stripped").mkdir()
    monkeypatch.setenv("FAKTORY_CACHE_QUOTA", "1")
    doc = convert_to(handmade, tmp_path / "b")
    assert doc["debug_stripped"]["elf_files"] >= 1 and not list((tmp_path / "cache/v1/stripped").glob("*.elf"))
    monkeypatch.delenv("FAKTORY_CACHE_QUOTA")
    convert_to(handmade, tmp_path / "c")
    assert prune(cache, until=3600).freed_bytes == 0  # used just now
    result = prune(cache, until=0)
    assert result.freed_bytes >= elf_bytes and not list((tmp_path / "cache/v1/stripped").iterdir())
