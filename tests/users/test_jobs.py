"""User sync to Stream through a real Celery worker and the fake Stream server."""

from __future__ import annotations

import httpx

from config import Settings
from tests.fakes.stream import FakeStream
from tests.support import (
    free_port,
    http_client,
    make_settings,
    open_clients,
    register,
    running_app,
    wait_until,
)
from tq.core.celery import create_celery
from tq.core.db import create_engine
from tq.core.queue import JobQueue, OutboxJob
from tq.jobs.registry import TASK_ROUTES
from tq.users import jobs as user_jobs


async def test_register_and_profile_change_reach_stream(
    client: httpx.AsyncClient, fake_stream: FakeStream, celery_worker: object
) -> None:
    user = await register(client, name="Sync Me")
    stream_id = user["user"]["streamId"]
    await wait_until(lambda: stream_id in fake_stream.users, timeout=20)
    assert fake_stream.users[stream_id]["name"] == "Sync Me"
    assert fake_stream.users[stream_id]["tq_role"] == "candidate"

    await client.patch(
        "/api/auth/me",
        headers=user["headers"],
        json={"name": "Synced", "avatar": "https://img.example.com/s.png"},
    )
    await wait_until(lambda: fake_stream.users[stream_id].get("name") == "Synced", timeout=20)
    assert fake_stream.users[stream_id]["image"] == "https://img.example.com/s.png"


async def test_sync_retries_until_stream_recovers(
    client: httpx.AsyncClient, fake_stream: FakeStream, celery_worker: object
) -> None:
    fake_stream.fail(times=2, status=503, path_contains="/users")
    before = len(fake_stream.calls_to("POST", "/users"))
    user = await register(client, name="Patient")
    stream_id = user["user"]["streamId"]
    await wait_until(lambda: stream_id in fake_stream.users, timeout=30)
    attempts = len(fake_stream.calls_to("POST", "/users")) - before
    assert attempts >= 3  # two injected failures, then success


async def test_sync_retries_a_stalled_stream(
    client: httpx.AsyncClient, fake_stream: FakeStream, celery_worker: object
) -> None:
    fake_stream.fail(times=1, status=200, delay_s=3.0, path_contains="/users")  # > timeout
    user = await register(client, name="Stalled")
    stream_id = user["user"]["streamId"]
    await wait_until(lambda: stream_id in fake_stream.users, timeout=30)


async def test_delete_removes_stream_user(
    client: httpx.AsyncClient, fake_stream: FakeStream, celery_worker: object
) -> None:
    user = await register(client)
    stream_id = user["user"]["streamId"]
    await wait_until(lambda: stream_id in fake_stream.users, timeout=20)
    gone = await client.request(
        "DELETE", "/api/auth/me", headers=user["headers"], json={"password": user["password"]}
    )
    assert gone.status_code == 204
    await wait_until(lambda: stream_id not in fake_stream.users, timeout=20)


async def test_sync_jobs_are_skipped_without_stream_keys(settings: Settings) -> None:
    bare = settings.model_copy(update={"stream_api_key": "", "stream_api_secret": ""})
    async with open_clients(bare) as clients:
        assert await user_jobs.sync_user(clients, "0" * 24) == {"skipped": 1}
        assert await user_jobs.delete_stream_user(clients, "x") == {"skipped": 1}


async def test_registration_survives_a_dead_queue_and_the_outbox_delivers(
    services: dict[str, str],
    test_database: str,
    settings: Settings,
    fake_stream: FakeStream,
    celery_worker: object,
) -> None:
    dead_redis = make_settings(
        services,
        test_database,
        f"redis://127.0.0.1:{free_port()}/0",
        redis_timeout_s=0.3,
        stream_api_key=settings.stream_api_key,
        stream_api_secret=settings.stream_api_secret,
        stream_base_url=settings.stream_base_url,
    )
    async with running_app(dead_redis) as (app, url), http_client(url) as http:
        app.ctx.background[-1].cancel()  # stop its own outbox flusher: this test flushes
        user = await register(http, name="Queued Later")
        health = (await http.get("/api/health/ready")).json()
        assert health["redis"] == "down"
        assert health["pendingJobs"] >= 1

    engine = create_engine(settings)
    celery = create_celery(settings, routes=TASK_ROUTES)
    try:
        pending = await engine.find(OutboxJob, OutboxJob.task == "sync_user")
        assert [user["user"]["_id"]] in [job.args for job in pending]
        queue = JobQueue(celery, engine)
        while await queue.flush_outbox():
            pass
        assert await engine.count(OutboxJob) == 0
    finally:
        engine.client.close()
        celery.close()
    stream_id = user["user"]["streamId"]
    await wait_until(lambda: stream_id in fake_stream.users, timeout=20)
