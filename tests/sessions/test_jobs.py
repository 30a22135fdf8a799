"""The session jobs. expire_sessions: every rule at its boundaries, and the race with a host
ending a session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from odmantic import AIOEngine

from tests.support import act, app_on_own_database, create, iso, register, wait_until
from tq.core.celery import create_celery
from tq.core.queue import JobQueue, JobRun, OutboxJob
from tq.jobs.registry import EXPIRE_SESSIONS, SYNC_SESSION_CHANNEL, TASK_ROUTES
from tq.sessions.models import Session
from tq.sessions.store import close_overdue

GRACE = 15
MAX_MINUTES = 240


@pytest.fixture(scope="module")
async def own_db(settings) -> AsyncIterator[dict[str, Any]]:
    """A database of this module's own: expiry with a future `now` touches every session."""
    async with app_on_own_database(settings, "expiry") as ctx:
        yield ctx


async def run_expiry(ctx: dict[str, Any], now: datetime) -> dict[str, int]:
    counts, _to_sync = await close_overdue(
        ctx["engine"],
        ctx["locks"],
        grace_minutes=GRACE,
        max_session_minutes=MAX_MINUTES,
        batch_size=2,
        now=now,
    )  # tiny batches: paging is exercised too
    return counts


async def stored(engine: AIOEngine, session: dict[str, Any]) -> Session:
    found = await engine.find_one(Session, Session.id == ObjectId(session["_id"]))
    assert found is not None
    return found


async def test_never_joined_scheduled_sessions_are_cancelled_after_grace(own_db) -> None:
    http: httpx.AsyncClient = own_db["http"]
    host = await register(http, role="interviewer")
    # Inside the join window, so the guest may take a seat now.
    start = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
    lonely = await create(http, host, title="Nobody came", startTime=iso(start))
    joined = await create(http, host, title="Someone came", startTime=iso(start))
    assert (await act(http, await register(http), joined, "join")).status_code == 200

    just_before = start + timedelta(minutes=GRACE) - timedelta(seconds=1)
    assert (await run_expiry(own_db, just_before))["cancelled"] == 0
    assert (await stored(own_db["engine"], lonely)).status == "scheduled"

    just_after = start + timedelta(minutes=GRACE, seconds=1)
    assert (await run_expiry(own_db, just_after))["cancelled"] == 1
    cancelled = await stored(own_db["engine"], lonely)
    assert cancelled.status == "cancelled" and cancelled.end_time == just_after
    assert (await stored(own_db["engine"], joined)).status == "scheduled"
    assert (await run_expiry(own_db, just_after))["cancelled"] == 0  # idempotent


async def test_overdue_active_sessions_are_completed(own_db) -> None:
    http: httpx.AsyncClient = own_db["http"]
    host = await register(http, role="interviewer")
    timed = await create(http, host, title="Thirty minutes", duration=30)
    open_ended = await create(http, host, title="No duration")
    timed_start = (await stored(own_db["engine"], timed)).start_time
    open_start = (await stored(own_db["engine"], open_ended)).start_time

    deadline = timed_start + timedelta(minutes=30 + GRACE)
    assert (await run_expiry(own_db, deadline - timedelta(seconds=1)))["completed"] == 0
    assert (await run_expiry(own_db, deadline + timedelta(seconds=1)))["completed"] == 1
    done = await stored(own_db["engine"], timed)
    assert done.status == "completed" and done.duration == 30
    assert done.end_time == deadline + timedelta(seconds=1)
    assert done.stream_sync == "pending"  # so repair_stream_sync freezes it if nothing else does
    assert (await stored(own_db["engine"], open_ended)).status == "active"

    open_deadline = open_start + timedelta(minutes=MAX_MINUTES + GRACE)
    assert (await run_expiry(own_db, open_deadline - timedelta(seconds=1)))["completed"] == 0
    assert (await run_expiry(own_db, open_deadline + timedelta(seconds=1)))["completed"] == 1
    finished = await stored(own_db["engine"], open_ended)
    assert finished.status == "completed"
    assert finished.end_time == open_deadline + timedelta(seconds=1)
    assert finished.duration is None  # nobody gave or ended it: not invented


