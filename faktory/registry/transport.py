"""HTTP to one registry host, with the standard library only (a warm load must not pay for requests or httpx).

What every request gets, written once:

- **Plain HTTP** for loopback hosts (`localhost`, `127.*`, `::1`), for `$FAKTORY_INSECURE_REGISTRIES`
  (comma-separated `HOST[:PORT]` globs) and for the globs a caller adds (the service's rules); HTTPS otherwise.
- **Auth**, in the steps of go-containerregistry's transport:
  1. ping `GET /v2/` anonymously, once per transport;
  2. no challenge (200): anonymous from then on;
  3. `Basic`: the keychain's login goes on every request; no login is an AuthError that says where logins are
     read from;
  4. `Bearer realm=…,service=…`: a token for the request's scope (`repository:REPO:pull`, `…:pull,push`,
     `registry:catalog:*`) from the realm, with the login as Basic auth if there is one; kept per scope;
  5. a 401 after that: one fresh token (for the scope the new challenge names, else the request's: tokens
     expire); a second 401, or any 401 under Basic, means the registry refused the login (or wants one).
- **Retries**: connection errors, stalls and 5xx answers, `RETRIES` attempts with backoff from `BACKOFF`
  (doubling); 4xx answers are final.
- **Timeouts** (`Limits`): connect, read (the longest silence allowed) and total (one request's whole
  exchange, retries included; a blob's body is bounded by the read timeout alone, since its time grows with
  its size).
- **Size caps** on every body held in memory (manifests, token, tag and catalog pages; configs through
  `Limits.config`), checked against Content-Length first and then while reading.
- **Redirects** (blob downloads from a CDN): followed up to 5 times; the Authorization header stays with the
  registry's own host.
- **Proxies**: `$https_proxy`/`$http_proxy`/`$no_proxy`, never for loopback.
"""

from __future__ import annotations

import base64
import fnmatch
import http.client
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Mapping
from urllib.parse import urlencode, urljoin, urlsplit

from faktory.errors import AuthError, FaktoryError, InvalidImage, SourceUnavailable
from faktory.registry.auth import DefaultKeychain, Keychain
from faktory.registry.limits import ENV as _ENV, Limits

RETRIES = 4
BACKOFF = 0.25  # seconds, doubled after each failed attempt
MAX_REDIRECTS = 5
API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}
_ERROR_BODY = 64 << 10  # what is read of a refusal's body before the connection is dropped
_MIB = 1 << 20

def is_loopback(host: str | None) -> bool:
    """127.x, localhost and ::1, with or without a port."""
    if not host:
        return False
    name = host[1:].split("]", 1)[0] if host.startswith("[") else host
    if name.count(":") == 1:
        name = name.split(":", 1)[0]
    return name in ("localhost", "::1") or name.startswith("127.")


def plain_http(host: str, insecure: Iterable[str] = ()) -> bool:
    """Loopback, `$FAKTORY_INSECURE_REGISTRIES` and the caller's globs are spoken to over HTTP, as the engine does."""
    if is_loopback(host):
        return True
    name = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
    listed = [h.strip() for h in os.environ.get("FAKTORY_INSECURE_REGISTRIES", "").split(",") if h.strip()]
    return any(fnmatch.fnmatchcase(host, pat) or fnmatch.fnmatchcase(name, pat) for pat in (*listed, *insecure))


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes = b""
    url: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class _Deadline:
    limits: Limits
    what: str
    host: str
    total: bool = True
    start: float = field(default_factory=time.monotonic)

    def timeout(self) -> float:
        if not self.total:
            return self.limits.read
        left = self.limits.total - (time.monotonic() - self.start)
        if left <= 0:
            raise SourceUnavailable(f"registry {self.host} did not finish {self.what} within {self.limits.total:g} s "
                                    f"(${_ENV['total'][0]})")
        return min(self.limits.read, left)


