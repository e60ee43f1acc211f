"""The webhook under hostile or unlucky conditions, as real `faktory serve` processes: payloads naming hosts
outside the allow-list, deeply nested JSON, and `kill -9` in the middle of a burst (SQLite and Redis)."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.test_service_helpers import AUTH, Server, free_port, wait_for
from tests.support.tcp import Listener

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def distribution_event(event_id: str, n: int, host: str) -> dict:
    digest = "sha256:" + f"{n:064x}"
    return {"id": event_id, "action": "push", "timestamp": "2026-01-01T00:00:00Z",
            "target": {"mediaType": MANIFEST, "digest": digest, "size": 10, "repository": f"apps/a{n % 5}",
                       "tag": f"t{n}", "url": f"http://{host}/v2/apps/a{n % 5}/manifests/{digest}"},
            "request": {"host": host}}


def harbor_push(host: str, n: int) -> dict:
    return {"type": "PUSH_ARTIFACT", "occur_at": n, "event_data": {
        "resources": [{"digest": "sha256:" + f"{n:064x}", "tag": "v1", "resource_url": f"{host}/lib/web:v1"}],
        "repository": {"name": "web", "namespace": "lib", "repo_full_name": "lib/web"}}}


def post(url: str, body, path: str = "/hooks/distribution", timeout: float = 30) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}{path}", content=data, headers=AUTH, timeout=timeout)


def test_payloads_outside_the_allow_list_are_ignored_and_never_contacted(tmp_path):
    trap = Listener()
    # Listening on all interfaces and no rules file: no registry at all is allowed, loopback included.
    server = Server(tmp_path, "--host", "0.0.0.0", "--workers", "1")
    try:
        trapped = f"127.0.0.1:{trap.port}"
        for path, body in (("/hooks/harbor", harbor_push(trapped, 1)),
                           ("/hooks/harbor", harbor_push("attacker.invalid:8443", 2)),
                           ("/hooks/distribution", {"events": [distribution_event("far-1", 3, trapped)]})):
            answer = post(server.url, body, path)
            assert answer.status_code == 202, answer.text
            (result,) = answer.json()["events"]
            assert (result["status"], result["reason"]) == ("ignored", "registry not allowed")
        hub = httpx.post(f"{server.url}/hooks/dockerhub/{AUTH['Authorization'][7:]}",
                         json={"push_data": {"tag": "v1"}, "repository": {"repo_name": "apps/web"}}, timeout=30)
        assert hub.json()["events"][0]["reason"] == "registry not allowed"  # docker.io is not named either
        time.sleep(4)  # the worker is up: had anything been queued, it would have connected by now
        assert trap.connections == 0 and server.jobs() == []
    finally:
        server.stop()
        trap.close()


def test_loopback_is_allowed_only_when_the_service_listens_on_loopback(tmp_path):
    server = Server(tmp_path, "--no-workers")  # 127.0.0.1, no rules file
    try:
        near = post(server.url, harbor_push("127.0.0.1:5999", 1), "/hooks/harbor").json()["events"][0]
        assert near["status"] == "queued"
        far = post(server.url, harbor_push("registry.example:5000", 2), "/hooks/harbor").json()["events"][0]
        assert (far["status"], far["reason"]) == ("ignored", "registry not allowed")
    finally:
        server.stop()


def test_rules_name_the_registries_allowed(tmp_path):
    (tmp_path / "rules.yaml").write_text('registries: ["registry.example:*"]\nrules: [{targets: [oci]}]\n')
    server = Server(tmp_path, "--no-workers", "--host", "0.0.0.0", "--rules", str(tmp_path / "rules.yaml"))
    try:
        named = post(server.url, harbor_push("registry.example:5000", 1), "/hooks/harbor").json()["events"][0]
        assert named["status"] == "queued"
        near = post(server.url, harbor_push("127.0.0.1:5000", 2), "/hooks/harbor").json()["events"][0]
        assert near["reason"] == "registry not allowed"
    finally:
        server.stop()


def test_deeply_nested_json_is_400_not_500(tmp_path):
    server = Server(tmp_path, "--no-workers")
    try:
        deep = b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        for path in ("/hooks/distribution", "/hooks/harbor"):
            answer = post(server.url, deep, path)
            assert answer.status_code == 400 and "nested too deeply" in answer.json()["error"]
        assert post(server.url, b'{"a": ' + b"{" * 50_000 + b"}" * 50_001).status_code == 400
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()


# ------------------------------------------------------------------------------------- kill -9 mid-burst

PUSHES, PER_REQUEST, CONCURRENCY = 1200, 6, 12


def burst(url: str, batches: list[list[dict]], kill_after: int | None, killer) -> set[int]:
    """Send every batch; the ones answered 202 are returned. After `kill_after` answers, `killer()` runs."""
    answered: set[int] = set()
    lock = threading.Lock()
    client = httpx.Client(timeout=20, limits=httpx.Limits(max_connections=CONCURRENCY))

    def send(i: int) -> None:
        try:
            response = client.post(f"{url}/hooks/distribution", content=json.dumps({"events": batches[i]}),
                                   headers=AUTH)
        except httpx.HTTPError:
            return
        if response.status_code == 202:
            with lock:
                answered.add(i)
                if kill_after is not None and len(answered) == kill_after:
                    killer()

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, range(len(batches))))
    client.close()
    return answered


def kill_survives(tmp_path, extra: list[str]) -> None:
    events = [distribution_event(f"ev-{n}", n, "127.0.0.1:5999") for n in range(PUSHES)]
    batches = [events[i:i + PER_REQUEST] for i in range(0, PUSHES, PER_REQUEST)]
    port = free_port()
    state = tmp_path / "state"
    first = Server(tmp_path, "--no-workers", *extra, state_dir=state, port=port)
    answered = burst(first.url, batches, len(batches) // 3,
                     lambda: os.killpg(first.popen.pid, signal.SIGKILL))
    first.popen.wait(10)
    first.stop()
    assert len(batches) // 3 <= len(answered) < len(batches), "the kill landed outside the burst"
    second = Server(tmp_path, "--no-workers", *extra, state_dir=state, port=port)
    try:
        unanswered = [i for i in range(len(batches)) if i not in answered]
        retried = burst(second.url, [batches[i] for i in unanswered], None, None)
        assert len(retried) == len(unanswered), "every resent batch is answered"
        # job ids are one per (repository, digest, target, destination): one per distinct push here
        assert sum(httpx.get(f"{second.url}/healthz", timeout=10).json()["jobs"].values()) == PUSHES
    finally:
        second.stop()


def test_kill_9_mid_burst_loses_no_push_sqlite(tmp_path):
    kill_survives(tmp_path, [])


@pytest.fixture
def redis_name(services):
    name = f"faktory-kill-{uuid.uuid4().hex[:8]}"
    yield services.redis_url, name
    import redis

    client = redis.Redis.from_url(services.redis_url)
    for pattern in (f"{name}:*", f"huey.*{re.sub('[^a-z0-9]', '', name)}"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)


def test_kill_9_mid_burst_loses_no_push_redis(tmp_path, redis_name):
    url, name = redis_name
    kill_survives(tmp_path, ["--redis", url, "--queue-name", name])
