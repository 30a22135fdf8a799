"""expire_sessions: every rule at its boundaries, and the race with a host ending a session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from odmantic import AIOEngine

from config import Settings
from tests.auth.helpers import register
from tests.conftest import app_on_own_database
from tests.sessions.helpers import act, create
from tests.sessions.test_sessions import iso
from tq.sessions.models import Session
from tq.sessions.tasks import expire_sessions

GRACE = 15
MAX_MINUTES = 240


@pytest.fixture(scope="module")
async def own_db(settings) -> AsyncIterator[dict[str, Any]]:
    """A database of this module's own: expiry with a future `now` touches every session."""
    async with app_on_own_database(settings, "expiry") as ctx:
        yield ctx


async def run_expiry(ctx: dict[str, Any], now: datetime) -> dict[str, int]:
    counts, _changed = await expire_sessions(
        ctx["engine"],
        ctx["redis"],
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
    start = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
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
        host_end, (counts, changed) = await asyncio.gather(
            act(http, host, session, "end"),
            expire_sessions(
                own_db["engine"],
                own_db["redis"],
                grace_minutes=GRACE,
                max_session_minutes=MAX_MINUTES,
                now=later,
            ),
        )
        expired_it = ObjectId(session["_id"]) in changed
        assert (host_end.status_code == 200) != expired_it, (host_end.status_code, counts)
        final = await stored(own_db["engine"], session)
        assert final.status == "completed"
        if expired_it:
            assert host_end.json()["error"] == "invalid_transition"
            assert final.end_time == later
        else:
            assert final.end_time != later


def test_beat_schedule_comes_from_settings(settings: Settings) -> None:
    from tq.jobs.registry import beat_schedule

    tuned = settings.model_copy(update={"expire_sessions_every_s": 30.0})
    schedule = beat_schedule(tuned)
    assert set(schedule) == {
        "expire_sessions",
        "archive_chat_history",
        "purge_job_runs",
        "repair_stream_sync",
    }
    assert schedule["expire_sessions"]["schedule"] == 30.0
    assert schedule["expire_sessions"]["options"]["headers"] == {"tq_trigger": "schedule"}
