"""The peer, side by side: PyInstaller 6 `--onedir` and faktory on the same fixture apps.

    .venv/bin/python bench/peer_pyinstaller.py [APP ...]      # default: every app with a `verify` list

Per app, PyInstaller's side:
1. the image's root is exported (`docker export`) into a scratch directory;
2. PyInstaller 6, pyinstaller-hooks-contrib and altgraph, as wheels that the host's pip downloads for the image's
   Python, are installed into `/opt/pyi` of that root by the image's own python, and objdump/objcopy/strip are
   copied in from the host with their libraries (PyInstaller needs binutils on Linux; the images have none);
3. PyInstaller builds the image's entry point inside the root under bubblewrap with no network: a console
   script or a script file as it is, `python -m MOD` through a two-line runpy wrapper (`--hidden-import MOD`,
   the only hint given); for a `sh -c` line, the console script faktory reads as its app, the bundle then put
   first on PATH so the line runs it wherever it names the program;
4. the probe runs against the bundle in the same root (imports come only from the bundle: the frozen python
   has no site-packages on sys.path) and must print, or answer over HTTP, exactly what the original prints in
   that root.
faktory's side: `analyze` + `convert --to oci` of the engine image, then `verify` of the output in the engine.
Timings are wall clock on whatever else the machine runs: read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faktory.api import analyze, convert, load_image  # noqa: E402
from faktory.analyzers.entrypoint import EntrypointResolver  # noqa: E402
from faktory.analyzers.graphbuild import GraphBuilder  # noqa: E402
from faktory.emitters.base import EmitOptions  # noqa: E402
from faktory.runner.verify import Probe, normalise, verify_output  # noqa: E402
from fixtures import catalog  # noqa: E402
from fixtures.build import WHEEL_PLATFORMS, cache_root, tag_of  # noqa: E402
from tests.oracle import rootfs, trace  # noqa: E402

PYINSTALLER = ("pyinstaller>=6,<7",)
PIP = "pip"  # also downloaded: Debian's python3 has none, pip runs from its wheel
BINUTILS = ("objdump", "objcopy", "strip")
BUILD_TIMEOUT = 1200


@dataclass(frozen=True)
class Row:
    app: str
    pyi_ok: bool
    pyi_why: str
    pyi_bytes: int
    pyi_seconds: float
    fk_bytes: int
    fk_seconds: float
    fk_verify: bool


def pyinstaller_wheels(python_version: str) -> Path:
    """PyInstaller's wheels for python X.Y, downloaded once by the host's pip into the fixture cache."""
    target = cache_root() / "peer" / f"pyinstaller-py{python_version.replace('.', '')}"
    if not target.exists():
        part = Path(f"{target}.part")
        shutil.rmtree(part, ignore_errors=True)
        py = python_version.replace(".", "")
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version",
                python_version, "--implementation", "cp", "--abi", f"cp{py}", "--dest", str(part)]
        for platform in WHEEL_PLATFORMS:
            argv += ["--platform", platform]
        subprocess.run(argv + [*PYINSTALLER, PIP], check=True, capture_output=True)
        part.rename(target)
    return target


def add_binutils(root: Path) -> None:
    """objdump/objcopy/strip and the libraries they need that the root lacks (the host is Debian too)."""
    for tool in BINUTILS:
        binary = Path(shutil.which(tool) or f"/usr/bin/{tool}")
        shutil.copy2(binary, root / "usr/bin" / tool)
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
        for lib in (line.split("=>")[1].split()[0] for line in ldd.splitlines() if "=> /" in line):
            dest = root / lib.lstrip("/")
            if not dest.exists() and not dest.is_symlink():
                shutil.copy2(Path(lib).resolve(), root / "usr/lib/x86_64-linux-gnu" / Path(lib).name)


def _which(root: Path, name: str, path_env: str) -> str | None:
    for directory in path_env.split(":"):
        candidate = root / directory.lstrip("/") / name
        if candidate.is_file():
            return f"{directory}/{name}"
    return None


def entry_point(root: Path, argv: list[str], env: dict[str, str], workdir: str) -> tuple[str, list[str], list[str]]:
    """(script inside the root, PyInstaller options, arguments for the bundle) for the image's argv."""
    program = Path(argv[0]).name
    if program.startswith("python"):
        if argv[1] == "-m":
            module = argv[2]
            wrapper = root / "opt/pyi-out" / f"run_{module.replace('.', '_')}.py"
            wrapper.parent.mkdir(parents=True, exist_ok=True)
            wrapper.write_text(f"import runpy\nrunpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n")
            return f"/opt/pyi-out/{wrapper.name}", ["--hidden-import", module], argv[3:]
        script = argv[1] if argv[1].startswith("/") else f"{workdir.rstrip('/')}/{argv[1]}"
        return script, [], argv[2:]
    found = argv[0] if argv[0].startswith("/") else _which(root, argv[0], env.get("PATH", "/usr/local/bin:/usr/bin"))
    if found is None:
        raise RuntimeError(f"{argv[0]} not found in the image's PATH")
    return found, [], argv[1:]


