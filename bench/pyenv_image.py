"""The bench's pyenv image (bench/images/pyenv-pillow): built offline from wheels downloaded on the host, with
the fixture machinery, exported and pushed to the test registry. Opt-in: `make test` never builds it.

    .venv/bin/python bench/pyenv_image.py      # prints its registry reference
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import benchimage  # noqa: E402

from faktory.cache import FileLock
from fixtures import build
from fixtures.catalog import AppSpec, Probe, digest, pyenv_prefix, tree_digest

NAME = "bench-pyenv-pillow"
DIRECTORY = Path(__file__).resolve().parent / "images" / "pyenv-pillow"
BASE = "py3.12-slim"
REGISTRY = "127.0.0.1:5000"


def spec() -> AppSpec:
    reqs = tuple(line.strip() for line in (DIRECTORY / "requirements.txt").read_text().splitlines() if line.strip())
    return AppSpec(name=NAME, directory=DIRECTORY, base=BASE, python_version="3.12", requirements=reqs,
                   local_packages=(), probe=Probe(cmd=("python3.12", "app.py"), expect="thumb="))


def ensure(registry: str = REGISTRY) -> str:
    """The image's reference in `registry`, building and pushing it when needed."""
    prefix = pyenv_prefix("3.12")
    if prefix is None:
        raise build.BuildError("no pyenv CPython 3.12 with a shared libpython on this machine")
    base = build.ensure(only=[BASE], push_images=False)
    if BASE not in base.images:
        raise build.BuildError(f"base {BASE}: {base.missing.get(BASE)}")
    app = spec()
    cache = build.cache_root()
    python = prefix / "bin" / "python3.12"
    key = digest(["bench", build.FORMAT, tree_digest(DIRECTORY), base.images[BASE].image_id, prefix.name,
                  python.stat().st_size, int(python.stat().st_mtime)])[:16]
    tag = build.tag_of(NAME)
    out_dir = cache / "images" / NAME / key
    with FileLock(str(cache / "build.lock")):
        build._ensure_in_daemon(NAME, key, tag, out_dir, lambda: _build(app, prefix, key, tag, cache))
        _, oci = build.export(tag, out_dir)
        return build.push(oci, registry, NAME, out_dir)


def _build(app: AppSpec, prefix: Path, key: str, tag: str, cache: Path) -> None:
    with benchimage.context(app, cache) as context:
        # the host's own .pth files are local configuration, not part of a pyenv install
        shutil.copytree(prefix, context / "pyenv", symlinks=True, ignore=shutil.ignore_patterns("*.pth"))
        benchimage.docker_build(app, key, tag, context, "--build-arg", f"PYENV_VERSION={prefix.name}")


if __name__ == "__main__":
    print(ensure())
