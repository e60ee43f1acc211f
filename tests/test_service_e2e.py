"""End to end with real parts: a CNCF registry whose `notifications` endpoint is `faktory serve`, skopeo
pushing a fixture image, the service converting it (oci target) and pushing the result back.

SQLite queue with two worker processes; Redis queue with two separate worker-only processes; and a worker
killed with SIGKILL in the middle of a conversion.
"""

from __future__ import annotations

import base64
import json
import re
import os
import shlex
import signal
import threading
import time
import uuid

import httpx
import oras.provider
import pytest

from tests.support.services import start_registry
from tests.test_service_helpers import (
    AUTH,
    NotificationRecorder,
    Proc,
    Server,
    endpoint,
    free_port,
    skopeo_copy,
    skopeo_inspect,
    skopeo_inspect_raw,
    wait_for,
)

pytestmark = pytest.mark.slow
RULES = 'registries: ["127.0.0.1:*"]\nrules:\n  - repository: "fixtures/*"\n    targets: [oci]\n'
CONVERT_TIMEOUT = 180


class Stack:
    """registry (notifying the service and a recorder) + faktory serve."""

    def __init__(self, tmp, server_args: list[str], rules: str = RULES, creds: tuple[str, str] | None = None):
        self.tmp = tmp
        self.creds = creds
        (tmp / "rules.yaml").write_text(rules)
        self.recorder = NotificationRecorder()
        port = free_port()
        hooks = [endpoint("faktory", f"http://127.0.0.1:{port}/hooks/distribution", AUTH),
                 endpoint("recorder", self.recorder.url)]
        self.registry = start_registry(free_port(), tmp / "registry", htpasswd=creds, notifications=hooks)
        self.env = {}
        if creds:  # the service finds its registry credentials where docker keeps them
            config = tmp / "docker-config"
            config.mkdir()
            auth = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            (config / "config.json").write_text(json.dumps({"auths": {self.registry.addr: {"auth": auth}}}))
            self.env = {"DOCKER_CONFIG": str(config)}
        self.procs: list[Proc] = []
        try:
            self.server = Server(tmp, "--rules", str(tmp / "rules.yaml"), *server_args, port=port, env=self.env)
        except BaseException:
            self.close()
            raise

    def push(self, fixture, tag: str, repository: str | None = None) -> str:
        """Push the fixture under fixtures/<name>:<tag>; returns the manifest digest the registry holds."""
        ref = f"{self.registry.addr}/{repository or 'fixtures/' + fixture.name}:{tag}"
        skopeo_copy(f"docker-archive:{fixture.archive}", ref, self.creds)
        return skopeo_inspect(ref, self.creds)["Digest"]

    def job_for(self, repository: str, tag: str, target: str = "oci") -> dict | None:
        found = [j for j in self.server.jobs() if j["source"]["repository"] == repository
                 and j["source"]["tag"] == tag and j["target"] == target]
        return found[0] if found else None

    def wait_finished(self, repository: str, tag: str, target: str = "oci") -> dict:
        def finished():
            job = self.job_for(repository, tag, target)
            return job if job and job["state"] in ("done", "failed", "skipped") else None
        try:
            return wait_for(finished, CONVERT_TIMEOUT, f"job for {repository}:{tag}", interval=0.5)
        except AssertionError:
            logs = "\n".join(p.output()[-2000:] for p in [self.server, *self.procs])
            raise AssertionError(f"no finished job for {repository}:{tag}; jobs: {self.server.jobs()}\n{logs}")

    def close(self) -> None:
        for proc in [*self.procs, getattr(self, "server", None)]:
            if proc is not None:
                proc.stop()
        self.registry.stop() if hasattr(self, "registry") else None
        self.recorder.close()


def assert_converted(stack: Stack, fixture, tag: str, source_digest: str, repository: str | None = None) -> dict:
    repository = repository or f"fixtures/{fixture.name}"
    job = stack.wait_finished(repository, tag)
    assert job["state"] == "done", f"{job['error']} / {job['note']}"
    dest = f"{stack.registry.addr}/{repository}:{tag}-oci"
    assert job["result_ref"].startswith(dest + "@sha256:")
    manifest = skopeo_inspect_raw(dest, stack.creds)
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.base.digest"] == source_digest
    assert annotations["dev.faktory.source.digest"] == source_digest
    assert annotations["dev.faktory.source.ref"].endswith(f"/{repository}@{source_digest}")
    inspected = skopeo_inspect(dest, stack.creds)  # config and layers are all there
    assert inspected["Digest"] == job["result_ref"].split("@")[1]
    return job


def verify_rules(fixture) -> str:
    probe = {"probe": shlex.join(fixture.probe.cmd), "expect": fixture.probe.expect, "timeout": 120}
    return (RULES + f"    verify: {json.dumps(probe)}\n"
            + '  - repository: "fixtures/*"\n    targets: [microvm]\n')


