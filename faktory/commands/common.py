"""What every verb shares: -v/-q/--log-level, --pull, the one-line error style, output that survives a pipe.

Verbs declare only their own options; `with_common_options` adds the shared ones to the signature typer reads,
so `faktory VERB -q` and `faktory -q VERB` both work and every verb spells them the same way.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
from dataclasses import dataclass
from typing import Optional

import typer

LOG_LEVELS = ("debug", "info", "warning", "error")
# Verbs that read images by reference, and the pull policy each uses when --pull is not given.
PULL_DEFAULTS = {"inspect": "missing", "analyze": "missing", "convert": "missing", "verify": "missing",
                 "audit": "never"}
PIPE_WIDTH = 1 << 16  # "unlimited": rich never wraps or truncates a line narrower than this


@dataclass(frozen=True)
class Verbosity:
    level: int = logging.INFO

    @property
    def quiet(self) -> bool:
        return self.level > logging.INFO


_state = {"verbosity": Verbosity(), "root": Verbosity()}


def verbosity() -> Verbosity:
    return _state["verbosity"]


def quiet() -> bool:
    return verbosity().quiet


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "faktory: " if record.levelno < logging.WARNING else f"faktory: {record.levelname.lower()}: "
        return prefix + record.getMessage()


def resolve_level(verbose: int, quiet_: bool, log_level: Optional[str]) -> int:
    if log_level is not None:
        name = log_level.lower()
        if name not in LOG_LEVELS:
            from faktory.errors import FaktoryError

            raise FaktoryError(f"--log-level {log_level!r}: choose from {', '.join(LOG_LEVELS)}")
        return getattr(logging, name.upper())
    if quiet_:
        return logging.WARNING
    if verbose:
        return logging.DEBUG
    return logging.INFO


def configure(level: int) -> None:
    """The `faktory` loggers print to stderr as `faktory: …` lines; INFO is the default."""
    _state["verbosity"] = Verbosity(level)
    logger = logging.getLogger("faktory")
    for handler in list(logger.handlers):
        if getattr(handler, "_faktory_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._faktory_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(_OneLine())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def set_root(verbose: int, quiet_: bool, log_level: Optional[str]) -> None:
    """`faktory -v VERB`: the root's choice holds unless the verb names its own."""
    level = resolve_level(verbose, quiet_, log_level)
    _state["root"] = Verbosity(level)
    configure(level)


def _common_params(verb: str) -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter("verbose", kw, annotation=int, default=typer.Option(
            0, "--verbose", "-v", count=True, show_default=False, help="More detail on stderr (debug messages).")),
        inspect.Parameter("quiet", kw, annotation=bool, default=typer.Option(
            False, "--quiet", "-q", help="Only errors and warnings on stderr; no progress.")),
        inspect.Parameter("log_level", kw, annotation=Optional[str], default=typer.Option(
            None, "--log-level", help="debug|info|warning|error (overrides -v/-q).")),
    ]
    if verb in PULL_DEFAULTS:
        params.append(inspect.Parameter("pull", kw, annotation=Optional[str], default=typer.Option(
            None, "--pull", help=f"always|missing|never: when to read an engine name from its registry "
                                 f"(default {PULL_DEFAULTS[verb]}).")))
    return params


def with_common_options(func, verb: str):
    """`func` with the shared options added (those it declares itself it keeps, and they still count)."""
    sig = inspect.signature(func, eval_str=True)
    own = set(sig.parameters)
    extra = [p for p in _common_params(verb) if p.name not in own]
    extra_names = {p.name for p in extra}

    @functools.wraps(func)
    def wrapper(**kwargs):
        shared = {name: kwargs.pop(name) if name in extra_names else kwargs.get(name)
                  for name in ("verbose", "quiet", "log_level", "pull")}
        if shared["verbose"] or shared["quiet"] or shared["log_level"]:
            configure(resolve_level(shared["verbose"] or 0, bool(shared["quiet"]), shared["log_level"]))
        if isinstance(kwargs.get("to"), str):
            kwargs["to"] = target_name(kwargs["to"])
        if verb not in PULL_DEFAULTS:
            return func(**kwargs)
        before = os.environ.get("FAKTORY_PULL")
        set_pull(shared["pull"] or before or PULL_DEFAULTS[verb])
        try:
            return func(**kwargs)
        finally:  # a verb run in-process (tests, an embedding program) leaves the policy as it found it
            if before is None:
                os.environ.pop("FAKTORY_PULL", None)
            else:
                os.environ["FAKTORY_PULL"] = before

    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{p.name: p.annotation for p in sig.parameters.values()},
                               **{p.name: p.annotation for p in extra}}
    return wrapper


def set_pull(policy: str) -> None:
    """The policy for this process and the audit's workers (they inherit the environment)."""
    from faktory.sources import check_pull_policy

    os.environ["FAKTORY_PULL"] = check_pull_policy(policy)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def console(stderr: bool = False, **kwargs):
    """A rich Console that, writing to a pipe or file, neither wraps nor truncates (one record, one line)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, **kwargs)
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True, **kwargs)


def target_name(text: str) -> str:
    """`--to OCI` is `--to oci`; a near miss is named (`micro-vm` -> microvm)."""
    from faktory.emitters.convert import ALL_TARGETS
    from faktory.errors import FaktoryError

    name = text.strip().lower()
    if name not in ALL_TARGETS:
        raise FaktoryError(f"unknown target {text!r}: choose from {', '.join(ALL_TARGETS)}{suggest(name, ALL_TARGETS)}")
    return name


def suggest(word: str, choices) -> str:
    """`; did you mean 'oci'?` for a near miss, else nothing."""
    import difflib

    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def artifact_size(artifact) -> tuple[str, int]:
    """What convert reports: an image target's image as stored (compressed layers + manifest), else the
    output's files; never the closure before --compact stripped it."""
    from faktory.emitters.convert import MANIFEST, README, load_manifest

    if artifact.image is not None and artifact.image.compressed_size:
        return "image", artifact.image.compressed_size
    files = load_manifest(artifact.outdir).get("files") or {}
    return "files", sum(size for name, size in files.items() if name not in (MANIFEST, README))


def check_tag(tag: str | None) -> str | None:
    """--tag NAME[:TAG] for the output image, checked before any work."""
    if tag is None:
        return None
    from faktory.sources.reference import parse_docker_ref

    parse_docker_ref(tag)
    return tag if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest"
