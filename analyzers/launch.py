"""How the converted image starts the app: the exact argv, env and cwd, from the resolved entrypoint."""

from __future__ import annotations

from faktory.analyzers.entrypoint import PythonCommand
from faktory.analyzers.model import Launch


def build_launch(interpreter_path: str, env: dict[str, str], workdir: str, cmd: PythonCommand,
                 script: str | None) -> Launch:
    # The path the image runs it by (a symlink like /usr/bin/python3 is kept): sys.executable and a venv's
    # pyvenv.cfg lookup stay as in the container.
    argv = [interpreter_path, *cmd.flags]
    for x in cmd.xoptions:
        argv += ["-X", x]
    if cmd.module:
        argv += ["-m", cmd.module]
    elif cmd.command is not None:
        argv += ["-c", cmd.command]
    elif script:
        argv.append(script)
    argv += list(cmd.args)
    return Launch(argv=tuple(argv), env=dict(env), workdir=workdir or "/", script=script, module=cmd.module,
                  flags=tuple(cmd.flags))
