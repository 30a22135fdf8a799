"""The evaluation jobs: record.ready once per completed session, after the chat caught up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

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
