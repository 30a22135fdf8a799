"""The evaluation jobs: record.ready once per completed session, after the chat caught up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from bench.seed import completed_sessions
from config import Settings
from tests.fakes.stream import FakeStream
from tests.support import act, iso, open_clients, register
from tq.evaluation.jobs import announce_records


async def test_record_ready_is_announced_once_after_the_chat_caught_up(
    client: httpx.AsyncClient, settings: Settings, fake_stream: FakeStream
) -> None:
    host = await register(client, role="interviewer")
    created = await client.post(
        "/api/sessions",
        json={"title": "Announced", "startTime": iso(datetime.now(UTC) + timedelta(minutes=5))},
        headers=host["headers"],
    )
    session = created.json()["session"]
    base = f"/api/sessions/{session['_id']}"
    assert (await act(client, host, session, "start")).status_code == 200
    # A message only Stream has (its webhook never came): the catch-up stores it.
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    fake_stream.add_message(
        f"session-{session['_id']}",
        {
            "id": f"m-{session['_id']}-lost",
            "text": "only in Stream",
            "type": "regular",
            "user": {"id": host["user"]["streamId"]},
            "created_at": now,
            "updated_at": now,
        },
    )

    async def ready() -> list[str]:
        page = await client.get(f"{base}/events", params={"limit": 500}, headers=host["headers"])
        return [e["type"] for e in page.json()["events"] if e["type"] == "record.ready"]

    async with open_clients(settings) as clients:
        await announce_records(clients)
        assert await ready() == []  # not completed yet
        assert (await act(client, host, session, "end")).status_code == 200
        await announce_records(clients)
        await announce_records(clients)
    assert await ready() == ["record.ready"]
    history = await client.get(f"/api/chat/history/{session['_id']}", headers=host["headers"])
    assert "only in Stream" in [m["text"] for m in history.json()["messages"]]


async def test_announce_records_stops_at_its_time_budget_and_resumes(settings: Settings) -> None:
    """Hundreds of completed sessions waiting: each run stops once JOB_TIME_BUDGET_S has
    passed (not at a count), the next run goes on where it stopped, and every session gets
    exactly one record.ready."""
    from tq.sessions.models import Session, SessionEventRecord

    budget = settings.model_copy(update={"job_time_budget_s": 0.2})
    waiting = completed_sessions(200)
    ids = [session.id for session in waiting]
    async with open_clients(budget) as clients:
        sessions = clients.engine.get_collection(Session)
        await sessions.insert_many([session.model_dump_doc() for session in waiting])
        runs = [await announce_records(clients)]
        while runs[-1]["stopped_at_budget"]:
            runs.append(await announce_records(clients))
            assert len(runs) < 500
        assert len(runs) > 1 and runs[0]["stopped_at_budget"] == 1, runs[:2]
        left = await sessions.count_documents({"status": "completed", "recordReadyAt": None})
        assert left == 0
        log = clients.engine.get_collection(SessionEventRecord)
        per_session = await log.aggregate(
            [
                {"$match": {"sessionId": {"$in": ids}, "type": "record.ready"}},
                {"$group": {"_id": "$sessionId", "n": {"$sum": 1}}},
                {"$group": {"_id": "$n", "sessions": {"$sum": 1}}},
            ]
        ).to_list(None)
    assert per_session == [{"_id": 1, "sessions": len(ids)}]
