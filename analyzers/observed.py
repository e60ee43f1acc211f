"""Observation as a contributor: the image files a sandboxed run of the app touched join the graph.

A file the static closure already holds only gets `observed=True` on its node (its `--why` keeps the static
story); one it lacks is kept with reason `observed`, and is listed as missed by the static analysis.
"""

from __future__ import annotations

from typing import Protocol

from faktory.analyzers.graphbuild import ENTRY, fnode
from faktory.analyzers.model import INFO, WARNING, Finding
from faktory.image import FILE

SANDBOX_OWN = ("/proc", "/sys", "/dev", "/tmp")  # the sandbox's own mounts, not the image's files


class FileKeeper(Protocol):
    fs: object
    graph: object

    def keep_path(self, path: str, src: str, reason: str, detail: str | None = None) -> str | None: ...

    def kept_files(self) -> list[str]: ...


def _image_path(path: str) -> bool:
    return path != "/" and not any(path == p or path.startswith(p + "/") for p in SANDBOX_OWN)


def contribute(keeper: FileKeeper, image, settings) -> tuple[dict | None, list[Finding]]:
    """--observe: run the app (faktory.observe) and merge what it touched. (None, []) when not asked."""
    if settings is None:
        return None, []
    from faktory.observe import observe

    seen = observe(image, settings)
    missed, found = merge(keeper, seen)
    summary = {"argv": list(seen.argv), "returncode": seen.returncode, "timed_out": seen.timed_out,
               "answered": seen.answered, "seconds": round(seen.seconds, 2),
               "root_seconds": round(seen.root_seconds, 2), "missed": list(missed)}
    return summary, found


def merge(keeper: FileKeeper, observation) -> tuple[tuple[str, ...], list[Finding]]:
    """Returns the regular files the static closure missed (real paths) and the findings about the run."""
    static = set(keeper.kept_files())
    fs, graph = keeper.fs, keeper.graph
    detail = " ".join(observation.argv)[:120]
    missed: set[str] = set()
    for path in sorted(p for p in observation.paths if _image_path(p)):
        try:
            target = fs.stat(path)
            real = fs.resolve(path)
        except Exception:  # a path through a symlink loop names nothing
            continue
        if target is None:
            continue
        if target.kind == FILE and real not in static and _image_path(real):
            missed.add(real)
        if fnode(path) in graph and fnode(real) in graph:
            graph.nodes[fnode(real)]["observed"] = True
        else:
            keeper.keep_path(path, ENTRY, "observed", detail)
    return tuple(sorted(missed)), _findings(observation, missed)


def _findings(observation, missed: set[str]) -> list[Finding]:
    out = []
    if missed:
        shown = ", ".join(sorted(missed)[:5]) + (f" and {len(missed) - 5} more" if len(missed) > 5 else "")
        out.append(Finding("observed-missed", f"the observed run touched {len(missed)} file(s) the static analysis "
                                              f"missed (now kept): {shown}", INFO))
    failed = None
    if observation.answered is False:
        failed = "the observed server gave no answer before the timeout"
    elif observation.timed_out and observation.answered is None:
        out.append(Finding("observe-stopped", "the observed run was still going at the timeout and was stopped "
                                              "(a server: --http PORT/PATH exercises it)", INFO))
    elif observation.returncode not in (0, None):
        tail = (observation.stderr_tail.strip().splitlines() or [""])[-1][:160]
        failed = f"the observed run exited {observation.returncode}" + (f": {tail}" if tail else "")
    if failed:
        out.append(Finding("observe-incomplete", failed + "; files it would have touched later may be missing",
                           WARNING))
    return out
