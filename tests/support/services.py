"""Real services the test suite talks to: dockerd, two CNCF registries, redis.

Used three ways: `scripts/services.sh start|stop|status` (long-lived, state under `.state/`), the `services`
pytest fixture (ensures they run), and tests that need a private registry of their own (for example one with a
`notifications:` endpoint) through `start_registry(...)`.

Standard library only: it runs before the virtualenv has anything installed. Registry configs are written as
JSON, which is valid YAML.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("FAKTORY_STATE_DIR", REPO_ROOT / ".state"))

REGISTRY_PORT = 5000
AUTH_REGISTRY_PORT = 5001
REDIS_PORT = 6390
REGISTRY_USER = "faktory"
REGISTRY_PASSWORD = "faktory-test"


class ServiceError(RuntimeError):
    """A service could not be started or does not answer."""


# ---------------------------------------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _spawn(argv: list[str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start a long-lived process in its own session so it survives the caller and never gets our signals."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True
        )
    finally:
        log.close()


def _terminate(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise ServiceError(f"{what} did not come up{tail}")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- registry


def registry_answers(addr: str, user: str | None = None, password: str | None = None) -> bool:
    """True when `GET /v2/` answers like a distribution registry (200, or 401 with a Basic challenge)."""
    req = urllib.request.Request(f"http://{addr}/v2/")
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as err:
        return user is None and err.code == 401 and "Docker-Distribution-Api-Version" in err.headers
    except OSError:
        return False


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd line, as the registry wants (`htpasswd -Bbn`)."""
    tool = shutil.which("htpasswd")
    if tool:
        out = subprocess.run([tool, "-Bbn", user, password], check=True, capture_output=True, text=True).stdout
        return out.strip() + "\n"
    import bcrypt  # test extra; only needed where apache2-utils is missing

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}\n"


@dataclass
class RegistryHandle:
    """A running `docker-registry serve` process on 127.0.0.1:port."""

    port: int
    data_dir: Path
    config_path: Path
    log_path: Path
    pid: int
    user: str | None = None
    password: str | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    def alive(self) -> bool:
        return _pid_alive(self.pid)

    def stop(self) -> None:
        _terminate(self.pid)