def test_push_to_registry_is_converted_verified_and_pushed_back_sqlite(tmp_path, fixture_images):
    flask = fixture_images["flask"]
    stack = Stack(tmp_path, ["--workers", "2"], rules=verify_rules(flask))
    try:
        digest = stack.push(flask, "v1")
        job = assert_converted(stack, flask, "v1", digest)
        assert job["attempts"] == 1 and job["source"]["event"] == "distribution"
        assert job["verify"]["expect"] == flask.probe.expect
        assert any(name.startswith("run ") for name in job["verified"]), job  # converted ran the probe like the original
        # the registry also told us about our own push of v1-oci: ignored by the default excludes
        wait_for(lambda: stack.recorder.manifest_pushes("fixtures/flask", "v1-oci"), 30, "recorded result push")
        assert len(stack.recorder.manifest_pushes("fixtures/flask", "v1-oci")) == 1
        assert sorted((j["source"]["tag"], j["target"]) for j in stack.server.jobs()) == [
            ("v1", "microvm"), ("v1", "oci")]

        # a target that is not an image: an OCI artifact, pullable with oras
        vm_job = stack.wait_finished("fixtures/flask", "v1", "microvm")
        assert vm_job["state"] == "done", f"{vm_job['error']} / {vm_job['note']}"
        vm_dest = f"{stack.registry.addr}/fixtures/flask:v1-microvm"
        artifact = skopeo_inspect_raw(vm_dest)
        assert artifact["artifactType"] == "application/vnd.faktory.microvm.v1"
        assert artifact["annotations"]["dev.faktory.source.digest"] == digest
        pulled = tmp_path / "pulled"
        pulled.mkdir()
        oras.provider.Registry(hostname=stack.registry.addr, insecure=True).pull(target=vm_dest, outdir=str(pulled))
        listed = json.loads((pulled / "faktory.json").read_text())["files"]
        assert listed and all((pulled / name).stat().st_size == size for name, size in listed.items())
        assert stack.server.metric("faktory_jobs", state="done") == 2
        assert stack.server.metric("faktory_conversion_seconds_count") == 2
        # the same digest under another tag: re-tagged, not converted again
        assert stack.push(flask, "stable") == digest
        again = assert_converted(stack, flask, "stable", digest)
        assert "re-tagged" in again["note"] and again["phase"] == "retag"
        assert again["result_ref"].split("@")[1] == job["result_ref"].split("@")[1]
        assert stack.server.metric("faktory_conversion_seconds_count") == 2
    finally:
        stack.close()


@pytest.fixture
def redis_queue(services):
    name = f"faktory-test-{uuid.uuid4().hex[:8]}"
    yield services.redis_url, name
    import redis

    client = redis.Redis.from_url(services.redis_url)
    huey_name = re.sub("[^a-z0-9]", "", name)  # how huey spells it in its keys
    for pattern in (f"{name}:*", f"huey.*{huey_name}"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)


class ManifestWatcher(threading.Thread):
    """Polls a tag while a job runs: every manifest ever visible under it must have all its blobs."""

    def __init__(self, registry: str, repository: str, tag: str, creds: tuple[str, str] | None = None):
        super().__init__(daemon=True)
        self.creds = creds
        self.base = f"http://{registry}/v2/{repository}"
        self.tag = tag
        self.stop = threading.Event()
        self.seen: set[str] = set()
        self.incomplete: list[str] = []

    def run(self) -> None:
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"}
        with httpx.Client(timeout=10, auth=self.creds) as client:
            while not self.stop.wait(0.1):
                try:
                    self.check(client, accept)
                except httpx.HTTPError:
                    pass  # the registry going away at teardown

    def check(self, client: httpx.Client, accept: dict) -> None:
        response = client.get(f"{self.base}/manifests/{self.tag}", headers=accept)
        if response.status_code != 200:
            return
        doc = response.json()
        self.seen.add(response.headers.get("Docker-Content-Digest", ""))
        for blob in [doc["config"], *doc["layers"]]:
            if client.head(f"{self.base}/blobs/{blob['digest']}").status_code != 200:
                self.incomplete.append(blob["digest"])


def test_redis_queue_two_workers_and_kill_9_mid_conversion(tmp_path, fixture_images, redis_queue):
    redis_url, name = redis_queue
    flask = fixture_images["flask"]
    common = ["--redis", redis_url, "--queue-name", name, "--lease-seconds", "3", "--backoff-seconds", "1"]
    # A registry with basic auth: pulls (inspector) and pushes (publisher) find credentials via DOCKER_CONFIG.
    stack = Stack(tmp_path, ["--no-workers", *common, "--state-dir", str(tmp_path / "server-state")],
                  creds=("pusher", "hook-test-pw"))
    try:
        for i in range(2):  # two worker machines, as far as the queue can tell
            stack.procs.append(Proc(["--worker-only", "--workers", "1", *common, "--state-dir",
                                     str(tmp_path / f"worker{i}")], tmp_path / f"worker{i}.log", env=stack.env))

        # 1. a plain conversion through Redis
        digest = stack.push(flask, "r1")
        job = assert_converted(stack, flask, "r1", digest)
        assert job["attempts"] == 1

        # 2. kill -9 the worker holding the next job while it converts (another repository: a conversion
        #    of its own, not a re-tag of r1's result)
        watcher = ManifestWatcher(stack.registry.addr, "fixtures/flask-kill", "r2-oci", stack.creds)
        watcher.start()
        try:
            digest2 = stack.push(flask, "r2", repository="fixtures/flask-kill")
            running = wait_for(lambda: (j := stack.job_for("fixtures/flask-kill", "r2")) and j["state"] == "running"
                               and j["phase"] in ("analyze", "convert") and j, 120, "job r2 converting",
                               interval=0.05)
            victim = int(running["worker"].rsplit(":", 1)[1])
            os.kill(victim, signal.SIGKILL)
            job2 = assert_converted(stack, flask, "r2", digest2, repository="fixtures/flask-kill")
        finally:
            watcher.stop.set()
            watcher.join()
        assert job2["attempts"] == 2, job2
        assert f"{running['worker']} stopped during" in job2["note"]
        assert job2["worker"] != running["worker"]
        wait_for(lambda: stack.recorder.manifest_pushes("fixtures/flask-kill", "r2-oci"), 30, "recorded result push")
        time.sleep(1)  # let any (wrong) second push arrive before counting
        assert len(stack.recorder.manifest_pushes("fixtures/flask-kill", "r2-oci")) == 1  # published exactly once
        assert watcher.seen == {job2["result_ref"].split("@")[1]} and watcher.incomplete == []
    finally:
        stack.close()
