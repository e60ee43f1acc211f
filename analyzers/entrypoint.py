"""From Entrypoint + Cmd to the Python interpreter the container really runs, and with what.

Follows `/bin/sh -c "…"` (shell form), `env`, init shims (tini, dumb-init), privilege drops (gosu, su-exec), PATH lookup from the image's Env,
console-script shebangs (`#!/usr/local/bin/python3.12`, `#!/usr/bin/env python3`) and shell wrapper scripts
(`sh /run.sh` or a `#!/bin/sh` entrypoint) that end in `exec …` or in a plain command. Only reads files; never
runs them.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from faktory.analyzers.elf import is_elf, parse_elf
from faktory.analyzers.graphbuild import GraphBuilder
from faktory.errors import FaktoryError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHELLS = {"sh", "bash", "dash", "ash", "busybox"}
INIT_SHIMS = {"tini", "dumb-init", "catatonit", "tini-static"}
# Privilege-drop programs that exec the rest of their argv as the user named first (`exec gosu app "$@"`).
USER_SHIMS = {"gosu", "su-exec", "s6-setuidgid"}
PYTHON_NAME = re.compile(r"^(python|pypy)[0-9.]*[dmu]*$")
MAX_HOPS = 16


class UnsupportedEntrypoint(FaktoryError):
    """The image's Entrypoint/Cmd does not lead to a Python interpreter faktory can follow."""


@dataclass(frozen=True)
class PythonCommand:
    """`python [flags] (-c CODE | -m MODULE | SCRIPT | -) [args]` split into its parts."""

    flags: tuple[str, ...] = ()
    xoptions: tuple[str, ...] = ()
    command: str | None = None
    module: str | None = None
    script: str | None = None
    args: tuple[str, ...] = ()


@dataclass
class EntrypointResult:
    interpreter: str  # the path the interpreter is executed by (may be a symlink)
    python: PythonCommand
    workdir: str
    env: dict[str, str]
    hops: list[tuple[str, str]] = field(default_factory=list)  # (path kept, reason)
    skipped: tuple[str, ...] = ()  # commands a shell line runs before the one that execs the app
    user: str = ""  # the user a privilege-drop program (gosu) runs the app as, when one does


def parse_python_argv(args: list[str]) -> PythonCommand:
    flags: list[str] = []
    xopts: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):  # --version, --help, --check-hash-based-pycs X
            flags.append(arg)
            if arg == "--check-hash-based-pycs":
                i += 1
            i += 1
            continue
        j = 1
        while j < len(arg):
            ch = arg[j]
            rest = arg[j + 1:]
            if ch in "cmXW":
                value = rest if rest else (args[i + 1] if i + 1 < len(args) else "")
                if not rest:
                    i += 1
                if ch == "c":
                    return PythonCommand(tuple(flags), tuple(xopts), command=value, args=tuple(args[i + 1:]))
                if ch == "m":
                    return PythonCommand(tuple(flags), tuple(xopts), module=value, args=tuple(args[i + 1:]))
                if ch == "X":
                    xopts.append(value)
                break
            flags.append("-" + ch)
            j += 1
        i += 1
    rest = args[i:]
    if rest and rest[0] != "-":
        return PythonCommand(tuple(flags), tuple(xopts), script=rest[0], args=tuple(rest[1:]))
    return PythonCommand(tuple(flags), tuple(xopts), args=tuple(rest[1:]))


FD_REDIRECT = re.compile(r"(?<![\w&])\d*>&\d+|&>>?(?=\s*\S)")


CONTROL_CHARS = ";&|()"  # the shell's control operators; a `(cmd; echo $?)` subshell's commands are the chain's


