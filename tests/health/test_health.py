"""Health: real pings of MongoDB and Redis, 503 when either is down."""

from __future__ import annotations

import httpx

from tests.support import free_port, http_client, make_settings, running_app
from tq.health.schemas import HealthOut


async def test_health_pings_mongo_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["mongo"] == "up" and body["redis"] == "up"
    assert body["version"]
    HealthOut.model_validate(body)


async def test_health_503_when_mongo_unreachable(services, test_database, redis_db) -> None:
    closed = free_port()
    broken = make_settings(
        {**services, "mongo": f"mongodb://127.0.0.1:{closed}"},
        test_database,
        redis_db,
        mongodb_timeout_ms=300,
    )
    async with running_app(broken) as (_app, url), http_client(url) as http:
        response = await http.get("/api/health")
    assert response.status_code == 503
    assert response.json()["mongo"] == "down"
    assert response.json()["redis"] == "up"
    assert response.json()["status"] == "degraded"


async def test_health_503_when_redis_unreachable(services, test_database) -> None:
    closed = free_port()
    broken = make_settings(
        services, test_database, f"redis://127.0.0.1:{closed}/0", redis_timeout_s=0.3
    )
    async with running_app(broken) as (_app, url), http_client(url) as http:
        response = await http.get("/api/health")
    assert response.status_code == 503
    assert response.json()["redis"] == "down"
    assert response.json()["mongo"] == "up"
