"""One keychain: who faktory is at a registry, looked up the same way by every command.

Order, first match wins (as skopeo's `--creds` beats `--authfile`, which replaces the default file):

1. explicit credentials (`--creds`, `--src-creds`, `--dest-creds`: `USER[:PASSWORD]`),
2. `--authfile FILE` (a docker `config.json`, or the `auth.json` podman and skopeo write),
3. `$FAKTORY_REGISTRY_USER` / `$FAKTORY_REGISTRY_PASSWORD`,
4. the docker config, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.

In a config file (2 or 4) the docker CLI's order holds: `credHelpers[host]`, then an `auths` entry with a
login in it, then `credsStore`. A helper is `docker-credential-NAME get` on PATH: a program the operator
installed, never anything from an image.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from faktory.errors import FaktoryError

HELPER_TIMEOUT = 30.0
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
ENV_USER, ENV_PASSWORD = "FAKTORY_REGISTRY_USER", "FAKTORY_REGISTRY_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credentials({self.username!r}, ***)"


class Keychain(Protocol):
    def resolve(self, host: str) -> Credentials | None:
        """The login for a registry host (`HOST[:PORT]`), or None for anonymous."""

    def sources(self, host: str) -> str:
        """Where resolve looks, in words, for the message of a registry that wants a login."""


def parse_creds(text: str, flag: str = "--creds") -> Credentials:
    """skopeo's `USER[:PASSWORD]`; an empty user is a usage error."""
    user, _, password = text.partition(":")
    if not user:
        raise FaktoryError(f"{flag} wants USER[:PASSWORD], got an empty user name")
    return Credentials(user, password)


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _keys(host: str) -> list[str]:
    if host in DOCKER_HUB_KEYS:
        return list(DOCKER_HUB_KEYS)
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def _helper(name: str, host: str) -> Credentials | None:
    try:
        proc = subprocess.run([f"docker-credential-{name}", "get"], input=host.encode(), capture_output=True,
                              timeout=HELPER_TIMEOUT)
        if proc.returncode != 0:
            return None
        doc = json.loads(proc.stdout)
        return Credentials(str(doc["Username"]), str(doc["Secret"]))
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return None


def from_config(path: Path, host: str) -> Credentials | None:
    """A docker config.json's login for host: credHelpers, then auths, then credsStore."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    keys = _keys(host)
    helpers = doc.get("credHelpers") if isinstance(doc.get("credHelpers"), dict) else {}
    for key in keys:
        if helpers.get(key):
            return _helper(str(helpers[key]), key)
    auths = doc.get("auths") if isinstance(doc.get("auths"), dict) else {}
    for key in keys:
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError, TypeError):
                continue
            return Credentials(user, password)
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]))
    if doc.get("credsStore"):
        return _helper(str(doc["credsStore"]), keys[0])
    return None


@dataclass(frozen=True)
class DefaultKeychain:
    """The order above. `creds` and `authfile` are the command line's; None means not given."""

    creds: Credentials | None = None
    authfile: Path | None = None

    def resolve(self, host: str) -> Credentials | None:
        if self.creds is not None:
            return self.creds
        if self.authfile is not None:
            return from_config(self.authfile, host)
        user, password = os.environ.get(ENV_USER), os.environ.get(ENV_PASSWORD)
        if user and password:
            return Credentials(user, password)
        return from_config(docker_config_path(), host)

    def sources(self, host: str) -> str:
        if self.creds is not None:
            return "the --creds given"
        if self.authfile is not None:
            return f"--authfile {self.authfile}"
        return f"${ENV_USER}/${ENV_PASSWORD}, {docker_config_path()} (docker login {host})"


@dataclass(frozen=True)
class Anonymous:
    """No login at all (a test's or a caller's explicit choice)."""

    def resolve(self, host: str) -> Credentials | None:
        return None

    def sources(self, host: str) -> str:
        return "no credentials (anonymous access was asked for)"


def keychain(creds: str | None = None, authfile: str | Path | None = None, flag: str = "--creds") -> DefaultKeychain:
    """The keychain for a command line's `--creds`/`--authfile`; an unreadable --authfile is a usage error."""
    path = Path(authfile) if authfile else None
    if path is not None and not path.is_file():
        raise FaktoryError(f"--authfile {path}: no such file")
    return DefaultKeychain(parse_creds(creds, flag) if creds else None, path)