def _shell_to_argv(text: str, env: dict[str, str], skipped: list[str] | None = None,
                   runs_python: Callable[[list[str], dict[str, str], str | None], bool] | None = None,
                   ) -> tuple[list[str], str | None]:
    """The command a `sh -c` string ends up exec'ing: last command of a `&&`/`;` chain, `cd` tracked. Given
    `runs_python`, the last command it accepts instead (`app && cat report.txt`: the app is not the last one).
    The other commands of the chain go to `skipped` (shell builtins that only set state excepted)."""
    text = FD_REDIRECT.sub(" ", text)  # `2>&1`, `>&2`: which fd goes where, not a `&` ending a command
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=CONTROL_CHARS)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError as exc:
        raise UnsupportedEntrypoint(f"cannot parse shell command {text!r}: {exc}") from None
    commands: list[list[str]] = [[]]
    for tok in tokens:
        # `;` `&&` `||` `&` `|`, a subshell's `(`/`)` (a run of them is one token: `);`), a group's `{`/`}`
        if set(tok) <= set(CONTROL_CHARS) or tok in ("{", "}"):
            commands.append([])
        else:
            commands[-1].append(tok)
    workdir = None
    chain: list[tuple[list[str], str | None]] = []  # (command, the cd in effect)
    for cmd in commands:
        if not cmd:
            continue
        if cmd[0] == "cd" and len(cmd) > 1:
            workdir = cmd[1]
            continue
        if cmd[0] in ("export", "set", "echo", "true", ":", "umask"):
            if cmd[0] == "export":
                for item in cmd[1:]:
                    if "=" in item:
                        key, _, value = item.partition("=")
                        env[key] = value
            continue
        chain.append((cmd, workdir))
    if not chain:
        return [], workdir
    pick = len(chain) - 1
    for i in range(len(chain) - 1, -1, -1) if runs_python is not None and len(chain) > 1 else ():
        words, own = _without_prefixes(chain[i][0])
        trial = {**env, **own}
        if runs_python([_expand_vars(tok, trial) for tok in words], trial, chain[i][1]):
            pick = i
            break
    if skipped is not None:
        skipped += [" ".join(cmd) for i, (cmd, _) in enumerate(chain) if i != pick]
    words, own = _without_prefixes(chain[pick][0])
    env.update(own)
    return [_expand_vars(tok, env) for tok in words], chain[pick][1] if pick < len(chain) - 1 else workdir


def _without_prefixes(cmd: list[str]) -> tuple[list[str], dict[str, str]]:
    """A chain command without its `exec` and `VAR=value` prefixes, and the variables those set."""
    own: dict[str, str] = {}
    while cmd and (cmd[0] == "exec" or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", cmd[0])):
        if cmd[0] != "exec":
            key, _, value = cmd[0].partition("=")
            own[key] = value
        cmd = cmd[1:]
    return cmd, own


def _expand_vars(token: str, env: dict[str, str]) -> str:
    """$VAR, ${VAR}, ${VAR:-default} and ${VAR:=default} from the environment known so far."""
    def braced(m: re.Match) -> str:
        value = env.get(m.group(1), "")
        return value if value or m.group(2) is None else m.group(3)

    token = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-=]([^}]*))?\}", braced, token)
    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", lambda m: env.get(m.group(1), ""), token)


_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _wrapper_env(text: str, env: dict[str, str]) -> None:
    """What a wrapper script exports before its `exec` (`export PYTHONPATH=/opt/app`, `FOO=1` then `export FOO`).
    Top-level lines only: what sits inside `if`/`case` blocks depends on run-time tests."""
    shell_vars: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0].isspace() or line.startswith("#"):
            continue
        if line.startswith("exec "):
            break
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words and words[0] == "export":
            for word in words[1:]:
                if _ASSIGNMENT.match(word):
                    key, _, value = word.partition("=")
                    env[key] = _expand_vars(value, env)
                elif word in shell_vars:
                    env[word] = shell_vars[word]
        elif len(words) == 1 and _ASSIGNMENT.match(words[0]):
            key, _, value = words[0].partition("=")
            shell_vars[key] = _expand_vars(value, env)
            if key in env:  # assigning an exported variable changes what the exec'd program sees
                env[key] = shell_vars[key]


_OPENS = {"if", "case", "for", "while", "until", "select"}
_CLOSES = {"fi", "esac", "done"}
_STATE_ONLY = {"set", "export", "echo", "printf", "true", ":", "umask", "cd", "trap", "shift", "unset", "readonly",
               "local", "ulimit", "return", "wait"}
# what a POSIX shell runs itself: no program to find on PATH
SHELL_BUILTINS = frozenset(_STATE_ONLY | {".", "[", "alias", "command", "eval", "exec", "exit", "false", "kill", "pwd",
                                          "read", "source", "test", "type"})


