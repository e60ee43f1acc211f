"""Facts in a closure that targets judge: analyzer findings by kind, C extensions, interpreter traits."""

from __future__ import annotations

import re
from dataclasses import replace

from faktory.analyzers.model import BLOCKER, WARNING, Closure, Finding

EXTENSION_RE = re.compile(r"\.(cpython-[^/]*|abi3)?\.?so$")


def facts(closure: Closure, *kinds: str) -> list[Finding]:
    return [f for f in closure.findings if f.kind in kinds]


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
    for _, data in closure.file_nodes():
        path = data.get("path", "")
        if data.get("kind", "file") != "file" or not is_extension(path):
            continue
        if not include_stdlib and "/lib-dynload/" in path:
            continue
        out.append(path)
    return sorted(out)


def extension_findings(closure: Closure, target: str, why: str, severity: str = BLOCKER) -> list[Finding]:
    return [Finding("c-extension", f"C extension {p.rsplit('/', 1)[-1]} {why}", severity, location=p, target=target)
            for p in c_extensions(closure)]


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
