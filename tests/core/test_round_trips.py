"""Round trips per request, counted by wrapping the app's own MongoDB (a pymongo command
listener) and Redis (its command and pipeline calls) clients. The README's table comes from
this test (`pytest tests/core/test_round_trips.py -s` prints it)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo.monitoring
import pytest
from redis.asyncio.client import Pipeline

from config import Settings
from tests.support import act, create, http_client, iso, register, running_app, save


class Commands(pymongo.monitoring.CommandListener):
    """MongoDB commands sent to one database while recording."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.recording = False
        self.names: Counter[str] = Counter()

    def started(self, event: pymongo.monitoring.CommandStartedEvent) -> None:
        if self.recording and event.database_name == self.database:
            self.names[event.command_name] += 1

    def succeeded(self, event: pymongo.monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: pymongo.monitoring.CommandFailedEvent) -> None:
        pass


# What each request may cost at most (MongoDB, Redis). Redis: the rate limit and the token's
# revocation in one script (issue 24; before, the limiter's own client made two more round
# trips, uncounted here). Before issue 13 (this same test at
# 6f0087d, FerretDB with its write locks) join, leave, start and end each cost 8 and 5, and
# history 4 and 1; the others were as now.
EXPECTED = {
    "GET /api/auth/me": (1, 1),
    "GET /api/sessions/:id": (3, 1),
    "GET /api/sessions": (4, 1),
    "POST /api/sessions/:id/join": (3, 1),
    "POST /api/sessions/:id/leave": (3, 1),
    "POST /api/sessions/:id/start": (3, 1),
    "POST /api/sessions/:id/end": (3, 1),
    "POST /api/chat/save-message": (3, 1),
    "GET /api/chat/history/:id": (3, 1),
}


async def test_round_trips_per_request(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, fake_stream
) -> None:
    listener = Commands(settings.mongodb_database)
    pymongo.monitoring.register(listener)  # clients created from now on report to it
    redis_calls = 0
    counted: dict[str, tuple[int, int]] = {}
    async with running_app(settings) as (app, url), http_client(url) as http:
        clients = app.ctx.clients
        original = clients.redis.execute_command

        async def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal redis_calls
            redis_calls += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(clients.redis, "execute_command", counting)
        execute = Pipeline.execute

        async def counting_pipeline(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
            nonlocal redis_calls
            redis_calls += 1
            return await execute(self, *args, **kwargs)

        monkeypatch.setattr(Pipeline, "execute", counting_pipeline)
        await asyncio.sleep(0.5)  # start-up's index creation is done

        host = await register(http, role="interviewer")
        guest = await register(http)
        # Inside the join window, so the host may start it.
        soon = iso(datetime.now(UTC) + timedelta(minutes=5))
        later = await create(http, host, title="Counted later", startTime=soon)
        session = await create(http, host, title="Counted")
        await save(http, host, session, "hello")

        async def count(name: str, call: Any) -> None:
            nonlocal redis_calls
            listener.names.clear()
            redis_calls = 0
            listener.recording = True
            response = await call
            listener.recording = False
            assert response.status_code < 300, (name, response.text)
            # The limiter ran on each: its Redis call is among those counted.
            assert "RateLimit-Limit" in response.headers, name
            counted[name] = (sum(listener.names.values()), redis_calls)

        sid = session["_id"]
        headers = host["headers"]
        await count("GET /api/auth/me", http.get("/api/auth/me", headers=headers))
        await count("GET /api/sessions/:id", http.get(f"/api/sessions/{sid}", headers=headers))
        await count("GET /api/sessions", http.get("/api/sessions", headers=headers))
        await count("POST /api/sessions/:id/join", act(http, guest, session, "join"))
        await count("POST /api/sessions/:id/leave", act(http, guest, session, "leave"))
        await count("POST /api/sessions/:id/start", act(http, host, later, "start"))
        await count("POST /api/sessions/:id/end", act(http, host, later, "end"))
        await count("POST /api/chat/save-message", save(http, host, session, "counted"))
        await count(
            "GET /api/chat/history/:id", http.get(f"/api/chat/history/{sid}", headers=headers)
        )
    listener.recording = False
    print("\n| request | MongoDB | Redis |\n|---|---|---|")
    for name, (mongo, redis) in counted.items():
        print(f"| {name} | {mongo} | {redis} |")
    for name, (mongo, redis) in counted.items():
        most_mongo, most_redis = EXPECTED[name]
        assert mongo <= most_mongo and redis <= most_redis, (name, counted[name])
