"""Per-target verdicts come from the same check `faktory convert` runs (faktory.emitters.convert.check: the emitter's
own `check(closure)` plus what blocks every target): the audit never re-states target rules. What the analysis
could not resolve (computed imports, unreadable extensions) makes a convertible verdict "convertible, unverified",
with those findings as its reasons. A computed import found only inside a function of library code is a note on
the verdict instead (with its file:line): like a library's fork or subprocess, it fails only if the app takes
that path.

`emitter_for` is the one adapter onto the emitters registry (faktory.emitters.convert.emitter_for). A target whose emitter
cannot be found gets `convertible=None` ("not checked") rather than a guess.
"""

from __future__ import annotations

from faktory.analyzers.findings import noted, unresolved
from faktory.analyzers.model import BLOCKER, Closure, Finding
from faktory.audit.model import Issue, TargetVerdict
from faktory.emitters.convert import check, emitter_for as lookup


def emitter_for(target: str):
    """The registered emitter for `target`, or None while its module does not exist (yet)."""
    try:
        return lookup(target)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("faktory.emitters."):
            return None
        raise


def issue(finding: Finding) -> Issue:
    return Issue(kind=finding.kind, message=finding.message, severity=finding.severity, location=finding.where or None)


def target_verdict(target: str, closure: Closure) -> TargetVerdict:
    try:
        emitter = emitter_for(target)
    except Exception as exc:  # a broken emitter module: say so on this target, audit the rest
        problem = Issue("check-unavailable", f"{type(exc).__name__}: {exc}", "warning")
        return TargetVerdict(target=target, convertible=None, warnings=(problem,), projected_size=closure.size)
    # Analyzer findings addressed to this one target count even if the check forgets to repeat them.
    findings = [f for f in closure.findings if f.target == target]
    if emitter is None:
        return TargetVerdict(target=target, convertible=None, projected_size=closure.size)
    try:
        findings = check(closure, target) + findings
    except Exception as exc:  # a failing check is reported on that target alone, the audit carries on
        findings.append(Finding(kind="check-failed", message=f"{type(exc).__name__}: {exc}", severity=BLOCKER))
    unique = list(dict.fromkeys(issue(f) for f in findings))
    blockers = tuple(i for i in unique if i.severity == BLOCKER)
    warnings = tuple(i for i in unique if i.severity != BLOCKER)
    size = _projected_size(emitter, closure)
    unverified = tuple(dict.fromkeys(issue(f) for f in unresolved(closure.findings)))
    notes = tuple(dict.fromkeys(issue(f) for f in noted(closure.findings)))
    return TargetVerdict(target, convertible=not blockers, blockers=blockers, warnings=warnings, projected_size=size,
                         unverified=unverified, notes=notes)


def _projected_size(emitter, closure: Closure) -> int:
    """An emitter may know better (a km image ships a base, rumprun its own interpreter); else the closure size."""
    estimate = getattr(emitter, "projected_size", None)
    if callable(estimate):
        try:
            value = estimate(closure)
            if isinstance(value, int):
                return value
        except Exception:
            pass
    return closure.size


def image_findings(closure: Closure) -> tuple[Issue, ...]:
    """Analyzer facts that concern every target (subprocess, threads, ctypes, …)."""
    return tuple(dict.fromkeys(issue(f) for f in closure.findings if f.target is None))
