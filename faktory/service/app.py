"""The HTTP side: webhook endpoints (distribution, Harbor, Docker Hub), /jobs, /healthz, /metrics.

A webhook answers as soon as its jobs are in the store and the queue; the work happens in the workers.
"""

from __future__ import annotations

import hmac
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from faktory.service import events as ev
from faktory.service.jobs import ALL_STATES
from faktory.service.metrics import ServiceMetrics
from faktory.service.service import Service

log = logging.getLogger("faktory.service.http")
MAX_BODY = 4 << 20


def secret_matches(presented: str | None, secret: str) -> bool:
    """Accept `Authorization: <secret>` or `Authorization: Bearer <secret>`, compared in constant time."""
    value = (presented or "").encode()
    plain = hmac.compare_digest(value, secret.encode())
    bearer = hmac.compare_digest(value, b"Bearer " + secret.encode())
    return plain or bearer


def create_app(service: Service, secret: str) -> Starlette:
    if not secret:
        raise ValueError("the webhook service needs a secret")
    metrics = ServiceMetrics(service.store)

    def reject(source: str, reason: str, status: int, message: str) -> JSONResponse:
        metrics.rejected.labels(source, reason).inc()
        return JSONResponse({"error": message}, status_code=status)

    def ingest(source: str, parsed: list) -> dict:
        """Dedupe on event id, then on job id; queue what is new. Runs in the thread pool."""
        results = []
        for item in parsed:
            if service.store.seen_event(item.event_id):
                metrics.deduped.labels(source).inc()
                results.append({"id": item.event_id, "status": "duplicate event"})
                continue
            results.append(outcome(source, item))
            # Recorded only now that its jobs are stored and queued: a crash before this line loses no push,
            # the sender's retry is let through and its jobs dedupe by id.
            service.store.add_event(item.event_id)
        return {"events": results}

    def outcome(source: str, item) -> dict:
        if isinstance(item, ev.Ignored):
            metrics.ignored.labels(source).inc()
            return {"id": item.event_id, "status": "ignored", "reason": item.reason}
        accepted = service.accept(item)
        if accepted.ignored:
            metrics.ignored.labels(source).inc()
            return {"id": item.event_id, "status": "ignored", "reason": accepted.ignored}
        if accepted.resolving:
            return {"id": item.event_id, "status": "resolving", "jobs": []}
        if accepted.deduped and not accepted.queued:
            metrics.deduped.labels(source).inc()
        metrics.jobs_queued.inc(len(accepted.queued))
        return {"id": item.event_id, "status": "queued", "jobs": list(accepted.queued),
                "deduped_jobs": list(accepted.deduped)}

    async def handle(request: Request, source: str, parse, authorized: bool) -> Response:
        metrics.received.labels(source).inc()
        if not authorized:
            return reject(source, "auth", 401, "missing or wrong secret")
        chunks, size = [], 0
        async for chunk in request.stream():  # stop reading at the limit instead of buffering anything sent
            size += len(chunk)
            if size > MAX_BODY:
                return reject(source, "too-large", 413, "body too large")
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            parsed = parse(body)
        except ev.MalformedPayload as exc:
            return reject(source, "malformed", 400, str(exc))
        return JSONResponse(await run_in_threadpool(ingest, source, parsed), status_code=202)

    def header_ok(request: Request) -> bool:
        return secret_matches(request.headers.get("authorization"), secret)

    async def distribution(request: Request) -> Response:
        return await handle(request, "distribution", ev.parse_distribution, header_ok(request))

    async def harbor(request: Request) -> Response:
        return await handle(request, "harbor", ev.parse_harbor, header_ok(request))

    async def dockerhub(request: Request) -> Response:
        ok = hmac.compare_digest(request.path_params["secret"].encode(), secret.encode())
        registry = service.rules.dockerhub_registry
        return await handle(request, "dockerhub", lambda b: ev.parse_dockerhub(b, registry), ok)

    async def jobs(request: Request) -> Response:
        if not header_ok(request):
            return JSONResponse({"error": "missing or wrong secret"}, status_code=401)
        try:
            limit = max(1, min(int(request.query_params.get("limit", "100")), 1000))
        except ValueError:
            return JSONResponse({"error": "limit must be an integer"}, status_code=400)
        state = request.query_params.get("state")
        if state is not None and state not in ALL_STATES:
            return JSONResponse({"error": f"state must be one of {', '.join(ALL_STATES)}"}, status_code=400)
        found = await run_in_threadpool(service.store.list, limit, state)
        return JSONResponse({"jobs": [j.public() for j in found]})

    async def job(request: Request) -> Response:
        if not header_ok(request):
            return JSONResponse({"error": "missing or wrong secret"}, status_code=401)
        found = await run_in_threadpool(service.store.get, request.path_params["job_id"])
        if found is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return JSONResponse(found.public())

    async def healthz(request: Request) -> Response:
        try:
            counts = await run_in_threadpool(service.store.counts)
        except Exception as exc:  # noqa: BLE001 - the store is what health means here
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=503)
        return JSONResponse({"ok": True, "jobs": counts})

    async def prometheus(request: Request) -> Response:
        data = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    app = Starlette(routes=[
        Route("/hooks/distribution", distribution, methods=["POST"]),
        Route("/hooks/harbor", harbor, methods=["POST"]),
        Route("/hooks/dockerhub/{secret}", dockerhub, methods=["POST"]),
        Route("/jobs", jobs, methods=["GET"]),
        Route("/jobs/{job_id}", job, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ])
    app.state.service = service
    app.state.metrics = metrics
    return app
