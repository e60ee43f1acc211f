"""System files the C runtime reads on the interpreter's behalf: ld.so.cache, locale data, CA bundle paths.

Hook-driven system files (NSS, /etc/hosts, zoneinfo, ...) are in hooks/stdlib.yaml; these ones depend on
the libc and on Env, not on a module.
"""

from __future__ import annotations

import fnmatch
import posixpath

from faktory.analyzers.graphbuild import GraphBuilder

LOCALE_DIR = "/usr/lib/locale"
GCONV_DIRS = ("/usr/lib/x86_64-linux-gnu/gconv", "/usr/lib64/gconv", "/usr/lib/gconv")
LOCALE_VARS = ("LC_ALL", "LC_CTYPE", "LANG")


def _locale_dirname(name: str) -> str:
    """glibc normalises the codeset: C.UTF-8 -> C.utf8."""
    lang, dot, codeset = name.partition(".")
    codeset = codeset.split("@")[0]
    if dot:
        codeset = "".join(ch for ch in codeset.lower() if ch.isalnum())
        return f"{lang}.{codeset}"
    return lang


def keep_runtime_files(gb: GraphBuilder, src: str, env: dict[str, str], libc: str) -> None:
    if libc == "glibc":
        gb.keep_path("/etc/ld.so.cache", src, "ld.so.cache")
        # CPython calls setlocale(LC_CTYPE, "") and coerces the C locale to C.UTF-8 (PEP 538).
        gb.keep_path(posixpath.join(LOCALE_DIR, "locale-archive"), src, "locale")
        gb.keep_path("/usr/share/locale/locale.alias", src, "locale")
        wanted = {"C.utf8"}
        for var in LOCALE_VARS:
            if env.get(var) and env[var] not in ("C", "POSIX"):
                wanted.add(_locale_dirname(env[var]))
        for name in sorted(wanted):
            gb.keep_tree(posixpath.join(LOCALE_DIR, name), src, "locale")
        # Loading a locale's LC_CTYPE makes glibc read the gconv module cache (checked with strace).
        for directory in GCONV_DIRS:
            if gb.keep_path(posixpath.join(directory, "gconv-modules.cache"), src, "gconv") is None:
                gb.keep_path(posixpath.join(directory, "gconv-modules"), src, "gconv")
                keep_glob(gb, posixpath.join(directory, "gconv-modules.d", "*.conf"), src, "gconv")
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if env.get(var):
            gb.keep_path(env[var], src, f"env:{var}")
    if env.get("SSL_CERT_DIR"):
        gb.keep_tree(env["SSL_CERT_DIR"], src, "env:SSL_CERT_DIR")


def keep_glob(gb: GraphBuilder, pattern: str, src: str, reason: str) -> None:
    """Absolute path, `dir/*`-style glob of one level, or `dir/**` for a whole tree."""
    if pattern.endswith("/**"):
        gb.keep_tree(pattern[:-3], src, reason)
        return
    directory, name = posixpath.split(pattern)
    if any(ch in name for ch in "*?["):
        for entry in sorted(gb.listdir(directory)):
            if fnmatch.fnmatch(entry, name):
                gb.keep_path(posixpath.join(directory, entry), src, reason)
        return
    if gb.is_dir(pattern):
        gb.keep_tree(pattern, src, reason)
    else:
        gb.keep_path(pattern, src, reason)
