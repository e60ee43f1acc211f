"""The fixture builder's pure parts on small hand-made trees: version detection and the CPython copy."""

from __future__ import annotations

import os
from pathlib import Path

from fixtures import catalog
from fixtures.cpython import install_cpython, rewrite_prefix


def _fake_cpython(root: Path, version: str, shared: bool = True) -> Path:
    minor = version.rsplit(".", 1)[0]
    prefix = root / version
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / f"python{minor}").write_bytes(b"\x7fELF fake interpreter")
    os.symlink(f"python{minor}", prefix / "bin" / "python3")
    os.symlink(f"python{minor}", prefix / "bin" / "python")
    (prefix / "bin" / "pip3").write_text(f"#!{prefix}/bin/python{minor}\nimport pip\n")
    os.symlink("pip3", prefix / "bin" / "pip")
    (prefix / "bin" / f"python{minor}-gdb.py").write_text("gdb helper\n")
    lib = prefix / "lib"
    stdlib = lib / f"python{minor}"
    (stdlib / "test").mkdir(parents=True)
    (stdlib / "test" / "test_os.py").write_text("pass\n")
    (stdlib / "json" / "tests").mkdir(parents=True)
    (stdlib / "json" / "__init__.py").write_text("pass\n")
    (stdlib / "json" / "__pycache__").mkdir()
    (stdlib / "json" / "__pycache__" / "__init__.cpython.pyc").write_bytes(b"\0pyc")
    (stdlib / "os.py").write_text("pass\n")
    (stdlib / "_sysconfigdata__linux.py").write_text(f"build_time_vars = {{'prefix': '{prefix}'}}\n")
    (stdlib / "config-x86_64-linux-gnu").mkdir()
    (stdlib / "config-x86_64-linux-gnu" / f"libpython{minor}.a").write_bytes(b"!<arch>\n")
    site = stdlib / "site-packages"
    for dist, top in (("pip-24.0", "pip"), ("requests-2.32.3", "requests")):
        (site / top).mkdir(parents=True)
        (site / top / "__init__.py").write_text("pass\n")
        info = site / f"{dist}.dist-info"
        info.mkdir()
        (info / "RECORD").write_text(f"{top}/__init__.py,,\n{dist}.dist-info/RECORD,,\n../../../bin/pip3,,\n")
    (site / "host-only.pth").write_text("import something\n")
    if shared:
        (lib / f"libpython{minor}.so.1.0").write_bytes(b"\x7fELF fake lib")
    (prefix / "share" / "man").mkdir(parents=True)
    return prefix


def test_pyenv_prefix_picks_the_newest_shared_build(tmp_path, monkeypatch):
    _fake_cpython(tmp_path, "3.12.1")
    _fake_cpython(tmp_path, "3.12.4")
    _fake_cpython(tmp_path, "3.11.9", shared=False)  # static libpython: not usable as a slim base
    monkeypatch.setattr(catalog, "PYENV_VERSIONS", tmp_path)
    assert catalog.pyenv_prefix("3.12") == tmp_path / "3.12.4"
    assert catalog.pyenv_prefix("3.11") is None
    specs, missing = catalog.bases()
    assert specs["py3.12-slim"].pyenv_prefix == tmp_path / "3.12.4"
    assert dict(specs["py3.12-slim"].env)["PYTHON_VERSION"] == "3.12.4"
    assert set(missing) == {"py3.8-slim", "py3.11-slim", "py3.13-slim"}
    assert "3.11" in missing["py3.11-slim"]
    assert "debian-python" in specs


def test_install_cpython_lays_out_usr_local_like_the_official_image(tmp_path):
    prefix = _fake_cpython(tmp_path / "pyenv", "3.12.4")
    dest = tmp_path / "root" / "usr" / "local"
    install_cpython(prefix, dest, "3.12")
    stdlib = dest / "lib" / "python3.12"
    files = {p.relative_to(dest).as_posix() for p in dest.rglob("*")}
    assert "lib/python3.12/os.py" in files and "lib/python3.12/json/__init__.py" in files
    assert not any("/test" in f or "__pycache__" in f or f.endswith((".a", "-gdb.py")) for f in files), files
    assert not any(f.startswith("share") for f in files)
    site = sorted(p.name for p in (stdlib / "site-packages").iterdir())
    assert site == ["pip", "pip-24.0.dist-info"]  # only what the official images ship
    assert (dest / "bin" / "pip3").read_text().startswith("#!/usr/local/bin/python3.12\n")
    assert "'/usr/local'" in (stdlib / "_sysconfigdata__linux.py").read_text()
    assert os.readlink(dest / "bin" / "python") == "python3"
    assert os.readlink(dest / "bin" / "python3") == "python3.12"
    assert os.readlink(dest / "bin" / "pip") == "pip3"
    assert (dest / "lib" / "libpython3.12.so.1.0").read_bytes() == b"\x7fELF fake lib"


def test_rewrite_prefix_leaves_binaries_alone():
    old, new = b"/root/.pyenv/versions/3.12.1", b"/usr/local"
    assert rewrite_prefix(b"#!" + old + b"/bin/python3.12\n", old, new) == b"#!/usr/local/bin/python3.12\n"
    # Linkers share string tails ("3.12.1" inside the prefix string): binaries must not be edited in place.
    elf = b"\x7fELF\0\0" + old + b"\0"
    assert rewrite_prefix(elf, old, new) == elf


def test_build_litter_does_not_change_a_definition_digest(tmp_path):
    # setuptools leaves build/ and *.egg-info in a package it builds in place: were they hashed, a checkout that
    # once built a local package would key, and load, another image under the same tag
    from fixtures.catalog import tree_digest

    (tmp_path / "pkg" / "src" / "mod").mkdir(parents=True)
    (tmp_path / "pkg" / "src" / "mod" / "__init__.py").write_text("x = 1\n")
    clean = tree_digest(tmp_path)
    for litter in ("pkg/build/lib/mod/__init__.py", "pkg/src/mod.egg-info/PKG-INFO", "pkg/src/mod/__pycache__/a.pyc",
                   "pkg/dist/mod-1.0-py3-none-any.whl"):
        (tmp_path / litter).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / litter).write_text("litter")
    assert tree_digest(tmp_path) == clean
    (tmp_path / "pkg" / "src" / "mod" / "extra.py").write_text("y = 2\n")
    assert tree_digest(tmp_path) != clean
