"""The bench's bloated image (bench/images/bloated-cli): a py3.12-slim data-science base of about 1 GB (numpy,
pandas, scipy, pyarrow, scikit-learn, sympy, matplotlib, IPython, jedi) under a small report CLI that uses
only click, rich, tabulate, tqdm and requests. Built offline from wheels downloaded on the host, with the fixture
machinery, and exported (docker save + OCI layout). Opt-in: `make test` never builds it.

    .venv/bin/python bench/bloated_image.py      # prints its tag and OCI layout
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import benchimage  # noqa: E402

from faktory.cache import FileLock
from fixtures import build
from fixtures.catalog import AppSpec, Probe, digest, tree_digest

NAME = "bench-bloated-cli"
DIRECTORY = Path(__file__).resolve().parent / "images" / "bloated-cli"
BASE = "py3.12-slim"
PROBE = Probe(cmd=("python3", "app.py", "--region", "all"), expect="report regions=3 total=")


@dataclass(frozen=True)
class BuiltImage:
    tag: str  # in the Docker engine
    oci: Path  # its OCI layout (ref oci:PATH:latest)
    probe: Probe

    @property
    def oci_ref(self) -> str:
        return f"oci:{self.oci}:latest"


def spec() -> AppSpec:
    lines = (line.split("#")[0].strip() for line in (DIRECTORY / "requirements.txt").read_text().splitlines())
    return AppSpec(name=NAME, directory=DIRECTORY, base=BASE, python_version="3.12",
                   requirements=tuple(line for line in lines if line), local_packages=(), probe=PROBE)


def ensure() -> BuiltImage:
    """The image in the engine and its OCI layout, built when the definition or the base changed."""
    base = build.ensure(only=[BASE], push_images=False)
    if BASE not in base.images:
        raise build.BuildError(f"base {BASE}: {base.missing.get(BASE)}")
    app = spec()
    cache = build.cache_root()
    key = digest(["bench", build.FORMAT, tree_digest(DIRECTORY), base.images[BASE].image_id])[:16]
    tag = build.tag_of(NAME)
    out_dir = cache / "images" / NAME / key
    with FileLock(str(cache / "build.lock")):
        build._ensure_in_daemon(NAME, key, tag, out_dir, lambda: _build(app, key, tag, cache))
        _, oci = build.export(tag, out_dir)
    return BuiltImage(tag, oci, PROBE)


def _build(app: AppSpec, key: str, tag: str, cache: Path) -> None:
    with benchimage.context(app, cache) as context:
        benchimage.docker_build(app, key, tag, context)


if __name__ == "__main__":
    built = ensure()
    print(built.tag, built.oci_ref)
