"""Password hashing stays off the event loop, and old hashes are upgraded on login."""

from __future__ import annotations

import asyncio

from config import Settings
from tests.support import http_client, register, running_app
from tq.core.db import create_engine
from tq.users.models import User


async def test_health_answers_while_logins_are_being_verified(settings: Settings) -> None:
    # Expensive hashes and a single hashing thread: logins queue up behind each other.
    # (Each login counts against the throttle until verified: six at once for one account
    # would pass its limit, which is not what this test is about.)
    slow = settings.model_copy(
        update={
            "argon2_time_cost": 4,
            "argon2_memory_cost": 65536,
            "password_hash_threads": 1,
            "login_max_failures": 100,
        }
    )
    async with running_app(slow) as (_app, url), http_client(url) as http:
        user = await register(http)
        creds = {"email": user["user"]["email"], "password": user["password"]}
        logins = [asyncio.create_task(http.post("/api/auth/login", json=creds)) for _ in range(6)]
        await asyncio.sleep(0.05)
        health = await http.get("/api/health")
        assert health.status_code == 200
        still_verifying = sum(not task.done() for task in logins)
        results = await asyncio.gather(*logins)
    assert all(r.status_code == 200 for r in results)
    # Each verification takes ~0.3 s of one thread. Had hashing run on the event loop, health
    # could not have been answered before the first login finished; it came back while every
    # login was still waiting in the hashing pool.
    assert still_verifying == len(logins)


async def test_login_upgrades_hashes_made_with_old_parameters(settings: Settings) -> None:
    async with running_app(settings) as (_app, url), http_client(url) as http:
        user = await register(http)
    engine = create_engine(settings)
    try:
        stored = await engine.find_one(User, User.email == user["user"]["email"])
        assert stored is not None and "t=1" in stored.password
        stronger = settings.model_copy(update={"argon2_time_cost": 2})
        async with running_app(stronger) as (_app, url), http_client(url) as http:
            login = await http.post(
                "/api/auth/login",
                json={"email": user["user"]["email"], "password": user["password"]},
            )
            assert login.status_code == 200
        upgraded = await engine.find_one(User, User.email == user["user"]["email"])
        assert upgraded is not None
        assert "t=2" in upgraded.password and upgraded.password.startswith("$argon2id$")
    finally:
        engine.client.close()
