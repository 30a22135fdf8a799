"""Liveness (`/api/health`: the process answers; for restarts) and readiness
(`/api/health/ready`: MongoDB and Redis answer; for load balancers and deploy checks)."""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from tq.core.openapi import doc
from tq.health.schemas import HealthOut, LiveOut
from tq.health.service import Readiness
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
    return json(LiveOut(status="ok", version=VERSION).model_dump())


@bp.get("/health/ready")
@doc(
    summary="Readiness: MongoDB and Redis answer (kept for about a second)",
    tag="health",
    ok={200: HealthOut, 503: HealthOut},
    auth=False,
)
async def ready(request: Request, readiness: Readiness) -> HTTPResponse:
    result = await readiness.check()
    return json(result.model_dump(), status=200 if result.status == "ok" else 503)
