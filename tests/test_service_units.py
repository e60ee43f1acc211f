"""Pure-Python checks of the webhook service parts: payload parsing, rules, secrets, job store, claims.

Real SQLite files and a real huey SqliteHuey queue in tmp_path; no registry needed here.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from faktory.service import events as ev
from faktory.service.app import secret_matches
from faktory.service.config import ServiceConfig
from faktory.service.jobs import FAILED, QUEUED, RETRYING, RUNNING, Job, job_id_for
from faktory.service.publish import Destination, DestinationError
from faktory.service.rules import RulesError, parse_rules
from faktory.service.service import Service
from faktory.service.store import SqliteStore

DIGEST = "sha256:" + "ab" * 32
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def distribution_event(event_id: str, media_type: str = MANIFEST, tag: str | None = "1.0", action: str = "push",
                       repository: str = "apps/web", digest: str = DIGEST) -> dict:
    target = {"mediaType": media_type, "digest": digest, "size": 1234, "repository": repository,
              "url": f"http://127.0.0.1:5000/v2/{repository}/manifests/{digest}"}
    if tag:
        target["tag"] = tag
    return {"id": event_id, "timestamp": "2026-01-01T00:00:00Z", "action": action, "target": target,
            "request": {"host": "127.0.0.1:5000"}, "actor": {}, "source": {"addr": "registry:5000"}}


def envelope(*events: dict) -> bytes:
    return json.dumps({"events": list(events)}).encode()


# -- payloads ---------------------------------------------------------------------------------------------

def test_distribution_manifest_push_becomes_event_and_blob_push_is_ignored():
    parsed = ev.parse_distribution(envelope(
        distribution_event("e1"),
        distribution_event("e2", media_type="application/octet-stream", tag=None),
        distribution_event("e3", action="pull"),
    ))
    push, blob, pull = parsed
    assert isinstance(push, ev.PushEvent)
    assert (push.registry, push.repository, push.tag, push.digest) == ("127.0.0.1:5000", "apps/web", "1.0", DIGEST)
    assert isinstance(blob, ev.Ignored) and "not a manifest" in blob.reason
    assert isinstance(pull, ev.Ignored) and pull.reason == "action pull"


@pytest.mark.parametrize("body", [b"{not json", b"[1,2]", b'{"events": 3}', b'{"events": [{"id": "x"}]}',
                                  json.dumps({"events": [{"id": "x", "action": "push", "target": {
                                      "mediaType": MANIFEST, "repository": "a"}}]}).encode()])
def test_malformed_distribution_payloads_raise(body):
    with pytest.raises(ev.MalformedPayload):
        ev.parse_distribution(body)


def test_harbor_push_artifact():
    body = json.dumps({"type": "PUSH_ARTIFACT", "occur_at": 1700000000, "operator": "admin", "event_data": {
        "resources": [{"digest": DIGEST, "tag": "v2", "resource_url": "harbor.local:8443/library/web:v2"}],
        "repository": {"name": "web", "namespace": "library", "repo_full_name": "library/web"}}}).encode()
    (event,) = ev.parse_harbor(body)
    assert (event.source, event.registry, event.repository, event.tag, event.digest) == (
        "harbor", "harbor.local:8443", "library/web", "v2", DIGEST)
    assert ev.parse_harbor(body)[0].event_id == event.event_id  # a replay has the same id
    (other,) = ev.parse_harbor(json.dumps({"type": "DELETE_ARTIFACT", "event_data": {}}).encode())
    assert isinstance(other, ev.Ignored)


def test_dockerhub_push_has_no_digest_and_is_untrusted():
    body = json.dumps({"callback_url": "x", "push_data": {"tag": "latest", "pushed_at": 1},
                       "repository": {"repo_name": "someone/web"}}).encode()
    (event,) = ev.parse_dockerhub(body, "127.0.0.1:5000")
    assert event.digest is None and event.trusted_digest is False
    assert (event.registry, event.repository, event.tag) == ("127.0.0.1:5000", "someone/web", "latest")
    with pytest.raises(ev.MalformedPayload):
        ev.parse_dockerhub(b'{"push_data": {}}', "r")


# -- rules, secrets, destinations -------------------------------------------------------------------------

RULES = """
registries: ["127.0.0.1:*"]
rules:
  - repository: "apps/*"
    tags: ["v*", "latest"]
    exclude_tags: ["*-rc*"]
    targets: [oci, microvm]
  - repository: "apps/web"
    targets: [oci, km]
    verify: true
    destination: "{registry}/converted/{repository}:{tag}.{target}"
