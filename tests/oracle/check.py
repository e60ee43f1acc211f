"""Compare a static closure with what a traced run touched: recall, size, and a run of the closure alone."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import posixpath

from faktory.image import FILE
from faktory.observe.strace import PATH_CALLS, parse_strace

EXCLUDED_PREFIXES = ("/proc/", "/sys/", "/dev/")
# Calls that look a path up without using its content
LOOKUP_CALLS = frozenset({"stat", "lstat", "newfstatat", "fstatat64", "statx", "access", "faccessat", "faccessat2",
                          "statfs", "getxattr", "lgetxattr", "listxattr", "llistxattr"})


@dataclass(frozen=True)
class OverriddenImage:
    """The same image with Cmd replaced, as `docker run IMAGE CMD…` does."""

    base: object
    config: object

    def __getattr__(self, name):
        return getattr(self.base, name)


def with_cmd(image, cmd: tuple[str, ...]):
    return OverriddenImage(image, dataclasses.replace(image.config, cmd=tuple(cmd)))


def dynamic_files(fs, paths) -> dict[str, int]:
    """Regular files of the image (symlinks followed) among the traced paths -> size."""
    out: dict[str, int] = {}
    for path in paths:
        if path.startswith(EXCLUDED_PREFIXES) or path in ("/proc", "/sys", "/dev"):
            continue
        try:
            entry = fs.stat(path)
        except Exception:
            continue
        if entry is None or entry.kind != FILE:
            continue
        out[fs.resolve(path)] = entry.size
    return out


def closure_files(closure) -> set[str]:
    return {d["path"] for _, d in closure.file_nodes() if d.get("kind") == FILE}


def without_program_lookups(paths, log: str, program: str, cwd: str, host_root: str, env: dict[str, str],
                            fs=None) -> set[str]:
    """The traced paths minus what the run only looked up (stat, access) and never opened or executed:
    - files of the PATH directories: a program is needed when it runs; `shutil.which`, or a walk of sys.path[0]
      when that is a console script's bin dir (entry-point discovery), stats its neighbours;
    - with `fs` (the image's files), files a distribution's RECORD lists: `Distribution.files` checks that each
      listed file exists (pytest does so for every plugin distribution, to mark its modules for rewriting).
    Whether their absence changes anything is what the closure-alone run, with the same output, checks."""
    used = parse_strace(log, program, cwd, host_root, calls=frozenset(PATH_CALLS) - LOOKUP_CALLS)
    bins = {posixpath.normpath(d) for d in env.get("PATH", "").split(":") if d.startswith("/")}
    recorded = _recorded_files(fs, {p for p in paths if p not in used}) if fs is not None else set()
    return {p for p in paths if p in used or (posixpath.dirname(p) not in bins and p not in recorded)}


def _recorded_files(fs, paths) -> set[str]:
    """Those of `paths` that a RECORD of their site dir's *.dist-info lists."""
    by_site: dict[str, set[str]] = {}
    out = set()
    for path in paths:
        for marker in ("/site-packages/", "/dist-packages/"):
            at = path.find(marker)
            if at < 0:
                continue
            site = path[:at + len(marker) - 1]
            if site not in by_site:
                by_site[site] = _site_records(fs, site)
            if path in by_site[site]:
                out.add(path)
    return out


def _site_records(fs, site: str) -> set[str]:
    listed: set[str] = set()
    if fs.stat(site) is None:  # a site dir the run made (a zipapp unpacked under /tmp): no RECORD of the image's
        return listed
    for name in fs.listdir(site) or ():
        if not name.endswith(".dist-info"):
            continue
        try:
            text = fs.read_bytes(posixpath.join(site, name, "RECORD")).decode("utf-8", "replace")
        except Exception:
            continue
        for line in text.splitlines():
            rel = line.split(",", 1)[0]
            if rel:
                listed.add(posixpath.normpath(posixpath.join(site, rel)))
    return listed
