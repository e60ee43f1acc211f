"""Facts in a closure that targets judge: analyzer findings by kind, C extensions, interpreter traits."""

from __future__ import annotations

import re
from dataclasses import replace

from faktory.analyzers.model import BLOCKER, WARNING, Closure, Finding, Location

EXTENSION_RE = re.compile(r"\.(cpython-[^/]*|abi3)?\.?so$")


def facts(closure: Closure, *kinds: str) -> list[Finding]:
    return [f for f in closure.findings if f.kind in kinds]


DOES = {"subprocess": "starts processes", "fork": "forks", "multiprocessing": "uses multiprocessing",
        "threads": "starts threads", "ctypes": "loads libraries with ctypes", "dlopen-null": "calls dlopen(NULL)",
        "pipe": "makes pipes"}


def library_of(closure: Closure, location: Location | None) -> str | None:
    """The distribution (or "stdlib") a location lies in; None for the app's own code."""
    if not location:
        return None
    owner = closure.owner_of(location.path)
    return None if owner == "app" else owner


def judge(closure: Closure, kinds: tuple[str, ...], target: str, why: str, *, app_severity: str = BLOCKER,
          stdlib: bool = True) -> list[Finding]:
    """Facts in the app's own code block the target (or get `app_severity`); the same facts inside libraries are
    one warning per library and kind (click can start a pager, which a CLI that never pages does not need).
    `stdlib=False`: the stdlib's own uses are left out (they serve calls the target already warns about)."""
    out: list[Finding] = []
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for f in facts(closure, *kinds):
        lib = library_of(closure, f.location)
        if lib == "stdlib" and not stdlib:
            continue
        if lib is None:
            out.append(replace(f, severity=app_severity, target=target, message=f"{f.message} ({why})"))
        else:
            grouped.setdefault((f.kind, lib), []).append(f)
    for (kind, lib), found in grouped.items():
        what = DOES.get(kind, f"uses {kind}")
        out.append(Finding(kind, f"{lib} {what} in {len(found)} place(s) ({why}): fails only if the app takes "
                           "that path", WARNING, found[0].location, target))
    return out


def as_severity(findings: list[Finding], target: str, severity: str, why: str = "") -> list[Finding]:
    return [replace(f, severity=severity, target=target, message=f.message + (f" ({why})" if why else ""))
            for f in findings]


def is_extension(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".so") and not name.startswith("lib") and ("/site-packages/" in path
                                                                    or "/dist-packages/" in path
                                                                    or "/lib-dynload/" in path
                                                                    or bool(EXTENSION_RE.search(name)))


def c_extensions(closure: Closure, *, include_stdlib: bool = False) -> list[str]:
    """Extension modules the closure loads; stdlib ones (lib-dynload) only when asked."""
    out = []
    for _, data in closure.iter_file_nodes():
        path = data.get("path", "")
        if data.get("kind", "file") != "file" or not is_extension(path):
            continue
        if not include_stdlib and "/lib-dynload/" in path:
            continue
        out.append(path)
    return sorted(out)


# An analyzer fact: this extension is imported under `try/except ImportError` with a pure-Python fallback
# (markupsafe's _speedups -> _native). Its location is the extension's path; its message names the fallback.
def extension_findings(closure: Closure, target: str, why: str, severity: str = BLOCKER) -> list[Finding]:
    """One finding per extension; one imported in `try: … except ImportError:` with a pure-Python fallback kept
    in the closure (markupsafe's _speedups -> _native) is a warning naming that fallback."""
    out = []
    for path in c_extensions(closure):
        name = path.rsplit("/", 1)[-1]
        fallback = closure.graph.nodes[f"file:{path}"].get("fallback")
        if fallback:
            out.append(Finding("c-extension", f"C extension {name} {why}; the app falls back to {fallback}", WARNING,
                               location=path, target=target))
        else:
            out.append(Finding("c-extension", f"C extension {name} {why}", severity, location=path, target=target))
    return out


def interpreter_flags(closure: Closure) -> tuple[str, ...]:
    flags = set(closure.launch.flags)
    for arg in closure.launch.argv[1:]:
        if not arg.startswith("-") or arg in ("-m", "-c"):
            break
        flags.add(arg)
    return tuple(sorted(flags))


def warning(kind: str, message: str, target: str, location: str | None = None) -> Finding:
    return Finding(kind, message, WARNING, location, target)


def blocker(kind: str, message: str, target: str, location: str | None = None) -> Finding:
    return Finding(kind, message, BLOCKER, location, target)


def single_user(closure: Closure, target: str, runtime: str) -> list[Finding]:
    """An image that runs as a non-root USER, on a runtime with one user: the app runs as uid 0 there, which an
    app that refuses root, or relies on what root may not do, notices."""
    user = closure.launch.user
    if user is None:
        return []
    return [warning("user", f"the image runs as USER {user.spec} (uid {user.uid}, gid {user.gid}); {runtime} has "
                    f"no users, so the app runs as uid 0 (HOME stays {user.home})", target)]


def unrunnable(closure: Closure, target: str) -> list[Finding]:
    """What stops every target alike: the code the entrypoint runs is not in the image as analysed."""
    return as_severity(facts(closure, "unresolved-entrypoint"), target, BLOCKER, "the converted image could not start")