"""


def test_rules_pick_targets_and_destinations():
    rules = parse_rules(RULES)
    plans = {p.target: p for p in rules.plans("127.0.0.1:5000", "apps/web", "v1")}
    assert set(plans) == {"oci", "microvm", "km"}
    assert plans["oci"].destination == "127.0.0.1:5000/apps/web:v1-oci"  # first rule naming a target wins
    assert plans["km"].destination == "127.0.0.1:5000/converted/apps/web:v1.km"
    assert plans["km"].verify == {} and plans["oci"].verify is None  # true: run the default Cmd once
    assert rules.plans("127.0.0.1:5000", "apps/api", "v1-rc1") == []
    assert rules.plans("127.0.0.1:5000", "apps/api", "v1-oci") == []  # our own outputs never loop
    assert rules.plans("127.0.0.1:5000", "apps/api", None) == []  # pushed by digest only
    assert rules.plans("evil.example:5000", "apps/api", "v1") == []
    assert [p.target for p in rules.plans("127.0.0.1:5000", "apps/api", "latest")] == ["oci", "microvm"]


@pytest.mark.parametrize("text", ["rules: []", "rules: [{targets: [vmware]}]", "rules: [{bogus: 1}]",
                                  "rules: [{destination: '{nope}'}]", ": : :", "rules: [{options: {outdir: x}}]",
                                  "rules: [{verify: {probe: x, http: '80/'}}]", "rules: [{verify: {port: 1}}]"])
def test_bad_rules_files_are_user_errors(text):
    with pytest.raises(RulesError):
        parse_rules(text)


def test_verify_settings_are_kept_per_plan():
    rules = parse_rules('registries: ["r:1"]\nrules: [{targets: [oci], verify: {http: "8080/health", expect: "ok", timeout: 60}}]')
    (plan,) = rules.plans("r:1", "a/b", "v1")
    assert plan.verify == {"http": "8080/health", "expect": "ok", "timeout": 60}


def test_secret_compare_accepts_plain_and_bearer_only():
    assert secret_matches("s3cret", "s3cret") and secret_matches("Bearer s3cret", "s3cret")
    assert not secret_matches(None, "s3cret") and not secret_matches("Bearer s3cre", "s3cret")
    assert not secret_matches("Basic s3cret", "s3cret")


def test_destination_parsing():
    d = Destination.parse("127.0.0.1:5000/apps/web:v1-oci")
    assert (d.registry, d.repository, d.tag) == ("127.0.0.1:5000", "apps/web", "v1-oci")
    with pytest.raises(DestinationError):
        Destination.parse("127.0.0.1:5000/apps/web")


# -- store and job life cycle -----------------------------------------------------------------------------

def make_job(**kw) -> Job:
    now = time.time()
    base = dict(id=job_id_for("apps/web", DIGEST, "oci", "d"), state=QUEUED, registry="127.0.0.1:5000",
                repository="apps/web", tag="v1", digest=DIGEST, target="oci", destination="127.0.0.1:5000/apps/web:v1-oci",
                created_at=now, updated_at=now, enqueued_at=now)
    base.update(kw)
    return Job(**base)


def test_sqlite_store_dedupes_events_and_jobs(tmp_path):
    store = SqliteStore(tmp_path / "jobs.db")
    assert not store.seen_event("e1")
    assert store.add_event("e1") and not store.add_event("e1")
    assert store.seen_event("e1")
    job = make_job()
    assert store.create(job) and not store.create(job.replace(state=FAILED))
    assert store.get(job.id) == job
    assert store.counts()[QUEUED] == 1
    # a second process (a new connection) sees the same rows
    assert SqliteStore(tmp_path / "jobs.db").get(job.id).state == QUEUED


def test_store_histogram_is_cumulative(tmp_path):
    store = SqliteStore(tmp_path / "jobs.db")
    for s in (0.5, 3.0, 3.0, 4000.0):
        store.observe_seconds(s)
    buckets, total, count = store.seconds_histogram()
    as_dict = dict(buckets)
    assert (as_dict[1.0], as_dict[5.0], as_dict[float("inf")], count) == (1, 3, 4, 4)
    assert total == pytest.approx(4006.5)


def service_in(tmp_path, **kw) -> Service:
    config = ServiceConfig(state_dir=tmp_path / "state", lease_seconds=5, max_attempts=2, backoff_seconds=1, **kw)
    return Service(config, rules=parse_rules(RULES))


def test_accept_queues_once_per_digest_and_target(tmp_path):
    service = service_in(tmp_path)
    (event,) = ev.parse_distribution(envelope(distribution_event("e1", tag="v1")))
    first = service.accept(event)
    assert len(first.queued) == 3 and not first.deduped  # oci, microvm, km
    assert service.huey.pending_count() == 3
    again = service.accept(event.__class__(**{**event.__dict__, "event_id": "e2"}))
    assert again.queued == () and set(again.deduped) == set(first.queued)
    assert service.huey.pending_count() == 3


def test_untrusted_trigger_is_resolved_by_a_worker_task(tmp_path):
    service = service_in(tmp_path)
    (event,) = ev.parse_dockerhub(json.dumps({"push_data": {"tag": "v3"}, "repository": {"repo_name": "apps/web"}}
                                             ).encode(), "127.0.0.1:5000")
    accepted = service.accept(event)
    assert accepted.resolving and accepted.queued == () and service.store.list() == []
    assert service.huey.pending_count() == 1


def test_queue_and_jobs_survive_a_restart(tmp_path):
    first = service_in(tmp_path)
    (event,) = ev.parse_distribution(envelope(distribution_event("e1", tag="v1")))
    assert first.store.add_event(event.event_id)
    queued = first.accept(event).queued
    first.store.close()
    second = service_in(tmp_path)  # a new process on the same state dir
    assert {j.id for j in second.store.list()} == set(queued)
    assert second.huey.pending_count() == len(queued) == 3
    assert not second.store.add_event("e1")  # replays stay deduped across restarts


def test_claim_is_exclusive_and_dead_workers_jobs_are_reaped(tmp_path):
    service = service_in(tmp_path)
    job = make_job(state=RUNNING, worker="elsewhere:1", attempts=1, phase="convert", lease_until=time.time() + 60)
    service.store.create(job)
    assert service.run_job(job.id) is None  # held by a live lease: a duplicate delivery does nothing
    assert service.reap() == []
    service.store.update(job.id, lambda j: j.replace(lease_until=time.time() - 1))
    assert service.reap() == [job.id]
    requeued = service.store.get(job.id)
    assert requeued.state == QUEUED and "elsewhere:1 stopped during convert" in requeued.note
    assert service.huey.pending_count() == 1
    assert service.reap() == []  # only one reaper round wins


def test_failing_job_retries_with_backoff_then_fails_with_reason(tmp_path):
    service = service_in(tmp_path)
    # Nothing listens on port 9: the registry is unreachable, a transient error worth retrying.
    job = make_job(registry="127.0.0.1:9", destination="127.0.0.1:9/apps/web:v1-oci")
    service.store.create(job)
    first = service.run_job(job.id)
    assert first.state == RETRYING and first.attempts == 1 and "unreachable" in first.error
    assert first.next_attempt_at > time.time()
    assert service.huey.pending_count() == 1  # with an eta: the consumer holds it back until then
    last = service.run_job(job.id)
    assert last.state == FAILED and last.attempts == 2
    assert last.error.startswith("failed after 2 attempts") and "127.0.0.1:9" in last.error
    assert service.run_job(job.id) is None  # a late duplicate of a finished job is a no-op
    # a new push of the same digest gives the failed job a fresh set of attempts
    again = service._plan("127.0.0.1:9", "apps/web", "v1", DIGEST, "distribution")
    assert job.id not in again.queued  # (a different destination: the rule's, not the hand-made one)
    assert service._requeue_failed(job.id, time.time())
    requeued = service.store.get(job.id)
    assert requeued.state == QUEUED and requeued.attempts == 0 and "re-queued after: failed after 2" in requeued.note


def test_dead_workers_scratch_dirs_are_swept(tmp_path):
    import socket
    import subprocess

    from faktory.service.pipeline import own_workdir

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"{socket.gethostname()}-{dead.pid}"
    (stale / "half-written").mkdir(parents=True)
    other_host = tmp_path / f"elsewhere-{dead.pid}"
    other_host.mkdir()
    mine = own_workdir(tmp_path)
    assert not stale.exists() and other_host.exists()
    assert mine.name.endswith(f"-{os.getpid()}")


def test_redis_store_behaves_like_the_sqlite_one(services):
    import uuid

    from faktory.service.store import RedisStore

    prefix = f"faktory-unit-{uuid.uuid4().hex[:8]}"
    store = RedisStore(services.redis_url, prefix=prefix)
    try:
        assert store.add_event("e1") and not store.add_event("e1")
        job = make_job()
        assert store.create(job) and not store.create(job)
        moved = store.update(job.id, lambda j: j.replace(state=RUNNING, worker="w:1"))
        assert moved.state == RUNNING and store.get(job.id).worker == "w:1"
        assert store.update(job.id, lambda j: None) is None and store.get(job.id).state == RUNNING
        assert store.counts()[RUNNING] == 1 and store.counts()[QUEUED] == 0
        assert [j.id for j in store.list(state=RUNNING)] == [job.id] and store.list(state=QUEUED) == []
        assert [j.id for j in store.active()] == [job.id]
        store.record_result(job.conversion_key, "r/x:y@sha256:1")
        assert store.result_for(job.conversion_key) == "r/x:y@sha256:1" and store.result_for("nope") is None
        store.observe_seconds(3.0)
        buckets, total, count = store.seconds_histogram()
        assert dict(buckets)[5.0] == 1 and total == 3.0 and count == 1
    finally:
        for key in store.redis.scan_iter(match=f"{prefix}:*"):
            store.redis.delete(key)


def _aged_jobs(store) -> dict[str, Job]:
    """An old finished job, an old running one, and a recent finished one."""
    from faktory.service.jobs import DONE

    old = time.time() - 40 * 86400
    jobs = {
        "old-done": make_job(id="old-done", state=DONE, created_at=old),
        "old-running": make_job(id="old-running", state=RUNNING, created_at=old),
        "new-done": make_job(id="new-done", state=DONE),
    }
    for job in jobs.values():
        assert store.create(job)
    return jobs


def _check_expiry(store) -> None:
    from faktory.service.jobs import DONE

    _aged_jobs(store)
    store.record_result("key", "r/x:y@sha256:1")
    assert store.expire_finished(time.time() - 30 * 86400) == 1
    assert store.get("old-done") is None and store.get("old-running") is not None and store.get("new-done") is not None
    assert {j.id for j in store.list()} == {"old-running", "new-done"} and store.counts()[DONE] == 1
    assert store.result_for("key") == "r/x:y@sha256:1"  # a re-push of the same digest is still only re-tagged
    assert store.expire_finished(time.time() - 30 * 86400) == 0


def test_sqlite_store_forgets_finished_jobs_past_retention(tmp_path):
    _check_expiry(SqliteStore(tmp_path / "jobs.db"))


def test_redis_store_forgets_finished_jobs_past_retention(services):
    import uuid

    from faktory.service.store import RedisStore

    prefix = f"faktory-unit-{uuid.uuid4().hex[:8]}"
    store = RedisStore(services.redis_url, prefix=prefix)
    try:
        _check_expiry(store)
    finally:
        for key in store.redis.scan_iter(match=f"{prefix}:*"):
            store.redis.delete(key)


def test_service_retention_setting(tmp_path):
    keep_all = service_in(tmp_path / "a", job_retention_seconds=0)
    _aged_jobs(keep_all.store)
    assert keep_all.expire() == 0 and keep_all.store.get("old-done") is not None
    default = service_in(tmp_path / "b")
    _aged_jobs(default.store)
    assert default.expire() == 1 and default.store.get("old-done") is None
    assert "--job-retention-days" in default.config.to_argv()