class Transport:
    """One registry host: connections, auth state and the rules above. Safe to share between threads."""

    def __init__(self, host: str, keychain: Keychain | None = None, insecure: Iterable[str] = (),
                 limits: Limits | None = None):
        self.host = host  # as the user names it: credentials and messages use this name
        self.api_host = API_HOSTS.get(host, host)
        self.scheme = "http" if plain_http(host, insecure) else "https"
        self.keychain = keychain if keychain is not None else DefaultKeychain()
        self.limits = limits or Limits.from_env()
        self._lock = threading.Lock()
        self._pinged = False
        self._challenge: tuple[str, dict[str, str]] | None = None  # ("basic"|"bearer", params)
        self._login_known = False
        self._login = None
        self._tokens: dict[str, str] = {}
        self._idle: list[http.client.HTTPConnection] = []
        self._ssl = ssl.create_default_context()

    # -- public ---------------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, scope: str, what: str, headers: Mapping[str, str] | None = None,
                body: bytes | Path | None = None, cap: int | None = None, stream: bool = False,
                absolute: bool = False) -> "Response | BlobStream":
        """One authorised request to `/v2/…` (or to an absolute URL the registry handed out, e.g. an upload).

        The body of a non-stream answer is read whole, at most `cap` bytes (default: the manifest cap).
        A 401/403 raises AuthError; other statuses are the caller's to judge.
        """
        self._ensure_pinged(what)
        url = path if absolute else f"{self.scheme}://{self.api_host}{path}"
        resp = self._send_authorised(method, url, scope, what, dict(headers or {}), body, cap, stream)
        if resp.status in (401, 403):
            self._refused(resp.status, what)
        return resp

    def credentials_hint(self) -> str:
        return self.keychain.sources(self.host)

    # -- auth (the numbered steps) --------------------------------------------------------------------
    def _ensure_pinged(self, what: str) -> None:
        with self._lock:
            if self._pinged:
                return
        resp = self._exchange("GET", f"{self.scheme}://{self.api_host}/v2/", {}, None, _MIB, False,
                              _Deadline(self.limits, "GET /v2/", self.host))  # step 1
        challenge = None
        if resp.status == 401:
            challenge = _parse_challenge(resp.header("WWW-Authenticate") or "")
            if challenge is None:
                raise AuthError(f"registry {self.host} answered 401 to GET /v2/ with no challenge faktory can follow "
                                f"({(resp.header('WWW-Authenticate') or 'none')[:80]!r})")
        with self._lock:
            self._challenge, self._pinged = challenge, True  # step 2: None is anonymous

    def _credentials(self):
        with self._lock:
            if not self._login_known:
                self._login, self._login_known = self.keychain.resolve(self.host), True
            return self._login

    def _authorization(self, scope: str) -> str | None:
        if self._challenge is None:
            return None
        kind, params = self._challenge
        login = self._credentials()
        if kind == "basic":  # step 3
            if login is None:
                raise AuthError(self._wants_login("Basic"))
            return "Basic " + _basic(login)
        with self._lock:  # step 4
            token = self._tokens.get(scope)
        if token is None:
            token = self._fetch_token(params, scope, login)
            with self._lock:
                self._tokens[scope] = token
        return f"Bearer {token}"

    def _fetch_token(self, params: dict[str, str], scope: str, login) -> str:
        realm = params.get("realm")
        if not realm or urlsplit(realm).scheme not in ("http", "https"):
            raise AuthError(f"registry {self.host}: its Bearer challenge names no usable token realm ({realm!r})")
        query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        headers = {"Authorization": "Basic " + _basic(login)} if login is not None else {}
        resp = self._exchange("GET", url, headers, None, self.limits.manifest, False,
                              _Deadline(self.limits, "token request", self.host))
        if resp.status in (401, 403):
            if login is None:
                raise AuthError(self._wants_login("Bearer"))
            raise AuthError(f"registry {self.host}: the token service refused the credentials from "
                            f"{self.credentials_hint()} (HTTP {resp.status})")
        if resp.status != 200:
            raise AuthError(f"registry {self.host}: the token service answered HTTP {resp.status}")
        try:
            doc = json.loads(resp.body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise AuthError(f"registry {self.host}: the token service sent no token")
        return token

    def _send_authorised(self, method, url, scope, what, headers, body, cap, stream):
        own = urlsplit(url).netloc == self.api_host
        if own:
            auth = self._authorization(scope)
            if auth:
                headers["Authorization"] = auth
        deadline = _Deadline(self.limits, what, self.host)
        resp = self._exchange(method, url, headers, body, cap or self.limits.manifest, stream, deadline)
        if resp.status == 401 and own and self._challenge is not None and self._challenge[0] == "bearer":
            # step 5: one fresh token, for the scope the challenge names (else ours: the old one may have expired)
            again = _parse_challenge(resp.header("WWW-Authenticate") or "")
            wanted = (again or ("", {}))[1].get("scope") or scope
            _close(resp)
            with self._lock:
                self._tokens.pop(wanted, None)
            headers["Authorization"] = self._authorization(wanted) or ""
            resp = self._exchange(method, url, headers, body, cap or self.limits.manifest, stream, deadline)
        return resp

    def _wants_login(self, scheme: str) -> str:
        return (f"registry {self.host} wants credentials ({scheme} challenge) and none are configured: "
                f"no credentials found in {self.credentials_hint()}")

    def _refused(self, status: int, what: str) -> None:
        login = self._credentials() if self._challenge is not None else None
        if login is not None:
            raise AuthError(f"registry {self.host} refused the credentials from {self.credentials_hint()} "
                            f"({status} on {what})")
        if self._challenge is not None and self._challenge[0] == "bearer":
            raise AuthError(f"registry {self.host} needs credentials for {what} ({status}) and none are configured: "
                            f"no credentials found in {self.credentials_hint()}")
        raise AuthError(f"registry {self.host} denied {what} ({status})")

    # -- the wire -------------------------------------------------------------------------------------
    def _exchange(self, method, url, headers, body, cap, stream, deadline: _Deadline):
        """Send with retries and redirects; returns a Response (body read, capped) or a BlobStream."""
        delay = BACKOFF
        for attempt in range(RETRIES):
            last = attempt == RETRIES - 1
            try:
                resp, conn = self._follow(method, url, headers, body, deadline)
                if resp.status < 500:  # the body is part of the attempt: a stall in it is retried too
                    return self._finish(resp, conn, method, cap, stream, deadline)
            except ssl.SSLError as exc:
                raise SourceUnavailable(f"registry {self.host}: TLS error: {exc.reason or exc}") from None
            except socket.timeout:
                if last:
                    raise SourceUnavailable(self._stalled(deadline)) from None
            except (OSError, http.client.HTTPException) as exc:
                if last:
                    raise SourceUnavailable(f"cannot reach registry {self.api_host} for {deadline.what} "
                                            f"({type(exc).__name__}): unreachable after {RETRIES} attempts") from None
            else:
                _drop(resp, conn)
                if last:
                    raise SourceUnavailable(f"registry {self.api_host} answered {resp.status} to {deadline.what} "
                                            f"after {RETRIES} attempts")
            time.sleep(min(delay, max(0.0, deadline.timeout())))
            delay *= 2
        raise AssertionError("unreachable")

    def _stalled(self, deadline: _Deadline) -> str:
        return (f"registry {self.host} stopped answering {deadline.what}: nothing for {self.limits.read:g} s "
                f"(${_ENV['read'][0]}; connect: ${_ENV['connect'][0]}) after {RETRIES} attempts")

    def _follow(self, method, url, headers, body, deadline):
        for _ in range(MAX_REDIRECTS + 1):
            resp, conn = self._once(method, url, headers, body, deadline)
            location = resp.getheader("Location")
            if resp.status not in (301, 302, 303, 307, 308) or not location or method not in ("GET", "HEAD"):
                return resp, conn
            _drop(resp, conn)
            target = urljoin(url, location)
            if urlsplit(target).netloc != urlsplit(url).netloc:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = target
        raise SourceUnavailable(f"registry {self.host}: more than {MAX_REDIRECTS} redirects for {deadline.what}")

    def _once(self, method, url, headers, body, deadline):
        try:
            return self._send(method, url, headers, body, deadline, pooled=True)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # a kept-alive connection the server had already closed: once more on a fresh one, not an attempt
            return self._send(method, url, headers, body, deadline, pooled=False)

    def _send(self, method, url, headers, body, deadline, pooled: bool):
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn, via_proxy = self._connection(parts.scheme, parts.netloc, deadline, pooled)
        if via_proxy:
            target = url
        send_headers = {"User-Agent": "faktory", **headers}
        try:
            if isinstance(body, Path):
                with open(body, "rb") as fh:
                    send_headers["Content-Length"] = str(os.fstat(fh.fileno()).st_size)
                    conn.request(method, target, body=fh, headers=send_headers)
            else:
                if body is not None or method in ("PUT", "POST", "PATCH"):
                    send_headers["Content-Length"] = str(len(body or b""))
                conn.request(method, target, body=body, headers=send_headers)
            _set_timeout(conn, deadline.timeout())
            resp = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        return resp, conn

    def _connection(self, scheme: str, netloc: str, deadline: _Deadline, pooled: bool = True):
        key = (scheme, netloc)
        with self._lock:
            for i, conn in enumerate(self._idle if pooled else ()):
                if getattr(conn, "_faktory_key", None) == key:
                    del self._idle[i]
                    _set_timeout(conn, deadline.timeout())
                    return conn, getattr(conn, "_faktory_proxied", False)
        proxy = None if plain_http(netloc) else _proxy_for(scheme, netloc)
        timeout = min(self.limits.connect, deadline.timeout())
        if proxy is None:
            conn = (http.client.HTTPSConnection(netloc, timeout=timeout, context=self._ssl) if scheme == "https"
                    else http.client.HTTPConnection(netloc, timeout=timeout))
        elif scheme == "https":
            conn = http.client.HTTPSConnection(proxy, timeout=timeout, context=self._ssl)
            conn.set_tunnel(netloc)
        else:
            conn = http.client.HTTPConnection(proxy, timeout=timeout)
        conn.blocksize = 1 << 20
        try:
            conn.connect()
        except socket.timeout:
            conn.close()
            raise SourceUnavailable(f"cannot reach registry {self.api_host}: no connection within {timeout:g} s "
                                    f"(${_ENV['connect'][0]})") from None
        conn._faktory_key = key  # type: ignore[attr-defined]
        conn._faktory_proxied = proxy is not None and scheme == "http"  # type: ignore[attr-defined]
        return conn, conn._faktory_proxied  # type: ignore[attr-defined]

    def _release(self, conn, resp) -> None:
        if resp.will_close or not resp.isclosed():
            conn.close()
            return
        with self._lock:
            if len(self._idle) < 8:
                self._idle.append(conn)
                return
        conn.close()

    def _finish(self, resp, conn, method, cap, stream, deadline):
        try:
            return self._take(resp, conn, method, cap, stream, deadline)
        except BaseException:
            _drop(resp, conn)
            raise

    def _take(self, resp, conn, method, cap, stream, deadline):
        if stream and resp.status == 200 and method != "HEAD":
            return BlobStream(self, resp, conn, deadline)
        limit = cap if resp.status < 300 else _ERROR_BODY
        length = resp.getheader("Content-Length")
        if method != "HEAD" and length and length.isdigit() and int(length) > limit and resp.status < 300:
            _drop(resp, conn)
            raise InvalidImage(_too_big(self.host, deadline.what, int(length), limit))
        body = _read_capped(resp, conn, limit, deadline)  # a HEAD reads nothing, which frees the connection
        if len(body) > limit:
            _drop(resp, conn)
            if resp.status < 300:
                raise InvalidImage(_too_big(self.host, deadline.what, None, limit))
            body = body[:limit]
        else:
            self._release(conn, resp)
        return Response(resp.status, resp.headers, body)


class BlobStream:
    """A blob's body as it comes (never decoded); each read may wait `Limits.read` seconds, no longer."""

    def __init__(self, transport: Transport, resp, conn, deadline: _Deadline):
        self.transport, self.resp, self.conn = transport, resp, conn
        self.status, self.headers = resp.status, resp.headers
        self.deadline = _Deadline(deadline.limits, deadline.what, deadline.host, total=False)

    def read(self, n: int = -1) -> bytes:
        try:
            _set_timeout(self.conn, self.deadline.timeout())
            return self.resp.read(None if n is None or n < 0 else n)
        except socket.timeout:
            raise SourceUnavailable(f"registry {self.transport.host} stalled sending {self.deadline.what}: "
                                    f"nothing for {self.deadline.timeout():g} s (${_ENV['read'][0]})") from None
        except (OSError, http.client.HTTPException) as exc:
            raise SourceUnavailable(f"blob download interrupted: {type(exc).__name__}") from None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def close(self) -> None:
        if self.resp.isclosed():
            self.transport._release(self.conn, self.resp)
        else:
            _drop(self.resp, self.conn)

    def __enter__(self) -> "BlobStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_capped(resp, conn, limit: int, deadline: _Deadline) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        _set_timeout(conn, deadline.timeout())
        chunk = resp.read1(min(1 << 16, limit + 1 - size))  # one recv at a time: the deadline is checked between
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _set_timeout(conn, seconds: float) -> None:
    if conn.sock is not None:
        conn.sock.settimeout(seconds)


def _drop(resp, conn) -> None:
    resp.close()
    conn.close()


def _close(resp) -> None:
    if isinstance(resp, BlobStream):
        resp.close()


def _too_big(host: str, what: str, size: int | None, limit: int) -> str:
    var = _ENV["config"][0] if what.startswith("config") else _ENV["manifest"][0]
    told = f"{size} bytes" if size is not None else "more"
    return f"registry {host}: {what} is {told}, over the {limit} byte cap (${var})"


def _basic(login) -> str:
    return base64.b64encode(f"{login.username}:{login.password}".encode()).decode()


_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def _parse_challenge(header: str) -> tuple[str, dict[str, str]] | None:
    """`Basic realm="x"` or `Bearer realm="…",service="…",scope="…"` -> (scheme, params)."""
    scheme, _, rest = header.strip().partition(" ")
    kind = scheme.lower()
    if kind not in ("basic", "bearer"):
        return None
    return kind, {m[1].lower(): (m[2] if m[2] is not None else m[3]) for m in _PARAM.finditer(rest)}


def _proxy_for(scheme: str, netloc: str) -> str | None:
    host = netloc.rsplit(":", 1)[0] if not netloc.startswith("[") else netloc
    if urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy:
        return None
    return urlsplit(proxy if "://" in proxy else f"http://{proxy}").netloc or None


__all__ = ["BlobStream", "Limits", "Response", "Transport", "is_loopback", "plain_http"]
