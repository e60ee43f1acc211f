"""Small hand-made images for emitter tests: a host directory seen through the Image protocol.

Real files (a real CPython from the host's pyenv prefix, real glibc), a hand-written closure: the emitters are
exercised without the inspector or the analyzer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import networkx as nx

from faktory.analyzers.model import Closure, Interpreter, Launch
from faktory.image import ImageConfig
from tests.oracle.dirfs import DirFileSystem
from tests.oracle.dirimage import DirImage


PYENV = Path("/root/.pyenv/versions")
HOST_LIBS = ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6",
             "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
STDLIB = ("os.py", "encodings/__init__.py", "encodings/aliases.py", "encodings/utf_8.py", "encodings/latin_1.py",
          "encodings/ascii.py")
APP = 'import sys\nprint("hello from", sys.argv[1:] or "nowhere")\nsys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)\n'


def pyenv_prefix(minor: str = "3.12") -> Path:
    return sorted(PYENV.glob(minor + ".*"))[-1]


def python_tree(root: Path, minor: str = "3.12") -> list[str]:
    """A usrmerged Debian-like root with a pyenv CPython in /usr/local and a one-file app; returns closure paths."""
    prefix = pyenv_prefix(minor)
    (root / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (root / "usr/lib64").mkdir(parents=True)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
        os.symlink(target, root / link)
    (root / "usr/bin").mkdir()
    for lib in HOST_LIBS:
        shutil.copy2(os.path.realpath(lib), root / "usr/lib/x86_64-linux-gnu" / os.path.basename(lib))
    # absolute, as on Debian: resolving it goes through the /lib -> usr/lib symlink
    os.symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", root / "usr/lib64/ld-linux-x86-64.so.2")
    local = root / "usr/local"
    (local / "bin").mkdir(parents=True)
    (local / "lib").mkdir()
    shutil.copy2(prefix / f"bin/python{minor}", local / f"bin/python{minor}")
    os.symlink(f"python{minor}", local / "bin/python3")
    shutil.copy2(prefix / f"lib/libpython{minor}.so.1.0", local / f"lib/libpython{minor}.so.1.0")
    stdlib = local / f"lib/python{minor}"
    for rel in STDLIB:
        (stdlib / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(prefix / f"lib/python{minor}" / rel, stdlib / rel)
    (stdlib / "lib-dynload").mkdir()
    (root / "app").mkdir()
    (root / "app/main.py").write_text(APP)
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("handmade\n")
    (root / "dev").mkdir()
    paths = ["/usr/local/bin/python3", f"/usr/local/lib/libpython{minor}.so.1.0", "/lib64/ld-linux-x86-64.so.2",
             "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6", "/app/main.py",
             f"/usr/local/lib/python{minor}/lib-dynload"]
    paths += [f"/usr/local/lib/python{minor}/{rel}" for rel in STDLIB]
    return paths


def python_layer(root: Path, minor: str = "3.12") -> bytes:
    """python_tree as one layer tar (symlinks kept as symlinks), for images built as archives or layouts."""
    import io
    import tarfile

    python_tree(root, minor)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path in sorted(root.rglob("*")):
            tf.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buf.getvalue()


def python_image(root: Path, minor: str = "3.12", cmd: tuple[str, ...] = ("python3", "/app/main.py", "world")):
    paths = python_tree(root, minor)
    env = ("PATH=/usr/local/bin:/usr/bin:/bin", "LD_LIBRARY_PATH=/usr/local/lib", "LANG=C.UTF-8")
    config = ImageConfig(env=env, cmd=cmd, working_dir="/app")
    image = DirImage(DirFileSystem(root), config, ref="handmade:latest")
    major, mnr = (int(x) for x in minor.split("."))
    interp = Interpreter(
        path="/usr/local/bin/python3", real_path=f"/usr/local/bin/python{minor}", version=(major, mnr, 0),
        abi_tag=f"cpython-{major}{mnr}-x86_64-linux-gnu", libc="glibc", pt_interp="/lib64/ld-linux-x86-64.so.2",
        libpython=f"/usr/local/lib/libpython{minor}.so.1.0", prefix="/usr/local",
        stdlib_dir=f"/usr/local/lib/python{minor}", dynload_dir=f"/usr/local/lib/python{minor}/lib-dynload", pie=True)
    graph = nx.DiGraph()
    graph.add_node("entrypoint")
    for p in paths:
        e = image.fs.entry(p)
        graph.add_node(f"file:{p}", path=p, size=e.size, kind=e.kind)
        graph.add_edge("entrypoint", f"file:{p}", reason="handmade")
    launch = Launch(argv=(f"/usr/local/bin/python{minor}",) + cmd[1:], env=dict(x.split("=", 1) for x in env),
                    workdir="/app", script="/app/main.py")
    closure = Closure(image.ref, image.digest, interp, launch, graph)
    return image, closure


def digest_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cpio_list(path: Path) -> list[str]:
    out = subprocess.run(["cpio", "-it", "--quiet"], stdin=open(path, "rb"), capture_output=True, check=True)
    return out.stdout.decode().split()
