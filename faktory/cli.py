"""`faktory` command line. Each verb's body lives in faktory/commands/<verb>.py; this file only wires them."""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Optional

import typer

from faktory.errors import FaktoryError

app = typer.Typer(
    name="faktory",
    help="Convert Python container images into unikernel images.",
    no_args_is_help=True,
    add_completion=True,
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
    "completion": "Print the bash, zsh or fish completion script.",
    "hooks": "Show the PyInstaller hooks faktory reads as data: --stats for coverage, MODULE for one hook.",
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
    from faktory.commands.common import with_common_options

    for verb, help_text in VERBS.items():
        if only is not None and verb != only:
            continue
        module = importlib.import_module(f"faktory.commands.{verb}")
        body = _user_errors(with_common_options(module.command, verb))
        app.command(name=verb, help=help_text, short_help=help_text)(body)


def _invoked_verb() -> str | None:
    """`faktory VERB …` from the shell needs only VERB's module: importing every verb's dependencies
    (networkx, httpx, docker, …) costs more than a warm `faktory inspect` itself."""
    launched_as_cli = os.path.basename(sys.argv[0]) in ("faktory", "__main__.py")
    if launched_as_cli and not os.environ.get("_FAKTORY_COMPLETE"):
        verbs = [a for a in sys.argv[1:] if not a.startswith("-")][:1]
        if verbs and verbs[0] in VERBS:
            return verbs[0]
    return None


def _print_version(value: bool) -> None:
    if value:
        from faktory import installed_version

        print(f"faktory {installed_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, show_default=False,
                                 help="More detail on stderr (debug messages)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and warnings on stderr; no progress."),
    log_level: Optional[str] = typer.Option(None, "--log-level", help="debug|info|warning|error."),
) -> None:
    """Convert Python container images into unikernel images."""
    from faktory.commands.common import set_root

    try:
        set_root(verbose, quiet, log_level)
    except FaktoryError as exc:
        print(f"faktory: error: {exc}", file=sys.stderr)
        raise typer.Exit(2)


_register(_invoked_verb())


def main() -> None:
    """Usage errors are one line too (`faktory: error: …`), as application errors are: no boxes."""
    from typer._click import exceptions as click

    try:
        code = typer.main.get_command(app).main(prog_name="faktory", standalone_mode=False)
    except click.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "faktory"
        print(f"faktory: error: {exc.format_message()} (see '{where} --help')", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        print(f"faktory: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click.Abort:
        print("faktory: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
