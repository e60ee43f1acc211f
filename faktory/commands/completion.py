"""`faktory completion bash|zsh|fish`: print the shell's completion script (as `docker completion` does).

    faktory completion bash > /etc/bash_completion.d/faktory
    faktory completion zsh  > "${fpath[1]}/_faktory"
    faktory completion fish > ~/.config/fish/completions/faktory.fish
"""

from __future__ import annotations

import typer

from faktory.errors import FaktoryError

SHELLS = ("bash", "zsh", "fish")


def script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        from faktory.commands.common import suggest

        raise FaktoryError(f"unknown shell {shell!r}: choose from {', '.join(SHELLS)}{suggest(shell, SHELLS)}")
    return get_completion_script(prog_name="faktory", complete_var="_FAKTORY_COMPLETE", shell=shell)


def command(shell: str = typer.Argument(..., help="bash, zsh or fish.")) -> None:
    print(script(shell.lower()))
