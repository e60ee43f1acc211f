"""`faktory` command line. Each verb's body lives in faktory/commands/<verb>.py; this file only wires them."""

from __future__ import annotations

import functools
import importlib
import os
import sys

import typer

from faktory.errors import FaktoryError

app = typer.Typer(
    name="faktory",
    help="Convert Python container images into unikernel images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# verb -> one-line help. Order is the order `faktory --help` lists them.
VERBS = {
    "inspect": "Show an image's config, history, layers and files (daemon, registry, docker-archive:, oci:).",
    "analyze": "Work out the interpreter, modules, libraries and files the entrypoint needs.",
    "convert": "Convert an image to a unikernel or slim image (unikraft, km, rumprun, nanos, microvm, oci).",
    "verify": "Run the original and the converted image with the same probe and compare.",
    "run": "Boot a converted microvm/unikraft output with QEMU.",
    "audit": "Report which images of a fleet can become unikernels, per target, and why not.",
    "serve": "Run the registry webhook service: convert on push, push the result back.",
    "cache": "Show what the layer cache holds; --prune removes layers not used lately.",
}


def _user_errors(func):
    """A user mistake is one line on stderr and exit 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FaktoryError as exc:
            print(f"faktory: error: {exc}", file=sys.stderr)
            raise typer.Exit(exc.exit_code)
        except KeyboardInterrupt:
            print("faktory: interrupted", file=sys.stderr)
            raise typer.Exit(130)

    return wrapper


def _register(only: str | None = None) -> None:
    for verb, help_text in VERBS.items():
        if only is not None and verb != only:
            continue
        module = importlib.import_module(f"faktory.commands.{verb}")
        app.command(name=verb, help=help_text, short_help=help_text)(_user_errors(module.command))


def _invoked_verb() -> str | None:
    """`faktory VERB …` from the shell needs only VERB's module: importing every verb's dependencies
    (networkx, httpx, docker, …) costs more than a warm `faktory inspect` itself."""
    launched_as_cli = os.path.basename(sys.argv[0]) in ("faktory", "__main__.py")
    if launched_as_cli and len(sys.argv) > 1 and sys.argv[1] in VERBS:
        return sys.argv[1]
    return None


@app.callback()
def _root() -> None:
    """Convert Python container images into unikernel images."""


_register(_invoked_verb())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
