"""The rules file: which repositories/tags convert to which targets, and where the results go.

    registries: ["127.0.0.1:*"]          # the only hosts events may name (globs); default: none, plus
                                          # loopback when the service listens on loopback
    dockerhub_registry: docker.io         # where Docker Hub triggers resolve their tags (allowed when set)
    insecure_registries: ["build:5000"]   # plain HTTP (127.0.0.1 and localhost always are)
    rules:
      - repository: "apps/*"              # glob on the repository path
        tags: ["v*", "latest"]            # globs; default ["*"]
        exclude_tags: ["*-dev"]           # default: tags ending in -<target> (our own outputs)
        targets: [oci, microvm]
        verify: {probe: "python app.py --once", expect: "ok"}   # or {http: "8080/health"}; true = default Cmd
        destination: "{registry}/{repository}:{tag}-{target}"   # the default
        options: {compact: true}          # EmitOptions fields (kernel: a path on the workers)
        observe: {http: "8080/health"}    # run the original sandboxed under strace (true: its own Cmd); see
                                          # docs/observe.md: this executes the image's code on the workers
        hints: {include: ["/etc/app/*.yaml"], hidden-import: [plugins.**], collect: [pkg], exclude: [...],
                locale: [de], hooks: [/etc/faktory/hooks]}   # as the CLI's --include … --hooks (hooks: dirs on
                                                             # the workers)
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from faktory.analyzers.options import HINT_KINDS
from faktory.errors import FaktoryError
from faktory.emitters.convert import ALL_TARGETS
from faktory.registry.transport import is_loopback  # one rule for "this machine", as for plain HTTP

KNOWN_TARGETS = ALL_TARGETS
DEFAULT_DESTINATION = "{registry}/{repository}:{tag}-{target}"
# Results pushed back into the same registry fire events too: never convert our own outputs.
DEFAULT_EXCLUDES = tuple(f"*-{t}" for t in KNOWN_TARGETS)
EMIT_OPTION_FIELDS = ("compact", "keep_debug", "force", "base_ref", "name", "kernel")  # kernel: a path on the workers


class RulesError(FaktoryError):
    pass


@dataclass(frozen=True)
class Rule:
    repository: str = "*"
    tags: tuple[str, ...] = ("*",)
    exclude_tags: tuple[str, ...] = DEFAULT_EXCLUDES
    targets: tuple[str, ...] = ("oci",)
    verify: Mapping[str, object] | None = None  # None: no verify; else probe/http/expect/timeout
    destination: str = DEFAULT_DESTINATION
    options: Mapping[str, object] = field(default_factory=dict)
    analysis: Mapping[str, object] = field(default_factory=dict)  # {"observe": {...}, "hints": {...}}, checked

    def matches(self, repository: str, tag: str | None) -> bool:
        if not fnmatch.fnmatchcase(repository, self.repository):
            return False
        if tag is None:  # a manifest pushed by digest only (e.g. an index's child): nothing to name
            return False
        if any(fnmatch.fnmatchcase(tag, pat) for pat in self.exclude_tags):
            return False
        return any(fnmatch.fnmatchcase(tag, pat) for pat in self.tags)

    def destination_for(self, registry: str, repository: str, tag: str, target: str) -> str:
        return self.destination.format(registry=registry, repository=repository, tag=tag, target=target)


@dataclass(frozen=True)
class Plan:
    """One conversion a push asks for."""

    target: str
    destination: str
    verify: Mapping[str, object] | None
    options: Mapping[str, object]
    analysis: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...] = (Rule(),)
    # A payload names the host a worker will connect to: only these (globs) are fetched from.
    registries: tuple[str, ...] = ()
    dockerhub_registry: str = "docker.io"
    insecure_registries: tuple[str, ...] = ()
    allow_loopback: bool = False  # set by the service when it listens on loopback

    def accepts_registry(self, registry: str) -> bool:
        if self.allow_loopback and is_loopback(registry):
            return True
        return any(fnmatch.fnmatchcase(registry, pat) for pat in self.registries)

    def plans(self, registry: str, repository: str, tag: str | None) -> list[Plan]:
        """Every (target, destination) the rules ask for; first rule naming a target wins."""
        out: dict[str, Plan] = {}
        if not self.accepts_registry(registry):
            return []
        for rule in self.rules:
            if not rule.matches(repository, tag):
                continue
            for target in rule.targets:
                if target not in out:
                    dest = rule.destination_for(registry, repository, tag or "", target)
                    verify = dict(rule.verify) if rule.verify is not None else None
                    out[target] = Plan(target, dest, verify, dict(rule.options), dict(rule.analysis))
        return list(out.values())


def _globs(value: object, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RulesError(f"rules: '{key}' must be a string or a list of strings")


def _rule(raw: object, index: int) -> Rule:
    if not isinstance(raw, dict):
        raise RulesError(f"rules[{index}] is not a mapping")
    unknown = set(raw) - {"repository", "tags", "exclude_tags", "targets", "verify", "destination", "options",
                          "observe", "hints"}
    if unknown:
        raise RulesError(f"rules[{index}]: unknown keys {sorted(unknown)}")
    targets = _globs(raw.get("targets"), "targets", ("oci",))
    bad = [t for t in targets if t not in KNOWN_TARGETS]
    if bad:
        raise RulesError(f"rules[{index}]: unknown targets {bad} (known: {', '.join(KNOWN_TARGETS)})")
    destination = raw.get("destination", DEFAULT_DESTINATION)
    if not isinstance(destination, str):
        raise RulesError(f"rules[{index}]: destination must be a string")
    try:
        destination.format(registry="r", repository="p", tag="t", target="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise RulesError(f"rules[{index}]: destination {destination!r} has a bad placeholder: {exc}") from None
    options = raw.get("options") or {}
    if not isinstance(options, dict) or set(options) - set(EMIT_OPTION_FIELDS):
        raise RulesError(f"rules[{index}]: options may only hold {', '.join(EMIT_OPTION_FIELDS)}")
    repository = raw.get("repository", "*")
    if not isinstance(repository, str):
        raise RulesError(f"rules[{index}]: repository must be a string")
    return Rule(
        repository=repository,
        tags=_globs(raw.get("tags"), "tags", ("*",)),
        exclude_tags=_globs(raw.get("exclude_tags"), "exclude_tags", ()) + DEFAULT_EXCLUDES,
        targets=targets,
        verify=_verify(raw.get("verify"), index),
        destination=destination,
        options=options,
        analysis=_analysis(raw, index),
    )


def _analysis(raw: dict, index: int) -> dict:
    """A rule's `observe:` and `hints:`, checked now (a bad rules file fails at start, not in a job)."""
    out: dict = {}
    observe = raw.get("observe")
    if observe not in (None, False):
        if observe is not True and not isinstance(observe, dict):
            raise RulesError(f"rules[{index}]: observe must be true/false or a mapping of probe/http/timeout")
        observe = {} if observe is True else dict(observe)
        unknown = set(observe) - {"probe", "http", "timeout"}
        if unknown:
            raise RulesError(f"rules[{index}]: observe: unknown keys {sorted(unknown)} (known: probe, http, timeout)")
        out["observe"] = observe
    hints = raw.get("hints")
    if hints is not None:
        if not isinstance(hints, dict) or set(hints) - {*HINT_KINDS, "hooks"}:
            raise RulesError(f"rules[{index}]: hints may only hold {', '.join(HINT_KINDS)}, hooks")
        for key, value in hints.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise RulesError(f"rules[{index}]: hints.{key} must be a list of strings")
        out["hints"] = {k: list(v) for k, v in hints.items()}
    try:
        analyze_options(out)
    except FaktoryError as exc:
        raise RulesError(f"rules[{index}]: {exc}") from None
    return out


