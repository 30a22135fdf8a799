"""Liveness (`/api/health`: the process answers; for restarts) and readiness
(`/api/health/ready`: MongoDB and Redis answer; for load balancers and deploy checks)."""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from sanic import Blueprint, Request, json
from sanic.helpers import json_dumps
from sanic.response import HTTPResponse, raw

from tq.core.clients import Clients
from tq.core.errors import Unauthorized
from tq.core.metrics import exposition
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.health.schemas import HealthOut, LiveOut
from tq.health.service import Readiness, snapshot
from tq.version import VERSION

bp = Blueprint("health", url_prefix="/api")


@bp.get("/health")
@doc(
    summary="Liveness: the process answers (touches nothing)",
    tag="health",
    ok={200: LiveOut},
    auth=False,
)
async def health(request: Request) -> HTTPResponse:
    return raw(LIVE, content_type="application/json")


# The same for the life of the process: encoded once (probes call it several times a second).
LIVE = json_dumps(dump(LiveOut(status="ok", version=VERSION))).encode()


@bp.get("/health/ready")
@doc(
    summary="Readiness: MongoDB and Redis answer (kept for about a second)",
    tag="health",
    ok={200: HealthOut, 503: HealthOut},
    auth=False,
)
async def ready(request: Request, readiness: Readiness) -> HTTPResponse:
    result = await readiness.check()
    return json(dump(result), status=200 if result.status == "ok" else 503)


metrics_bp = Blueprint("metrics")


@metrics_bp.get("/metrics")
@doc(
    summary="Prometheus metrics (text exposition); bearer METRICS_TOKEN when it is set",
    tag="health",
    ok={200: "text/plain"},
    errors=(401,),
    auth=False,
)
async def metrics(request: Request, clients: Clients) -> HTTPResponse:
    expected = clients.settings.metrics_token
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise Unauthorized("The metrics token is missing or wrong", code="metrics_token")
    body = exposition(clients.settings.prometheus_multiproc_dir, await snapshot(clients))
    return raw(body, content_type=CONTENT_TYPE_LATEST)