def registry_config(port: int, data_dir: Path, htpasswd_path: Path | None, notifications: list[dict] | None) -> dict:
    config: dict = {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(data_dir / "storage")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": f"faktory-test-{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if htpasswd_path is not None:
        config["auth"] = {"htpasswd": {"realm": "faktory-test", "path": str(htpasswd_path)}}
    if notifications:
        # Each endpoint: {name, url, headers: {H: [v]}, timeout: "1s", threshold: 3, backoff: "1s"}.
        config["notifications"] = {"endpoints": notifications}
    return config


def start_registry(
    port: int,
    data_dir: Path,
    htpasswd: tuple[str, str] | Path | None = None,
    notifications: list[dict] | None = None,
    timeout: float = 20.0,
) -> RegistryHandle:
    """Start a CNCF distribution registry on 127.0.0.1:port storing under data_dir.

    htpasswd: (user, password) to enable basic auth (the file is written into data_dir), or the path of an
    existing htpasswd file. notifications: registry `notifications.endpoints` entries, as dicts.
    The caller owns the handle and calls .stop().
    """
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise ServiceError("docker-registry is not installed (apt-get install docker-registry)")
    if port_open("127.0.0.1", port):
        raise ServiceError(f"port 127.0.0.1:{port} is already in use")
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    user = password = None
    htpasswd_path: Path | None = None
    if isinstance(htpasswd, tuple):
        user, password = htpasswd
        htpasswd_path = data_dir / "htpasswd"
        htpasswd_path.write_text(htpasswd_line(user, password))
    elif htpasswd is not None:
        htpasswd_path = Path(htpasswd)
    config_path = data_dir / "config.yml"
    config_path.write_text(json.dumps(registry_config(port, data_dir, htpasswd_path, notifications), indent=2))
    log_path = data_dir / "registry.log"
    proc = _spawn([binary, "serve", str(config_path)], log_path)
    (data_dir / "registry.pid").write_text(f"{proc.pid}\n")
    handle = RegistryHandle(port, data_dir, config_path, log_path, proc.pid, user, password)
    try:
        _wait_until(lambda: registry_answers(handle.addr), timeout, f"registry on {handle.addr}", proc, log_path)
    except ServiceError:
        handle.stop()
        raise
    return handle


# ---------------------------------------------------------------------------------------------- redis


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- dockerd


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


# ---------------------------------------------------------------------------------------------- the suite's set


@dataclass(frozen=True)
class Services:
    registry: str
    auth_registry: str
    registry_user: str
    registry_password: str
    redis_url: str

    def env(self) -> dict[str, str]:
        return {
            "FAKTORY_TEST_REGISTRY": self.registry,
            "FAKTORY_TEST_AUTH_REGISTRY": self.auth_registry,
            "FAKTORY_TEST_REGISTRY_USER": self.registry_user,
            "FAKTORY_TEST_REGISTRY_PASSWORD": self.registry_password,
            "FAKTORY_TEST_REDIS_URL": self.redis_url,
        }


SUITE = Services(
    registry=f"127.0.0.1:{REGISTRY_PORT}",
    auth_registry=f"127.0.0.1:{AUTH_REGISTRY_PORT}",
    registry_user=REGISTRY_USER,
    registry_password=REGISTRY_PASSWORD,
    redis_url=f"redis://127.0.0.1:{REDIS_PORT}/0",
)


def _log(msg: str) -> None:
    print(f"services: {msg}", file=sys.stderr, flush=True)


def _start_dockerd(state: Path) -> None:
    if docker_answers():
        return
    binary = shutil.which("dockerd")
    if binary is None:
        raise ServiceError("dockerd is not installed (apt-get install docker.io)")
    log = state / "dockerd.log"
    _log("starting dockerd")
    proc = _spawn([binary, "--iptables=false", "--bridge=none"], log)
    (state / "dockerd.pid").write_text(f"{proc.pid}\n")  # recorded: we started it, so `stop` may stop it
    _wait_until(docker_answers, 60, "dockerd", proc, log)


def _start_suite_registry(state: Path, name: str, port: int, auth: bool) -> None:
    data_dir = state / name
    pid = _read_pid(data_dir / "registry.pid")
    if pid is not None and registry_answers(f"127.0.0.1:{port}"):
        return
    if port_open("127.0.0.1", port):
        if registry_answers(f"127.0.0.1:{port}"):
            _log(f"a registry not started from here already answers on 127.0.0.1:{port}; using it")
            return
        raise ServiceError(f"port 127.0.0.1:{port} is taken by something that is not a registry")
    _log(f"starting registry {name} on 127.0.0.1:{port}")
    start_registry(port, data_dir, htpasswd=(REGISTRY_USER, REGISTRY_PASSWORD) if auth else None)


def _start_redis(state: Path) -> None:
    if redis_answers(REDIS_PORT):
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server is not installed (apt-get install redis-server)")
    data_dir = state / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "redis.log"
    _log(f"starting redis on 127.0.0.1:{REDIS_PORT}")
    argv = [binary, "--bind", "127.0.0.1", "--port", str(REDIS_PORT), "--dir", str(data_dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"]
    proc = _spawn(argv, log)
    (data_dir / "redis.pid").write_text(f"{proc.pid}\n")
    _wait_until(lambda: redis_answers(REDIS_PORT), 20, "redis", proc, log)


def write_env(state: Path, services: Services = SUITE) -> Path:
    path = state / "services.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in services.env().items()))
    return path


def start(state: Path = STATE_DIR) -> Services:
    """Idempotent: start whatever of dockerd, both registries and redis does not answer."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "services.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions starting at once must not race for the ports
        _start_dockerd(state)
        _start_suite_registry(state, "registry", REGISTRY_PORT, auth=False)
        _start_suite_registry(state, "auth-registry", AUTH_REGISTRY_PORT, auth=True)
        _start_redis(state)
        write_env(state)
    return SUITE


def stop(state: Path = STATE_DIR) -> None:
    """Stop only what `start` started (recorded in pid files)."""
    for pid_file in (state / "redis" / "redis.pid", state / "auth-registry" / "registry.pid",
                     state / "registry" / "registry.pid", state / "dockerd.pid"):
        pid = _read_pid(pid_file)
        if pid is not None:
            _log(f"stopping {pid_file.parent.name if pid_file.name != 'dockerd.pid' else 'dockerd'} (pid {pid})")
            _terminate(pid, timeout=30)
        pid_file.unlink(missing_ok=True)


def status() -> dict[str, bool]:
    return {
        "dockerd": docker_answers(),
        f"registry {SUITE.registry}": registry_answers(SUITE.registry),
        f"auth-registry {SUITE.auth_registry}": registry_answers(SUITE.auth_registry, REGISTRY_USER, REGISTRY_PASSWORD),
        f"redis 127.0.0.1:{REDIS_PORT}": redis_answers(REDIS_PORT),
    }


def main(argv: list[str]) -> int:
    verb = argv[0] if argv else "status"
    if verb == "start":
        try:
            start()
        except ServiceError as err:
            print(f"services: error: {err}", file=sys.stderr)
            return 1
        verb = "status"
    if verb == "stop":
        stop()
        return 0
    if verb == "status":
        states = status()
        for name, up in states.items():
            print(f"{'up  ' if up else 'DOWN'}  {name}")
        return 0 if all(states.values()) else 1
    print("usage: services.sh start|stop|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