def _wrapper_command(text: str) -> tuple[str | None, list[str]]:
    """(the command a shell wrapper script ends up running, the top-level commands it runs before that).

    The command is the last `exec …` line; failing that, the script's last top-level command when it is a plain
    one (`python3 -m app`, run as a child of the shell). None when the script ends in control flow (`fi`,
    `done`, `}`) or has no command: which program runs then depends on run-time tests."""
    commands: list[str] = []
    depth = 0
    last_exec = None
    ended_in_flow = False
    for raw in _logical_lines(text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("exec "):
            last_exec = (line[5:], len(commands))
        first = line.split(None, 1)[0].rstrip(";")
        if first in _OPENS or line.endswith("{") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*\(\)", line):
            depth += 1
            ended_in_flow = True
            continue
        if first in _CLOSES or first == "}":
            depth = max(0, depth - 1)
            ended_in_flow = True
            continue
        if depth or raw[:1].isspace():
            continue
        ended_in_flow = False
        if first in _STATE_ONLY or _ASSIGNMENT.match(first) and " " not in line:
            continue
        commands.append(line)
    if last_exec is not None:
        line, before = last_exec
        return line, commands[:before]
    if ended_in_flow or not commands:
        return None, []
    return commands[-1], commands[:-1]


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


class EntrypointResolver:
    def __init__(self, gb: GraphBuilder, argv: tuple[str, ...], env: dict[str, str], workdir: str) -> None:
        self.gb = gb
        self.argv = list(argv)
        self.env = dict(env)
        self.workdir = workdir or "/"
        self.user = ""

    def which(self, prog: str) -> str | None:
        if "/" in prog:
            path = prog if prog.startswith("/") else posixpath.normpath(posixpath.join(self.workdir, prog))
            return path if self.gb.is_file(path) else None
        for directory in self.env.get("PATH", DEFAULT_PATH).split(":"):
            if not directory:
                continue
            candidate = posixpath.join(directory, prog)
            if prog in self.gb.listdir(directory) and self.gb.is_file(candidate):
                return candidate
        return None

    def programs_named(self, prefix: str) -> list[str]:
        """The programs whose name starts with `prefix` (longer than it), as `which` would find each: in the
        prefix's own directory when it has one (`/usr/lib/git-core/git-`), else the first on the launch PATH."""
        directory, start = posixpath.split(prefix)
        if directory:
            dirs = [directory if directory.startswith("/") else posixpath.join(self.workdir, directory)]
        else:
            dirs = [d for d in self.env.get("PATH", DEFAULT_PATH).split(":") if d]
        found: dict[str, str] = {}
        for d in dirs:
            for name in sorted(self.gb.listdir(d)):
                path = posixpath.join(d, name)
                if name.startswith(start) and name != start and name not in found and self.gb.is_file(path):
                    found[name] = path
        return list(found.values())

    def resolve(self) -> EntrypointResult:
        argv = list(self.argv)
        if not argv:
            raise UnsupportedEntrypoint("the image has neither Entrypoint nor Cmd: nothing to convert")
        hops: list[tuple[str, str]] = []
        skipped: list[str] = []
        for _ in range(MAX_HOPS):
            if not argv:
                raise UnsupportedEntrypoint("the entrypoint resolves to an empty command")
            prog = argv[0]
            name = posixpath.basename(prog)
            if name in SHELLS and len(argv) > 1 and not argv[1].startswith("-"):  # `sh /run.sh ARGS`
                script = self.which(argv[1]) if "/" in argv[1] else posixpath.join(self.workdir, argv[1])
                if script is None or not self.gb.is_file(script):
                    raise UnsupportedEntrypoint(f"{prog} runs {argv[1]!r}, which is not in the image")
                argv = self._follow_wrapper(script, self.which(prog), argv[2:], hops, skipped)
                continue
            if name in SHELLS and "-c" in argv[1:3]:
                idx = argv.index("-c")
                path = self.which(prog)
                if path:
                    hops.append((path, "shell"))
                new, cd = _shell_to_argv(argv[idx + 1] if idx + 1 < len(argv) else "", self.env, skipped,
                                         self._runs_python)
                if cd:
                    self.workdir = posixpath.normpath(posixpath.join(self.workdir, cd))
                argv = new
                continue
            if name == "env":
                path = self.which(prog)
                if path:
                    hops.append((path, "env"))
                argv = argv[1:]
                while argv and (argv[0].startswith("-") or "=" in argv[0]):
                    if "=" in argv[0] and not argv[0].startswith("-"):
                        key, _, value = argv[0].partition("=")
                        self.env[key] = value
                    argv = argv[1:]
                continue
            if name in USER_SHIMS and len(argv) > 2 and not argv[1].startswith("-"):
                path = self.which(prog)
                if path:
                    hops.append((path, "user-shim"))
                self.user, argv = argv[1], argv[2:]
                continue
            if name in INIT_SHIMS:
                path = self.which(prog)
                if path:
                    hops.append((path, "init-shim"))
                argv = argv[1:]
                if "--" in argv:
                    argv = argv[argv.index("--") + 1:]
                else:
                    while argv and argv[0].startswith("-"):
                        argv = argv[1:]
                continue
            path = self.which(prog)
            if path is None:
                raise UnsupportedEntrypoint(
                    f"entrypoint program {prog!r} is not in the image (PATH={self.env.get('PATH', DEFAULT_PATH)})")
            head = self._head(path)
            if is_elf(head):
                if self._is_python(path, name):
                    return EntrypointResult(path, parse_python_argv(argv[1:]), self.workdir, self.env, hops,
                                            tuple(skipped), self.user)
                raise UnsupportedEntrypoint(f"entrypoint runs {path}, which is not a Python interpreter")
            if head.startswith(b"#!"):
                shebang = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
                interp, _, optarg = shebang.partition(" ")
                optarg = optarg.strip()
                if posixpath.basename(interp) in SHELLS:
                    argv = self._follow_wrapper(path, self.which(interp), argv[1:], hops, skipped)
                    continue
                hops.append((path, "shebang-script"))
                if posixpath.basename(interp) == "env" and optarg:
                    words = optarg.split()
                    if words and words[0] == "-S":
                        words = words[1:]
                    argv = words + [path] + argv[1:]
                else:
                    argv = [interp] + ([optarg] if optarg else []) + [path] + argv[1:]
                continue
            raise UnsupportedEntrypoint(f"entrypoint {path} is neither an ELF program nor a script with #!")
        raise UnsupportedEntrypoint("entrypoint indirections do not end (more than 16 hops)")

    def _follow_wrapper(self, path: str, shell: str | None, positional: list[str], hops: list[tuple[str, str]],
                        skipped: list[str]) -> list[str]:
        """The argv a shell wrapper script runs for the app, its exports applied; its earlier commands go to
        `skipped`, as a `sh -c` chain's do."""
        text = self.gb.fs.read_bytes(path).decode("utf-8", "replace")
        line, before = _wrapper_command(text)
        if line is None:
            raise UnsupportedEntrypoint(f"shell wrapper {path} ends in shell control flow, not a command to follow "
                                        "(end it with `exec python …`)")
        hops.append((path, "wrapper-script"))
        if shell:  # the script runs under it in the converted image too
            hops.append((shell, "wrapper-shell"))
        _wrapper_env(text, self.env)
        quoted = " ".join(shlex.quote(a) for a in positional)
        for command in before:
            sub, _ = _shell_to_argv(command.replace('"$@"', quoted).replace("$@", quoted), dict(self.env), skipped)
            if sub:
                skipped.append(" ".join(shlex.quote(w) for w in sub))
        argv, cd = _shell_to_argv(line.replace('"$@"', quoted).replace("$@", quoted), self.env)
        if cd:
            self.workdir = cd
        return argv

    def _runs_python(self, argv: list[str], env: dict[str, str], cd: str | None) -> bool:
        """Whether a chain command resolves to a Python interpreter (a trial resolve; nothing is kept)."""
        workdir = posixpath.normpath(posixpath.join(self.workdir, cd)) if cd else self.workdir
        try:
            EntrypointResolver(self.gb, tuple(argv), dict(env), workdir).resolve()
        except UnsupportedEntrypoint:
            return False
        return True

    def _head(self, path: str) -> bytes:
        with self.gb.fs.open(path) as fh:
            return fh.read(512)

    def _is_python(self, path: str, name: str) -> bool:
        real_name = posixpath.basename(self.gb.realpath(path))
        if PYTHON_NAME.match(name) or PYTHON_NAME.match(real_name):
            return True
        with self.gb.fs.open(path) as fh:
            info = parse_elf(path, fh)
        return bool(info and any(n.startswith("libpython") for n in info.needed))
