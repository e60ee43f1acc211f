"""`docker image inspect` over the Engine API with the standard library only.

A warm load needs nothing from the engine but this one call; importing the docker SDK (requests, urllib3)
costs more than the whole warm load, so the SDK is kept for streaming `docker save`. Honours DOCKER_HOST for
unix:// and tcp:// (plain); anything else (ssh://, TLS) returns None and the caller uses the SDK.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from urllib.parse import quote, urlparse

API_VERSION = "v1.41"  # what Docker 20.10 speaks; newer engines accept it too


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _connection(timeout: float) -> http.client.HTTPConnection | None:
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if os.environ.get("DOCKER_TLS_VERIFY"):
        return None
    url = urlparse(host)
    if url.scheme == "unix":
        return _UnixConnection(url.path, timeout)
    if url.scheme in ("tcp", "http") and url.hostname:
        return http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=timeout)
    return None


class EngineError(Exception):
    def __init__(self, status: int | None, message: str):
        super().__init__(message)
        self.status = status


def inspect_image(name: str, timeout: float = 30.0) -> dict | None:
    """The engine's image inspect document; None if this client cannot talk to DOCKER_HOST (use the SDK).

    Raises EngineError(404, …) when the image is unknown and EngineError(None, …) when the engine is unreachable.
    """
    conn = _connection(timeout)
    if conn is None:
        return None
    try:
        conn.request("GET", f"/{API_VERSION}/images/{quote(name, safe='')}/json")
        resp = conn.getresponse()
        body = resp.read()
    except OSError as exc:
        raise EngineError(None, f"{type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
    if resp.status == 404:
        raise EngineError(404, "no such image")
    if resp.status != 200:
        try:
            message = json.loads(body).get("message", "")
        except ValueError:
            message = body[:200].decode("utf-8", "replace")
        raise EngineError(resp.status, f"engine answered {resp.status}: {message}")
    return json.loads(body)
