"""sys.path as the image's interpreter would compute it at startup, without running it.

Order: script dir (or the working dir for -c/-m) unless -I/-P/PYTHONSAFEPATH; PYTHONPATH unless -E/-I;
pythonXY.zip, stdlib, lib-dynload; then site dirs unless -S: a venv's site-packages (pyvenv.cfg next to or
one above the executable), the user site, prefix site-packages, Debian's dist-packages (recognised by the
image's own site.py), and `.pth` lines appended after their site dir.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from faktory.analyzers.bundledwheels import is_zip_archive
from faktory.analyzers.entrypoint import PythonCommand
from faktory.analyzers.graphbuild import GraphBuilder
from faktory.analyzers.model import Interpreter


@dataclass
class SysPath:
    entries: list[str]
    site_dirs: list[str]
    pth_files: list[str] = field(default_factory=list)
    pth_imports: list[tuple[str, int, str]] = field(default_factory=list)  # (pth file, line, import statement)
    venv_cfg: str | None = None
    no_site: bool = False


def _pyvenv_cfg(gb: GraphBuilder, exe: str) -> tuple[str, dict[str, str]] | None:
    exe_dir = posixpath.dirname(exe)
    for d in (exe_dir, posixpath.dirname(exe_dir)):
        cfg = posixpath.join(d, "pyvenv.cfg")
        if gb.is_file(cfg):
            values = {}
            for line in gb.fs.read_bytes(cfg).decode("utf-8", "replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    values[key.strip().lower()] = value.strip()
            return cfg, values
    return None


def _is_zip(gb: GraphBuilder, path: str) -> bool:
    return gb.is_file(path) and is_zip_archive(gb.fs, path)


def _is_debian_site(gb: GraphBuilder, interp: Interpreter) -> bool:
    site_py = posixpath.join(interp.stdlib_dir, "site.py")
    return gb.is_file(site_py) and b"dist-packages" in gb.fs.read_bytes(site_py)


def compute(gb: GraphBuilder, interp: Interpreter, cmd: PythonCommand, env: dict[str, str], workdir: str) -> SysPath:
    flags = set(cmd.flags)
    isolated = "-I" in flags
    ignore_env = isolated or "-E" in flags
    safe_path = isolated or "-P" in flags or (not ignore_env and bool(env.get("PYTHONSAFEPATH")))
    no_site = "-S" in flags
    no_user_site = isolated or "-s" in flags or (not ignore_env and bool(env.get("PYTHONNOUSERSITE")))
    major, minor, _ = interp.version
    entries: list[str] = []
    if not safe_path:
        if cmd.script:
            script = gb.realpath(posixpath.normpath(
                cmd.script if cmd.script.startswith("/") else posixpath.join(workdir, cmd.script)))
            if gb.is_dir(script) or _is_zip(gb, script):
                entries.append(script)  # `python DIR` / `python app.pyz` run DIR/__main__.py from sys.path[0]
            else:
                entries.append(posixpath.dirname(script))
        else:
            entries.append(workdir or "/")
    if not ignore_env:
        for item in env.get("PYTHONPATH", "").split(":"):
            if item:
                entries.append(posixpath.normpath(item if item.startswith("/") else posixpath.join(workdir, item)))
    prefix = interp.prefix
    if not ignore_env and env.get("PYTHONHOME"):
        prefix = env["PYTHONHOME"].split(":")[0]
    entries.append(posixpath.join(prefix, "lib", f"python{major}{minor}.zip"))
    entries.append(interp.stdlib_dir)
    if interp.dynload_dir:
        entries.append(interp.dynload_dir)
    result = SysPath(entries=entries, site_dirs=[], no_site=no_site)
    if no_site:
        return result

    site_dirs: list[str] = []
    venv = _pyvenv_cfg(gb, interp.path)
    if venv is not None:
        cfg, values = venv
        result.venv_cfg = cfg
        venv_root = posixpath.dirname(cfg)
        site_dirs.append(posixpath.join(venv_root, "lib", f"python{major}.{minor}", "site-packages"))
        if values.get("include-system-site-packages", "false").lower() != "true":
            return _with_site(gb, result, site_dirs)
    debian = _is_debian_site(gb, interp)
    if not no_user_site:
        home = env.get("HOME") or "/root"
        site_dirs.append(posixpath.join(home, ".local", "lib", f"python{major}.{minor}", "site-packages"))
    if debian:
        site_dirs += [
            f"/usr/local/lib/python{major}.{minor}/dist-packages",
            f"/usr/lib/python{major}/dist-packages",
            f"/usr/lib/python{major}.{minor}/dist-packages",
        ]
    else:
        site_dirs.append(posixpath.join(interp.prefix, "lib", f"python{major}.{minor}", "site-packages"))
    return _with_site(gb, result, site_dirs)


def _with_site(gb: GraphBuilder, result: SysPath, site_dirs: list[str]) -> SysPath:
    for site_dir in site_dirs:
        if not gb.is_dir(site_dir):
            continue
        result.site_dirs.append(site_dir)
        result.entries.append(site_dir)
        for name in sorted(gb.listdir(site_dir)):
            if not name.endswith(".pth") or name.startswith("."):
                continue
            pth = posixpath.join(site_dir, name)
            if not gb.is_file(pth):
                continue
            result.pth_files.append(pth)
            text = gb.fs.read_bytes(pth).decode("utf-8", "replace")
            for lineno, line in enumerate(text.splitlines(), 1):
                line = line.rstrip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith(("import ", "import\t")):
                    result.pth_imports.append((pth, lineno, line))
                    continue
                path = posixpath.normpath(line if line.startswith("/") else posixpath.join(site_dir, line))
                if gb.exists(path) and path not in result.entries:
                    result.entries.append(path)
    return result


def keep_sys_path_files(gb: GraphBuilder, src: str, sp: SysPath) -> None:
    """What site reads to build sys.path: a venv's pyvenv.cfg and the .pth files."""
    if sp.venv_cfg:
        gb.keep_path(sp.venv_cfg, src, "pyvenv.cfg")
    for pth in sp.pth_files:
        gb.keep_path(pth, src, "pth")
