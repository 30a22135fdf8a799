"""API rate limits on real Redis: a burst over the limit gets 429 with the right headers, the
next window passes, and with Redis away the API keeps answering (fails open)."""

from __future__ import annotations

import asyncio

from config import Settings
from tests.support import free_port, http_client, register, running_app, unique_email


async def test_a_burst_over_the_limit_then_the_next_window(settings: Settings) -> None:
    tight = settings.model_copy(
        update={
            "rate_limit_reads": "5/2second",
            "rate_limit_writes": "3/2second",
            "rate_limit_public": "4/2second",
        }
    )
    async with running_app(tight) as (_app, url), http_client(url) as http:
        user = await register(http)  # a public write: 1 of the address's 4
        await asyncio.sleep(2.1)  # a fresh window for what is measured
        answers = [await http.get("/api/auth/me", headers=user["headers"]) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert [a.headers["RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
        assert {a.headers["RateLimit-Limit"] for a in answers} == {"5"}
        over = answers[5]
        assert over.json()["error"] == "rate_limited"
        retry = int(over.headers["Retry-After"])
        assert 1 <= retry <= 2 and over.headers["RateLimit-Remaining"] == "0"
        assert int(over.headers["RateLimit-Reset"]) == retry
        # Writes have their own window: still open.
        write = await http.patch("/api/auth/me", json={"name": "N"}, headers=user["headers"])
        assert write.status_code == 200 and write.headers["RateLimit-Limit"] == "3"
        # Health and the spec are never limited.
        assert "RateLimit-Limit" not in (await http.get("/api/health")).headers
        await asyncio.sleep(retry + 0.1)
        again = await http.get("/api/auth/me", headers=user["headers"])
        assert again.status_code == 200 and again.headers["RateLimit-Remaining"] == "4"

        # Without a token: per client address.
        await asyncio.sleep(2.1)
        public = [
            await http.post(
                "/api/auth/register",
                json={"email": unique_email(), "password": "x" * 12, "name": "P"},
            )
            for _ in range(5)
        ]
        assert [p.status_code for p in public] == [201] * 4 + [429]


async def test_with_redis_down_the_api_answers_without_limits(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_s": 0.2}
    )
    async with running_app(dead) as (_app, url), http_client(url) as http:
        user = await register(http)  # public, and a write
        answer = await http.get("/api/auth/me", headers=user["headers"])
        assert answer.status_code == 200
        assert "RateLimit-Limit" not in answer.headers


async def test_revocation_is_checked_with_the_limiter_on_and_off(settings: Settings) -> None:
    # On: the limiter's script answers it; off: the guard asks Redis itself.
    for enabled in (True, False):
        chosen = settings.model_copy(update={"rate_limits_enabled": enabled})
        async with running_app(chosen) as (_app, url), http_client(url) as http:
            user = await register(http)
            assert (await http.get("/api/auth/me", headers=user["headers"])).status_code == 200
            logout = await http.post("/api/auth/logout", headers=user["headers"])
            assert logout.status_code == 204
            again = await http.get("/api/auth/me", headers=user["headers"])
            assert again.status_code == 401, enabled
            assert ("RateLimit-Limit" in again.headers) is enabled