def analyze_options(analysis: Mapping[str, object]):
    """A plan's (or job's) analysis settings as the AnalyzeOptions `api.analyze` takes."""
    from faktory.analyzers.options import AnalyzeOptions, hint, load_hook_dir, observe_settings

    hints = dict(analysis.get("hints") or {})
    observe = analysis.get("observe")
    timeout = observe.get("timeout") if isinstance(observe, dict) else None
    if timeout is not None and not isinstance(timeout, (int, float)):
        raise RulesError("observe.timeout must be a number of seconds")
    return AnalyzeOptions(
        hints=tuple(hint(kind, value, f"rule:{kind}") for kind in HINT_KINDS for value in hints.get(kind, ())),
        hooks=tuple(h for d in hints.get("hooks", ()) for h in load_hook_dir(d, "rule hints.hooks")),
        observe=None if observe is None else observe_settings(
            observe.get("probe"), observe.get("http"), timeout, where="rule observe"),
    )


VERIFY_KEYS = {"probe": str, "http": str, "expect": str, "timeout": (int, float)}


def _verify(value: object, index: int) -> dict | None:
    """`verify: true` runs the default Cmd once; a mapping picks the probe like `faktory verify` options."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, dict):
        raise RulesError(f"rules[{index}]: verify must be true/false or a mapping")
    for key, item in value.items():
        if key not in VERIFY_KEYS or not isinstance(item, VERIFY_KEYS[key]):
            raise RulesError(f"rules[{index}]: verify.{key} is unknown or has the wrong type "
                             f"(known: {', '.join(VERIFY_KEYS)})")
    if "probe" in value and "http" in value:
        raise RulesError(f"rules[{index}]: verify takes probe or http, not both")
    return dict(value)


def parse_rules(text: str, where: str = "rules file") -> Rules:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RulesError(f"{where} is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise RulesError(f"{where} must be a mapping with a 'rules' list")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesError(f"{where} needs a non-empty 'rules' list")
    dockerhub = data.get("dockerhub_registry", "docker.io")
    if not isinstance(dockerhub, str):
        raise RulesError(f"{where}: dockerhub_registry must be a string")
    registries = _globs(data.get("registries"), "registries", ())
    if "dockerhub_registry" in data:  # named by the rules: Docker Hub triggers may resolve there
        registries += (dockerhub,)
    return Rules(
        rules=tuple(_rule(r, i) for i, r in enumerate(raw_rules)),
        registries=registries,
        dockerhub_registry=dockerhub,
        insecure_registries=_globs(data.get("insecure_registries"), "insecure_registries", ()),
    )


def load_rules(path: Path | None) -> Rules:
    """No file: convert every tag of every repository to `oci`."""
    if path is None:
        return Rules()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror}") from None
    return parse_rules(text, where=str(path))
