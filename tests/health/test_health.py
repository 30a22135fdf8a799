"""Health: liveness touches nothing; readiness pings MongoDB and Redis, 503 when either is
down, and keeps its answer about a second."""

from __future__ import annotations

import httpx

from tests.support import free_port, http_client, make_settings, running_app
from tq.health.schemas import HealthOut, LiveOut


async def test_liveness_and_readiness(client: httpx.AsyncClient) -> None:
    live = await client.get("/api/health")
    assert live.status_code == 200
    LiveOut.model_validate(live.json())
    response = await client.get("/api/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["mongo"] == "up" and body["redis"] == "up"
    assert body["version"]
    HealthOut.model_validate(body)


async def test_readiness_503_when_mongo_unreachable_and_liveness_still_200(
    services, test_database, redis_db
) -> None:
    closed = free_port()
    broken = make_settings(
        {**services, "mongo": f"mongodb://127.0.0.1:{closed}"},
        test_database,
        redis_db,
        mongodb_timeout_ms=300,
    )
    async with running_app(broken) as (_app, url), http_client(url) as http:
        response = await http.get("/api/health/ready")
        live = await http.get("/api/health")
    assert response.status_code == 503
    assert response.json()["mongo"] == "down"
    assert response.json()["redis"] == "up"
    assert response.json()["status"] == "degraded"
    assert live.status_code == 200  # the process is alive: no restart for a database outage


async def test_readiness_503_when_redis_unreachable(services, test_database) -> None:
    closed = free_port()
    broken = make_settings(
        services, test_database, f"redis://127.0.0.1:{closed}/0", redis_timeout_s=0.3
    )
    async with running_app(broken) as (_app, url), http_client(url) as http:
        response = await http.get("/api/health/ready")
    assert response.status_code == 503
    assert response.json()["redis"] == "down"
    assert response.json()["mongo"] == "up"


async def test_readiness_is_kept_a_second(settings) -> None:
    """Fifty probes at once cost one check: the answer is shared while it is fresh."""
    import asyncio

    async with running_app(settings) as (app, url), http_client(url) as http:
        pings = 0
        original = app.ctx.clients.redis.ping

        async def counting_ping(**kwargs):
            nonlocal pings
            pings += 1
            return await original(**kwargs)

        app.ctx.clients.redis.ping = counting_ping
        answers = await asyncio.gather(*(http.get("/api/health/ready") for _ in range(50)))
        assert {a.status_code for a in answers} == {200}
        assert pings == 1
        await asyncio.sleep(1.1)
        await http.get("/api/health/ready")
        assert pings == 2
