"""The HTTP side of `faktory serve` as a real process: auth, malformed bodies, replays, a 1,000-event burst.

Runs with --no-workers so every job queued stays visible in the shared job store.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.test_service_helpers import AUTH, SECRET, Server

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
RULES = 'registries: ["127.0.0.1:*"]\ndockerhub_registry: "127.0.0.1:5999"\nrules:\n  - repository: "apps/*"\n    targets: [oci]\n'


def event(event_id: str, n: int, media_type: str = MANIFEST) -> dict:
    digest = "sha256:" + f"{n:064x}"
    return {"id": event_id, "action": "push", "timestamp": "2026-01-01T00:00:00Z",
            "target": {"mediaType": media_type, "digest": digest, "size": 10, "repository": f"apps/a{n % 7}",
                       "tag": f"t{n}", "url": f"http://127.0.0.1:5999/v2/apps/a{n % 7}/manifests/{digest}"},
            "request": {"host": "127.0.0.1:5999"}}


CLIENT = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=16))  # one pool: no per-call TLS setup


def post(server: Server, events: list[dict], headers=AUTH, path="/hooks/distribution") -> httpx.Response:
    return CLIENT.post(f"{server.url}{path}", content=json.dumps({"events": events}), timeout=30,
                      headers={**headers, "Content-Type": "application/vnd.docker.distribution.events.v2+json"})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-http")
    (tmp / "rules.yaml").write_text(RULES)
    srv = Server(tmp, "--no-workers", "--rules", str(tmp / "rules.yaml"))
    yield srv
    srv.stop()


def test_wrong_or_missing_secret_is_401_and_queues_nothing(server):
    before = len(server.jobs())
    assert post(server, [event("auth-1", 1)], headers={}).status_code == 401
    assert post(server, [event("auth-2", 2)], headers={"Authorization": "Bearer nope"}).status_code == 401
    assert post(server, [event("auth-3", 3)], path="/hooks/harbor", headers={"Authorization": SECRET[:-1]}
                ).status_code == 401
    hub = {"push_data": {"tag": "v1"}, "repository": {"repo_name": "apps/web"}}
    assert httpx.post(f"{server.url}/hooks/dockerhub/wrong", json=hub).status_code == 401
    assert httpx.get(f"{server.url}/jobs").status_code == 401
    assert len(server.jobs()) == before
    assert server.metric("faktory_events_rejected_total", source="distribution", reason="auth") == 2


def test_malformed_json_is_400(server):
    response = httpx.post(f"{server.url}/hooks/distribution", content=b'{"events": [', headers=AUTH)
    assert response.status_code == 400 and "not JSON" in response.json()["error"]
    assert post(server, [{"id": "x"}]).status_code == 400
    assert server.metric("faktory_events_rejected_total", source="distribution", reason="malformed") == 2


def test_replayed_event_is_deduped_and_blob_pushes_ignored(server):
    first = post(server, [event("replay-1", 100), event("blob-1", 101, media_type="application/octet-stream")])
    assert first.status_code == 202
    statuses = [e["status"] for e in first.json()["events"]]
    assert statuses == ["queued", "ignored"]
    (job_id,) = first.json()["events"][0]["jobs"]
    replay = post(server, [event("replay-1", 100)])
    assert replay.status_code == 202 and replay.json()["events"][0]["status"] == "duplicate event"
    same_push_new_id = post(server, [event("replay-2", 100)]).json()["events"][0]
    assert same_push_new_id["jobs"] == [] and same_push_new_id["deduped_jobs"] == [job_id]
    job = server.job(job_id)
    assert job["state"] == "queued" and job["source"]["digest"] == "sha256:" + f"{100:064x}"
    queued = CLIENT.get(f"{server.url}/jobs", params={"state": "queued"}, headers=AUTH).json()["jobs"]
    assert job_id in {j["id"] for j in queued}
    assert CLIENT.get(f"{server.url}/jobs", params={"state": "failed"}, headers=AUTH).json()["jobs"] == []
    assert CLIENT.get(f"{server.url}/jobs", params={"state": "bogus"}, headers=AUTH).status_code == 400
    assert CLIENT.get(f"{server.url}/jobs/nope", headers=AUTH).status_code == 404
    assert job["destination"] == "127.0.0.1:5999/apps/a2:t100-oci"


def test_burst_of_1000_events_all_answered_none_lost_duplicates_dropped(server):
    # 1,000 deliveries: 600 distinct pushes; 250 replays of an event id; 150 new ids for an already-seen push.
    bodies = [[event(f"burst-{n}", 1000 + n)] for n in range(600)]
    bodies += [[event(f"burst-{n}", 1000 + n)] for n in range(250)]
    bodies += [[event(f"burst-again-{n}", 1000 + n)] for n in range(150)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda b: post(server, b), bodies))
    assert [r.status_code for r in responses] == [202] * 1000
    burst_jobs = [j for j in server.jobs(limit=1000) if j["source"]["tag"].startswith("t1")
                  and 1000 <= int(j["source"]["tag"][1:]) < 1600]
    assert len(burst_jobs) == 600
    assert len({(j["source"]["repository"], j["source"]["digest"]) for j in burst_jobs}) == 600
    statuses = [r.json()["events"][0]["status"] for r in responses]
    assert statuses.count("queued") == 750 and statuses.count("duplicate event") == 250
    assert sum(len(r.json()["events"][0].get("jobs", [])) for r in responses) == 600


def test_harbor_and_dockerhub_endpoints_queue_work(server):
    harbor = {"type": "PUSH_ARTIFACT", "occur_at": 1, "event_data": {
        "resources": [{"digest": "sha256:" + "c" * 64, "tag": "h1", "resource_url": "127.0.0.1:5999/apps/h:h1"}],
        "repository": {"name": "h", "namespace": "apps", "repo_full_name": "apps/h"}}}
    response = CLIENT.post(f"{server.url}/hooks/harbor", json=harbor, headers={"Authorization": SECRET})
    assert response.status_code == 202
    (job_id,) = response.json()["events"][0]["jobs"]
    assert server.job(job_id)["source"]["event"] == "harbor"
    assert CLIENT.post(f"{server.url}/hooks/harbor", json=harbor, headers={"Authorization": SECRET}
                       ).json()["events"][0]["status"] == "duplicate event"
    hub = {"push_data": {"tag": "v9", "pushed_at": 5}, "repository": {"repo_name": "apps/hub"}}
    response = CLIENT.post(f"{server.url}/hooks/dockerhub/{SECRET}", json=hub)
    assert response.status_code == 202 and response.json()["events"][0]["status"] == "resolving"
    too_big = CLIENT.post(f"{server.url}/hooks/distribution", headers=AUTH, content=b" " * (5 << 20))
    assert too_big.status_code == 413


@pytest.mark.parametrize("args, message", [
    (["--rules", "MISSING"], "cannot read rules file"),
    ([], "a webhook secret is required"),
    (["--redis", "redis://127.0.0.1:9/0"], "cannot reach Redis"),
])
def test_serve_user_errors_are_one_line_exit_2(tmp_path, args, message):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FAKTORY_WEBHOOK_SECRET"}
    args = [str(tmp_path / a) if a == "MISSING" else a for a in args]
    if "--redis" in args:
        args += ["--secret", "x"]
    out = subprocess.run([sys.executable, "-m", "faktory", "serve", "--state-dir", str(tmp_path / "s"), *args],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2, out
    assert out.stderr.startswith("faktory: error: ") and message in out.stderr and out.stderr.count("\n") == 1


def children(pid: int) -> set[int]:
    from pathlib import Path

    # children are listed under the thread that forked them
    return {int(p) for task in Path(f"/proc/{pid}/task").iterdir() for p in (task / "children").read_text().split()}


def test_worker_child_that_dies_is_started_again(tmp_path):
    import os
    import signal

    from tests.test_service_helpers import wait_for

    srv = Server(tmp_path, "--workers", "1")
    try:
        (first,) = wait_for(lambda: children(srv.popen.pid), 30, "worker child")
        os.kill(first, signal.SIGKILL)
        (second,) = wait_for(lambda: children(srv.popen.pid) - {first}, 30, "a new worker child")
        assert second != first
        assert "worker process exited with -9; starting it again" in srv.output()
        assert CLIENT.get(f"{srv.url}/healthz").status_code == 200
    finally:
        srv.stop()
