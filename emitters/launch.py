"""How a converted image starts: argv, env and working dir worked out once for every target."""

from __future__ import annotations

import re
import shlex
from typing import Mapping

from faktory.analyzers.model import Closure
from faktory.emitters.vminit import LaunchSpec
from faktory.image import Image

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def launch_env(image: Image, closure: Closure) -> dict[str, str]:
    """Image Env, then whatever the analyzer worked out on top; PATH always set (docker sets it too)."""
    env = dict(image.config.env_map)
    env.update(closure.launch.env or {})
    env.setdefault("PATH", DEFAULT_PATH)
    user = closure.launch.user
    env.setdefault("HOME", user.home if user else "/root")  # docker run takes it from the user's passwd entry
    return env


def host_name(image: Image) -> str:
    """Twelve hex digits, as a container's host name is its short id: here the image's, so it stays put."""
    digest = (image.digest or "").split(":")[-1]
    return digest[:12] if len(digest) >= 12 else "faktory"


def launch_spec(image: Image, closure: Closure, shell: bool = False) -> LaunchSpec:
    """`shell`: a target that can run the image's shell runs its Entrypoint + Cmd when the analysis kept what the
    shell runs before the app (Launch.shell_argv), from the image's WorkingDir, as the container does."""
    hostname = host_name(image)
    env = launch_env(image, closure)
    env.setdefault("HOSTNAME", hostname)  # docker run sets it too
    if shell and closure.launch.shell_argv:
        return LaunchSpec(tuple(closure.launch.shell_argv), env, image.config.working_dir or "/",
                          user=closure.launch.shell_user, hostname=hostname)
    workdir = closure.launch.workdir or image.config.working_dir or "/"
    return LaunchSpec(tuple(closure.launch.argv), env, workdir, user=closure.launch.user, hostname=hostname)


def override_argv(entrypoint: list[str] | None, args: list[str]) -> list[str]:
    """`docker run IMAGE ARGS…` semantics: ARGS replace Cmd, the Entrypoint stays."""
    return list(entrypoint or []) + list(args)


def exposed_ports(image: Image) -> list[int]:
    ports = []
    for item in image.config.exposed_ports:
        number, _, proto = item.partition("/")
        if (proto or "tcp") == "tcp" and number.isdigit():
            ports.append(int(number))
    return sorted(set(ports))


def safe_name(text: str) -> str:
    """A name for files and packages: last path component of the repository, no tag/digest."""
    ref = text.split("@", 1)[0]
    for prefix in ("docker-archive:", "oci-archive:", "oci:", "docker-daemon:", "docker://"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    last = ref.rstrip("/").rsplit("/", 1)[-1]
    if ":" in last and not last.endswith(".tar"):
        last = last.split(":", 1)[0]
    last = re.sub(r"\.(tar|tar\.gz|tgz)$", "", last)
    name = re.sub(r"[^a-z0-9_.-]+", "-", last.lower()).strip("-.")
    return name or "app"


def shell_join(argv) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def env_pairs(env: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in env.items()]
