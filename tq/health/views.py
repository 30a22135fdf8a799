from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from tq.core.clients import Clients
from tq.core.openapi import doc
from tq.health.schemas import HealthOut
from tq.health.service import check_health

bp = Blueprint("health", url_prefix="/api")


@bp.get("/health")
@doc(
    summary="Liveness of the API and its dependencies",
    tag="health",
    ok={200: HealthOut, 503: HealthOut},
    auth=False,
)
async def health(request: Request, clients: Clients) -> HTTPResponse:
    result = await check_health(clients.engine, clients.redis, clients.queue)
    return json(result.model_dump(), status=200 if result.status == "ok" else 503)
