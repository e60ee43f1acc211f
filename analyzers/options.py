"""What a caller may ask of one analysis beyond the image: user hints and observation. A frozen value, so
`analyze(image, options)` stays a function of its two inputs (and audit workers can be handed it).

Hint origins name themselves in `--why`: `hint:--include` (command line), `label:dev.faktory.include` (image
label), `rule:include` (the service's rules file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from faktory.analyzers import localedata
from faktory.analyzers.hooks import Hook, parse_hooks
from faktory.errors import FaktoryError

HINT_KINDS = ("include", "hidden-import", "collect", "exclude", "locale")
MODULE_HINT = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:\.\*\*|\.\*)?$")
PACKAGE_HINT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
DEFAULT_OBSERVE_TIMEOUT = 60.0


class OptionError(FaktoryError):
    """A malformed hint or observe option (the CLI prints one line, exit 2)."""


@dataclass(frozen=True)
class Hint:
    kind: str  # one of HINT_KINDS
    value: str  # an absolute path or glob (include/exclude), a module (hidden-import), a package (collect)
    reason: str  # the edge reason its files get: "hint:--include", "label:dev.faktory.include", …


@dataclass(frozen=True)
class ObserveSettings:
    probe: tuple[str, ...] | None = None  # replaces Cmd, like `docker run IMAGE ARGS`
    http_port: int | None = None  # serve, wait for the port inside the sandbox, GET http_path
    http_path: str = "/"
    timeout: float = DEFAULT_OBSERVE_TIMEOUT


@dataclass(frozen=True)
class AnalyzeOptions:
    hints: tuple[Hint, ...] = ()
    hooks: tuple[Hook, ...] = ()  # the user's own hook files, parsed (the project's YAML format)
    observe: ObserveSettings | None = None
    labels: bool = True  # read hints from the image's dev.faktory.* labels


def hint(kind: str, value: str, reason: str) -> Hint:
    """A checked hint; a malformed one raises OptionError naming the option."""
    value = value.strip()
    option = reason.removeprefix("hint:")
    if kind in ("include", "exclude"):
        if not value.startswith("/") or "\0" in value:
            raise OptionError(f"{option}: wants an absolute path or glob inside the image, got {value!r}")
    elif kind == "hidden-import":
        if not MODULE_HINT.match(value):
            raise OptionError(f"{option}: wants a dotted module name (MOD, MOD.* or MOD.**), got {value!r}")
    elif kind == "collect":
        if not PACKAGE_HINT.match(value):
            raise OptionError(f"{option}: wants a package or distribution name, got {value!r}")
    elif kind == "locale":
        if value != localedata.ALL and not localedata.language_of(value):
            raise OptionError(f"{option}: wants a language or locale (de, pt_BR) or `all`, got {value!r}")
    else:
        raise OptionError(f"unknown hint kind {kind!r} (known: {', '.join(HINT_KINDS)})")
    return Hint(kind, value, reason)


def load_hook_dir(directory: str | Path, reason: str = "--hooks") -> tuple[Hook, ...]:
    """Every *.yaml hook file of a directory, in the format of analyzers/hooks/*.yaml."""
    folder = Path(directory)
    if not folder.is_dir():
        raise OptionError(f"{reason}: {directory} is not a directory")
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise OptionError(f"{reason}: {directory} holds no *.yaml hook files")
    hooks: list[Hook] = []
    for path in files:
        try:
            hooks += parse_hooks(path.read_text(encoding="utf-8"), path.name)
        except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError) as exc:
            text = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise OptionError(f"{reason}: {path} is not a valid hook file: {text}") from None
    return tuple(hooks)


def observe_settings(probe: str | None = None, http: str | None = None,
                     timeout: float | None = None, where: str = "--observe") -> ObserveSettings:
    """From `--probe 'ARGS'` / `--http PORT/PATH` / `--observe-timeout S` (or a rule's observe: mapping)."""
    import shlex

    if probe is not None and http is not None:
        raise OptionError(f"{where}: takes a probe or an HTTP check, not both")
    if timeout is not None and not (0 < timeout <= 3600):
        raise OptionError(f"{where}: the timeout must be between 0 and 3600 seconds, got {timeout}")
    settings = ObserveSettings(timeout=float(timeout) if timeout is not None else DEFAULT_OBSERVE_TIMEOUT)
    if probe is not None:
        try:
            args = tuple(shlex.split(probe))
        except ValueError as exc:
            raise OptionError(f"{where}: bad probe {probe!r}: {exc}") from None
        if not args:
            raise OptionError(f"{where}: the probe is empty")
        return ObserveSettings(probe=args, timeout=settings.timeout)
    if http is not None:
        port, _, path = http.partition("/")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise OptionError(f"{where}: the HTTP check wants PORT/PATH (e.g. 8080/health), got {http!r}")
        return ObserveSettings(http_port=int(port), http_path="/" + path, timeout=settings.timeout)
    return settings