def shell_app(image, argv: list[str]) -> str:
    """The console script a `sh -c` line runs as its app (faktory's own reading of the line): the bundle is
    built from it and put first on PATH, so every command of the line that runs it runs the bundle."""
    cfg = image.config
    got = EntrypointResolver(GraphBuilder(image.fs), tuple(argv), dict(cfg.env_map), cfg.working_dir or "/").resolve()
    scripts = [path for path, how in got.hops if how == "shebang-script"]
    if not scripts:
        raise RuntimeError("the shell line's app is not a console script: nothing to stand in for on PATH")
    return scripts[-1]


def _run_probe(root: Path, argv: list[str], env: dict[str, str], workdir: str, spec) -> tuple[str, int | None]:
    """(output or HTTP body, exit code; None for a server that did not answer, its stderr as the output)."""
    probe = spec.probe
    if probe.http_port:
        got = trace.serve_and_get(root, argv, env, workdir, probe.http_port, probe.http_path, None)
        return (got.stdout, 0) if got.stdout else (got.stderr, None)
    ran = trace.run_plain(root, argv, env, workdir, timeout=300)
    return ran.stdout + ran.stderr, ran.returncode


def _run_writable(root: Path, argv: list[str], env: dict[str, str], workdir: str, timeout: float):
    """A sandboxed run whose root is writable (the sandbox mounts it read-only): pip installs PyInstaller into
    the scratch export and the build writes there."""
    cmd = trace.bwrap_argv(root, argv, env, workdir)
    cmd[cmd.index("--ro-bind")] = "--bind"
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {err.timeout:.0f} s")


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def packed_size(path: Path) -> int:
    """The bundle as a shipped archive: tar | gzip -6, counted, never written."""
    tar = subprocess.Popen(["tar", "-C", str(path.parent), "-c", path.name], stdout=subprocess.PIPE)
    gz = subprocess.run(["gzip", "-6"], stdin=tar.stdout, capture_output=True, check=True)
    tar.wait()
    return len(gz.stdout)


LAST_PACKED: dict[str, int] = {}  # app -> packed_size of its last bundle (peer() keeps its 4-tuple)


