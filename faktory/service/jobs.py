r"""The Job value and its life cycle. Stores (store.py) keep these; workers move them along.

queued -> running -> done | failed | skipped
             \-> retrying -> running ...      (a dead worker's lease expires -> re-queued by the reaper)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

QUEUED, RUNNING, RETRYING, DONE, FAILED, SKIPPED = "queued", "running", "retrying", "done", "failed", "skipped"
CONVERT, AUDIT = "convert", "audit"  # what a job does: convert and publish, or audit one image (its row is `result`)
ACTIVE_STATES = (QUEUED, RUNNING, RETRYING)
FINAL_STATES = (DONE, FAILED, SKIPPED)
ALL_STATES = ACTIVE_STATES + FINAL_STATES


def job_id_for(repository: str, digest: str, target: str, destination: str) -> str:
    """The dedupe key IS the job id: one job per (repository, digest, target, destination)."""
    key = json.dumps([repository, digest, target, destination]).encode()
    return hashlib.sha256(key).hexdigest()[:24]


def conversion_key(repository: str, digest: str, target: str) -> str:
    """One conversion per (repository, digest, target): other tags of the same digest reuse its result."""
    return hashlib.sha256(json.dumps([repository, digest, target]).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Job:
    id: str
    state: str
    registry: str
    repository: str
    tag: str | None
    digest: str
    target: str
    destination: str
    verify: dict | None = None  # probe settings when the rule asks for verify
    options: dict = dataclasses.field(default_factory=dict)
    analysis: dict = dataclasses.field(default_factory=dict)  # the rule's observe/hints (rules.analyze_options)
    event_source: str = ""
    attempts: int = 0
    worker: str | None = None  # "host:pid" of the worker holding the lease
    phase: str | None = None  # pull | analyze | convert | verify | publish
    lease_until: float = 0.0
    next_attempt_at: float = 0.0
    enqueued_at: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None  # claim time of the latest attempt
    finished_at: float | None = None
    seconds: float | None = None  # conversion time of the successful attempt
    result_ref: str | None = None  # registry/repo:tag@sha256:…
    error: str | None = None
    verified: list | None = None  # names of the verify checks that passed
    note: str | None = None  # why a job was skipped, or which attempt died
    kind: str = CONVERT
    result: dict | None = None  # an audit job's row (ImageAudit.to_dict)

    @property
    def conversion_key(self) -> str:
        return conversion_key(self.repository, self.digest, self.target)

    @property
    def source_ref(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def source_name(self) -> str:
        if self.kind == AUDIT:
            return self.repository  # the ref exactly as the audit was given it
        return f"{self.registry}/{self.repository}:{self.tag}" if self.tag else self.source_ref

    def replace(self, **changes) -> "Job":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Job":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def public(self) -> dict:
        """What GET /jobs shows."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "phase": self.phase,
            "source": {"ref": self.source_name, "digest": self.digest, "registry": self.registry,
                       "repository": self.repository, "tag": self.tag, "event": self.event_source},
            "target": self.target,
            "destination": self.destination,
            "verify": self.verify,
            "verified": self.verified,
            "attempts": self.attempts,
            "worker": self.worker,
            "result_ref": self.result_ref,
            "error": self.error,
            "note": self.note,
            "seconds": self.seconds,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
