"""One observation: the image's own command (or a probe) run in the sandbox under strace, in a private root."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from faktory.errors import FaktoryError
from faktory.observe.rootfs import materialise_image
from faktory.observe.sandbox import give_to_sandbox, private_dir, run_traced, serve_and_get

TOOLS = ("strace", "bwrap", "nsenter", "setpriv")
DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what the engine sets when Env has none


class ObserveUnavailable(FaktoryError):
    pass


@dataclass(frozen=True)
class Observation:
    paths: frozenset[str]  # paths inside the image the app named in calls that succeeded
    argv: tuple[str, ...]
    returncode: int | None  # None: stopped (a server, or the timeout)
    timed_out: bool
    answered: bool | None  # --http: the GET got an answer
    output: str  # stdout, or the HTTP body
    stderr_tail: str
    seconds: float  # the whole observation: writing the root, the traced run, cleaning up
    root_seconds: float  # of which writing the image's tree


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise ObserveUnavailable(f"--observe needs {', '.join(missing)} on this host (scripts/setup.sh installs them)")


def _argv(config, probe: tuple[str, ...] | None) -> tuple[str, ...]:
    argv = tuple(config.entrypoint or ()) + tuple(probe if probe is not None else (config.cmd or ()))
    if not argv:
        raise FaktoryError("observe: the image has no Entrypoint or Cmd, and no --probe was given")
    return argv


def observe(image, settings, work_root: str | None = None) -> Observation:
    """Run the app of `image` as `settings` (faktory.analyzers.options.ObserveSettings) ask, traced."""
    require_tools()
    started = time.monotonic()
    config = image.config
    argv = _argv(config, settings.probe)
    env = {"PATH": DOCKER_PATH, "HOME": "/root", "HOSTNAME": "faktory-observe", **config.env_map}
    workdir = config.working_dir or "/"
    with private_dir(parent=work_root) as tmp:
        root, log = tmp / "root", tmp / "strace.log"
        materialise_image(image.fs, root, workdir=workdir)
        give_to_sandbox(root)
        root_seconds = time.monotonic() - started
        if settings.http_port:
            trace = serve_and_get(root, list(argv), env, workdir, settings.http_port, settings.http_path, log,
                                  timeout=settings.timeout)
        else:
            trace = run_traced(root, list(argv), env, workdir, log, timeout=settings.timeout)
    return Observation(trace.paths, argv, trace.returncode, trace.timed_out, trace.answered, trace.stdout,
                       trace.stderr[-2000:], time.monotonic() - started, root_seconds)
