"""What the opt-in bench images share: a docker build context of their definition plus the wheels downloaded on
the host, and the offline `docker build` labelled as the fixture machinery labels its images."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from fixtures import build
from fixtures.catalog import AppSpec


@contextmanager
def context(app: AppSpec, cache: Path) -> Iterator[Path]:
    """A temporary build context: the definition's directory, its wheels and requirements.txt under wheels/."""
    wheels = build.wheels_for(app, cache)
    with tempfile.TemporaryDirectory(dir=cache, prefix=f"tmp-{app.name}-") as tmp:
        ctx = Path(tmp) / "context"
        shutil.copytree(app.directory, ctx, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(wheels, ctx / "wheels")
        shutil.copy(app.directory / "requirements.txt", ctx / "wheels" / "requirements.txt")
        yield ctx


def docker_build(app: AppSpec, key: str, tag: str, ctx: Path, *args: str) -> None:
    build.log(f"{app.name}: docker build")
    build.run(["docker", "build", "--network=none", "--label", f"{build.KEY_LABEL}={key}",
               "--label", f"org.faktory.fixture.name={app.name}", *args, "-t", tag, str(ctx)],
              env={"DOCKER_BUILDKIT": "0"})