async def test_expiry_and_host_ending_at_once_have_one_winner(own_db) -> None:
    http: httpx.AsyncClient = own_db["http"]
    host = await register(http, role="interviewer")
    for _ in range(5):
        session = await create(http, host, title="Contested", duration=5)
        start = (await stored(own_db["engine"], session)).start_time
        later = start + timedelta(minutes=5 + GRACE, seconds=1)
        host_end, (counts, to_sync) = await asyncio.gather(
            act(http, host, session, "end"),
            close_overdue(
                own_db["engine"],
                own_db["locks"],
                grace_minutes=GRACE,
                max_session_minutes=MAX_MINUTES,
                now=later,
            ),
        )
        final = await stored(own_db["engine"], session)
        assert final.status == "completed"
        expired_it = final.end_time == later
        # Exactly one of them closed it, and the loser was told so.
        assert (host_end.status_code == 200) != expired_it, (host_end.status_code, counts)
        assert counts["completed"] == int(expired_it), counts
        if expired_it:
            assert host_end.json()["error"] == "invalid_transition"
            assert ObjectId(session["_id"]) in to_sync


async def test_expiry_through_the_worker_freezes_the_channel(
    client, engine, fake_stream, celery_worker, celery_client
) -> None:
    """The real path: the job runs on the worker, closes the session, and its fan-out of
    sync_session_channel runs freezes the channel on (fake) Stream."""
    host = await register(client, role="interviewer")
    session = await create(client, host, title="Forgotten", duration=30)
    assert (await act(client, await register(client), session, "join")).status_code == 200
    oid = ObjectId(session["_id"])
    await wait_until(
        lambda: (
            fake_stream.channel(session["callId"]) is not None
            and fake_stream.channel(session["callId"])["members"]
        ),
        timeout=30,
    )
    # Arrange: it started two hours ago, so 30 minutes + grace are long past.
    sessions = engine.get_collection(Session)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    await sessions.update_one({"_id": oid}, {"$set": {"startTime": long_ago}})

    queue = JobQueue(celery_client, engine)
    assert await queue.enqueue(EXPIRE_SESSIONS, trigger="ops")

    async def frozen_and_in_step() -> bool:
        doc = await sessions.find_one({"_id": oid})
        channel = fake_stream.channel(session["callId"])
        return bool(
            doc["status"] == "completed"
            and doc["streamSync"] == "ok"
            and channel
            and channel["frozen"]
        )

    await wait_until(frozen_and_in_step, timeout=40)

    async def recorded() -> bool:
        # A job's run is recorded after its work is done: the channel may be frozen first.
        runs = await engine.find(JobRun, JobRun.job == "expire_sessions")
        sync_runs = await engine.find(JobRun, JobRun.job == "sync_session_channel")
        return any(
            r.status == "succeeded" and r.counts.get("completed", 0) >= 1 for r in runs
        ) and any(r.args == [str(oid)] and r.status == "succeeded" for r in sync_runs)

    await wait_until(recorded, timeout=20)


async def test_fan_out_keeps_what_the_broker_refuses(
    settings, engine, celery_worker, celery_client
) -> None:
    """enqueue_many with the broker away: every run is recorded and kept in the outbox, and
    the outbox hands them all to the worker once a broker answers."""
    ids = [str(ObjectId()) for _ in range(7)]  # sessions that do not exist: a cheap, real job
    away = create_celery(
        settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}), routes=TASK_ROUTES
    )
    try:
        taken = await JobQueue(away, engine, timeout_s=1.0).enqueue_many(
            SYNC_SESSION_CHANNEL, [[i] for i in ids], batch=3
        )
    finally:
        away.close()
    assert taken == 0
    kept = await engine.find(OutboxJob, OutboxJob.task == "sync_session_channel")
    kept = [job for job in kept if job.args[0] in ids]
    assert sorted(job.args[0] for job in kept) == sorted(ids)
    recorded = {r.run_id for r in await engine.find(JobRun, JobRun.job == "sync_session_channel")}
    assert {job.run_id for job in kept} <= recorded

    queue = JobQueue(celery_client, engine)
    while await queue.flush_outbox():
        pass

    async def all_ran() -> bool:
        runs = await engine.find(JobRun, JobRun.job == "sync_session_channel")
        done = [r for r in runs if r.args and r.args[0] in ids and r.status == "succeeded"]
        return len(done) == len(ids)

    await wait_until(all_ran, timeout=40)
