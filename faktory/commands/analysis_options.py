"""The analysis options analyze, convert and audit share (hints, observation), defined once.

`@analysis_options` adds the options to a verb's signature and hands the verb one `analysis` keyword, an
AnalyzeOptions, built and checked here: a malformed option is one line and exit 2 (OptionError).
"""

from __future__ import annotations

import functools
import inspect
from typing import List, Optional

import typer

from faktory.analyzers.options import AnalyzeOptions, OptionError, hint, load_hook_dir, observe_settings

HINTS = {  # parameter -> (hint kind, option, help)
    "include": ("include", "--include",
                "Keep this image path or glob (`/etc/app/*.yaml`, `/opt/data/**`). Repeatable."),
    "hidden_import": ("hidden-import", "--hidden-import",
                      "Keep this module (MOD.* its submodules, MOD.** its whole tree). Repeatable."),
    "collect": ("collect", "--collect", "Keep this package whole: modules, data files, metadata. Repeatable."),
    "exclude": ("exclude", "--exclude",
                "Remove this path or glob (and all below it) from the closure, and what only it kept. Repeatable."),
    "locale": ("locale", "--locale",
               "Keep the locale data (babel, gettext catalogues) of this language too, or `all` of every one; by "
               "default English, the environment's and the app's own literals'. Repeatable."),
}
OBSERVE_HELP = ("Also RUN the image's app (sandboxed: bubblewrap, read-only root, loopback-only network) under "
                "strace and keep every image file it touches. Executes the image's code. See docs/observe.md.")


def _parameters(observe: bool) -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    out = [inspect.Parameter(name, kw, annotation=Optional[List[str]], default=typer.Option(None, flag, help=text))
           for name, (_, flag, text) in HINTS.items()] if not observe else []
    if not observe:
        out.append(inspect.Parameter("hooks", kw, annotation=Optional[List[str]], default=typer.Option(
            None, "--hooks", help="A directory of your own hook files (YAML, as analyzers/hooks/*.yaml). Repeatable.")))
    out += [
        inspect.Parameter("observe", kw, annotation=bool, default=typer.Option(False, "--observe", help=OBSERVE_HELP)),
        inspect.Parameter("probe", kw, annotation=Optional[str], default=typer.Option(
            None, "--probe", help="--observe: run these ARGS instead of Cmd (as `docker run IMAGE ARGS`).")),
        inspect.Parameter("http", kw, annotation=Optional[str], default=typer.Option(
            None, "--http", help="--observe: serve, wait for PORT inside the sandbox, GET /PATH (PORT/PATH).")),
        inspect.Parameter("observe_timeout", kw, annotation=Optional[float], default=typer.Option(
            None, "--observe-timeout", help="--observe: seconds the run (or the wait for an answer) may take; 60.")),
    ]
    return out


def build(observe: bool = False, probe: str | None = None, http: str | None = None,
          observe_timeout: float | None = None, hooks: list[str] | None = None, **hints: list[str] | None
          ) -> AnalyzeOptions:
    if not observe and (probe is not None or http is not None or observe_timeout is not None):
        raise OptionError("--probe, --http and --observe-timeout need --observe")
    checked = tuple(hint(kind, value, f"hint:{flag}") for name, (kind, flag, _) in HINTS.items()
                    for value in (hints.get(name) or ()))
    user_hooks = tuple(h for directory in (hooks or ()) for h in load_hook_dir(directory))
    settings = observe_settings(probe, http, observe_timeout) if observe else None
    if observe:
        from faktory.observe import require_tools

        require_tools()  # before any image is read
    return AnalyzeOptions(hints=checked, hooks=user_hooks, observe=settings)


def _decorate(func, observe_only: bool):
    added = _parameters(observe_only)
    names = [p.name for p in added]
    signature = inspect.signature(func)
    kept = [p for p in signature.parameters.values() if p.name != "analysis"]

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        kwargs["analysis"] = build(**{name: kwargs.pop(name) for name in names})
        return func(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=kept + added)
    wrapper.__annotations__ = {**{k: v for k, v in func.__annotations__.items() if k != "analysis"},
                               **{p.name: p.annotation for p in added}}
    return wrapper


def analysis_options(func):
    """Hints and observation (analyze, convert)."""
    return _decorate(func, observe_only=False)


def observe_options(func):
    """Observation only (audit)."""
    return _decorate(func, observe_only=True)