def peer(app: str, spec, scratch: Path, *, strip: bool = False) -> tuple[bool, str, int, float]:
    """(same output, why, bundle bytes, build seconds); `strip`: PyInstaller's --strip (its smallest onedir)."""
    image = load_image(tag_of(app))
    cfg = image.config
    argv = list(cfg.entrypoint or ()) + list(spec.probe.cmd if spec.probe.cmd and not spec.probe.http_port
                                             else cfg.cmd or ())
    env, workdir = dict(cfg.env_map), cfg.working_dir or "/"
    root = rootfs.export_image(tag_of(app), scratch / "root")
    reference, ref_code = _run_probe(root, argv, env, workdir, spec)
    wheels = pyinstaller_wheels(spec.python_version)
    shutil.copytree(wheels, root / "opt/pyi-wheels")
    add_binutils(root)
    python = "python3"
    on_path = shell_app(image, argv) if Path(argv[0]).name in ("sh", "bash", "dash") and "-c" in argv[1:3] else None
    script, options, args = (on_path, [], []) if on_path else entry_point(root, argv, env, workdir)
    trace.give_to_sandbox(root / "opt")  # what was copied in as root: the sandbox's uid writes below /opt
    pip_args = ["install", "--quiet", "--no-index", "--find-links", "/opt/pyi-wheels", "--target", "/opt/pyi",
                *PYINSTALLER]
    install = _run_writable(root, [python, "-m", "pip", *pip_args], env, "/", timeout=600)
    if install.returncode != 0 and "No module named pip" in install.stderr:  # Debian's python3: pip from its wheel
        pip = next((root / "opt/pyi-wheels").glob("pip-*.whl")).name
        install = _run_writable(root, [python, f"/opt/pyi-wheels/{pip}/pip", *pip_args, "--break-system-packages"],
                                env, "/", timeout=600)
    if install.returncode != 0:
        return False, f"pip install: {(install.stderr.strip().splitlines() or [''])[-1][:120]}", 0, 0.0
    name = Path(script).stem.replace(".", "_") or "app"
    started = time.monotonic()
    build = _run_writable(root, [python, "-c", "import sys; sys.path.append('/opt/pyi'); "
                                   "from PyInstaller.__main__ import run; run()",
                                   "--onedir", "--noconfirm", "--log-level", "WARN", "--name", name,
                                   "--distpath", "/opt/pyi-out/dist", "--workpath", "/opt/pyi-out/build",
                                   "--specpath", "/opt/pyi-out", *(["--strip"] if strip else []), *options, script],
                            env, workdir,
                            timeout=BUILD_TIMEOUT)
    seconds = time.monotonic() - started
    bundle = root / "opt/pyi-out/dist" / name
    if build.returncode != 0 or not (bundle / name).exists():
        return False, f"build failed: {(build.stderr.strip().splitlines() or [''])[-1][:120]}", 0, seconds
    size = _du(bundle)
    LAST_PACKED[app] = packed_size(bundle)
    if on_path:  # the same shell line, the bundle standing in for the app's program on PATH
        got, code = _run_probe(root, argv, {**env, "PATH": f"/opt/pyi-out/dist/{name}:{env.get('PATH', '')}"},
                               workdir, spec)
    else:
        got, code = _run_probe(root, [f"/opt/pyi-out/dist/{name}/{name}", *args], env, workdir, spec)
    if code != ref_code or normalise(got) != normalise(reference):
        last = (normalise(got).splitlines() or ["no output"])[-1]
        return False, f"probe differs: {last[:120]}", size, seconds
    return True, "same output", size, seconds


def faktory_side(app: str, spec, scratch: Path) -> tuple[int, float, bool]:
    started = time.monotonic()
    image = load_image(tag_of(app))
    closure = analyze(image)
    out = scratch / "oci"
    convert(image, closure, "oci", out, EmitOptions())
    seconds = time.monotonic() - started
    p = spec.probe
    probe = (Probe(http_port=p.http_port, http_path=p.http_path, expect=p.expect) if p.http_port
             else Probe(cmd=tuple(p.cmd) if p.cmd else None, expect=p.expect))
    checks = verify_output(tag_of(app), out, probe, timeout=300)
    return closure.size, seconds, all(c.passed for c in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peer_pyinstaller", description=__doc__.split("\n\n")[0])
    parser.add_argument("apps", nargs="*", help="fixture apps (default: every app with a `verify` list)")
    args = parser.parse_args(argv)
    specs = catalog.apps()
    names = args.apps or [name for name, spec in specs.items() if spec.verify]
    rows = []
    for name in names:
        with trace.private_dir(prefix=f"peer-{name}-") as tmp:  # the sandbox's uid must reach the root
            try:
                ok, why, size, seconds = peer(name, specs[name], Path(tmp))
            except (RuntimeError, subprocess.SubprocessError, OSError) as err:
                ok, why, size, seconds = False, f"error: {err}", 0, 0.0
            fk_size, fk_seconds, fk_ok = faktory_side(name, specs[name], Path(tmp))
        rows.append(Row(name, ok, why, size, seconds, fk_size, fk_seconds, fk_ok))
        print(f"{name}: pyinstaller {'ok' if ok else 'FAIL'} ({why}) {size / 1e6:.1f} MB {seconds:.0f} s | "
              f"faktory {'ok' if fk_ok else 'FAIL'} {fk_size / 1e6:.1f} MB {fk_seconds:.0f} s", file=sys.stderr,
              flush=True)
    print("| app | PyInstaller | bundle MB | build s | faktory oci verify | closure MB | analyze+convert s | PyInstaller's result |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.app} | {'ok' if r.pyi_ok else 'fail'} | {r.pyi_bytes / 1e6:.1f} | {r.pyi_seconds:.0f} | "
              f"{'pass' if r.fk_verify else 'fail'} | {r.fk_bytes / 1e6:.1f} | {r.fk_seconds:.0f} | {r.pyi_why} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
