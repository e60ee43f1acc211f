"""Webhook payloads (CNCF distribution, Harbor, Docker Hub) -> PushEvent values.

Parsing is strict about shape (a malformed payload is a 400) and lenient about extra fields.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from faktory.digests import is_digest

# Only pushes of these start a conversion; blob pushes also arrive as action "push".
MANIFEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    }
)


class MalformedPayload(ValueError):
    """The body is not JSON or not the shape the endpoint expects."""


@dataclass(frozen=True)
class PushEvent:
    """One pushed manifest. `digest` is None when the sender gives none (Docker Hub): resolve the tag."""

    event_id: str
    source: str  # "distribution" | "harbor" | "dockerhub"
    registry: str  # host[:port]
    repository: str
    tag: str | None
    digest: str | None
    media_type: str | None = None
    trusted_digest: bool = True  # False: the sender is an untrusted trigger, re-resolve everything


@dataclass(frozen=True)
class Ignored:
    """An event that is valid but does not ask for work (a blob push, a pull, a delete...)."""

    event_id: str
    reason: str


def _load(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from None
    except RecursionError:  # the decoder recurses once per nesting level
        raise MalformedPayload("body is nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedPayload("body is not a JSON object")
    return data


def _str(obj: dict, key: str, where: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise MalformedPayload(f"{where}.{key} is missing")
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{where}.{key} is not a string")
    return value


def _digest(obj: dict, key: str, where: str) -> str:
    value = _str(obj, key, where)
    if not is_digest(value):
        raise MalformedPayload(f"{where}.{key} is not a sha256 digest")
    return value  # type: ignore[return-value]


def _content_id(*parts: object) -> str:
    """A stable id for senders that give none: a replay of the same body maps to the same id."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def parse_distribution(body: bytes) -> list[PushEvent | Ignored]:
    """CNCF distribution notifications: `{"events": [...]}`."""
    data = _load(body)
    events = data.get("events")
    if not isinstance(events, list):
        raise MalformedPayload("'events' is missing or not a list")
    out: list[PushEvent | Ignored] = []
    for i, ev in enumerate(events):
        where = f"events[{i}]"
        if not isinstance(ev, dict):
            raise MalformedPayload(f"{where} is not an object")
        event_id = _str(ev, "id", where)
        target = ev.get("target")
        if not isinstance(target, dict):
            raise MalformedPayload(f"{where}.target is missing")
        action = _str(ev, "action", where)
        media_type = _str(target, "mediaType", f"{where}.target", required=False)
        if action != "push":
            out.append(Ignored(event_id, f"action {action}"))
            continue
        if media_type not in MANIFEST_MEDIA_TYPES:
            out.append(Ignored(event_id, f"not a manifest ({media_type})"))
            continue
        repository = _str(target, "repository", f"{where}.target")
        digest = _digest(target, "digest", f"{where}.target")
        tag = _str(target, "tag", f"{where}.target", required=False)
        registry = _distribution_host(ev, target)
        if not registry:
            raise MalformedPayload(f"{where}: no registry host in target.url or request.host")
        out.append(PushEvent(event_id, "distribution", registry, repository, tag, digest, media_type))
    return out


def _distribution_host(ev: dict, target: dict) -> str | None:
    url = target.get("url")
    if isinstance(url, str) and url:
        host = urlsplit(url).netloc
        if host:
            return host
    request = ev.get("request")
    if isinstance(request, dict) and isinstance(request.get("host"), str):
        return request["host"] or None
    return None


def parse_harbor(body: bytes) -> list[PushEvent | Ignored]:
    """Harbor webhooks: act on `PUSH_ARTIFACT`, one PushEvent per resource."""
    data = _load(body)
    kind = _str(data, "type", "payload")
    event_data = data.get("event_data")
    if not isinstance(event_data, dict):
        raise MalformedPayload("event_data is missing")
    base_id = _content_id(kind, data.get("occur_at"), event_data)
    if kind != "PUSH_ARTIFACT":
        return [Ignored(base_id, f"type {kind}")]
    repo = event_data.get("repository")
    resources = event_data.get("resources")
    if not isinstance(repo, dict) or not isinstance(resources, list):
        raise MalformedPayload("event_data.repository or event_data.resources is missing")
    repository = _str(repo, "repo_full_name", "event_data.repository", required=False)
    if repository is None:
        namespace = _str(repo, "namespace", "event_data.repository")
        repository = f"{namespace}/{_str(repo, 'name', 'event_data.repository')}"
    out: list[PushEvent | Ignored] = []
    for i, res in enumerate(resources):
        where = f"event_data.resources[{i}]"
        if not isinstance(res, dict):
            raise MalformedPayload(f"{where} is not an object")
        digest = _digest(res, "digest", where)
        tag = _str(res, "tag", where, required=False)
        resource_url = _str(res, "resource_url", where)
        registry = resource_url.split("/", 1)[0]
        if "/" not in resource_url or not registry:
            raise MalformedPayload(f"{where}.resource_url has no registry host")
        out.append(PushEvent(_content_id(base_id, i), "harbor", registry, repository, tag, digest))
    return out


def parse_dockerhub(body: bytes, registry: str) -> list[PushEvent | Ignored]:
    """Docker Hub push webhooks: a tag and a repository, no digest, no signature."""
    data = _load(body)
    push = data.get("push_data")
    repo = data.get("repository")
    if not isinstance(push, dict) or not isinstance(repo, dict):
        raise MalformedPayload("push_data or repository is missing")
    tag = _str(push, "tag", "push_data")
    repository = _str(repo, "repo_name", "repository")
    if "/" not in repository:
        repository = f"library/{repository}"
    event_id = _content_id("dockerhub", repository, tag, push.get("pushed_at"), data.get("callback_url"))
    return [PushEvent(event_id, "dockerhub", registry, repository, tag, None, trusted_digest=False)]
