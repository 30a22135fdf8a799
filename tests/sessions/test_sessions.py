"""Interview sessions over real HTTP: both clients' create styles, authorization across host,
participant and outsider, the state machine, seats under concurrency, lists, Stream channels."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes.stream import FakeStream
from tests.support import act, create, iso, register


@pytest.fixture
async def host(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, role="interviewer", name="Hana Host")


@pytest.fixture
async def guest(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, role="candidate", name="Cara Candidate")


@pytest.fixture
async def outsider(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, name="Olly Outsider")


async def test_create_readme_style(client, host, fake_stream: FakeStream) -> None:
    response = await client.post(
        "/api/sessions/create",
        headers=host["headers"],
        json={
            "title": "System design",
            "description": "Design a URL shortener",
            "problemId": "url-shortener",
            "language": "python",
            "duration": 60,
            "maxParticipants": 2,
        },
    )
    assert response.status_code == 201, response.text
    session = response.json()["session"]
    assert session["status"] == "active"
    assert session["title"] == "System design"
    assert session["language"] == "python"
    assert session["maxParticipants"] == 2 and session["seatsLeft"] == 2
    assert session["callId"] == session["streamChannelId"] == f"session-{session['_id']}"
    assert session["host"]["name"] == "Hana Host"
    assert session["host"]["streamId"] == host["user"]["streamId"]
    assert session["host"]["email"] == host["user"]["email"]  # the host sees their own
    assert session["participant"] is None and session["participants"] == []
    assert session["streamSync"] == "ok"
    channel = fake_stream.channel(session["callId"])
    assert channel is not None
    assert channel["members"] == [host["user"]["streamId"]]
    assert channel["created_by"] == host["user"]["streamId"]
    assert channel["data"]["name"] == "System design"
    assert channel["data"]["sessionId"] == session["_id"]
    assert channel["frozen"] is False


async def test_create_frontend_style(client, guest) -> None:
    session = await create(client, guest, problem="Two Sum", difficulty="easy")
    assert session["title"] == "Two Sum Session"
    assert session["problem"] == "Two Sum" and session["difficulty"] == "easy"
    assert session["language"] == "javascript"
    assert session["status"] == "active"


async def test_create_in_the_future_is_scheduled(client, host) -> None:
    start = datetime.now(UTC) + timedelta(hours=2)
    session = await create(client, host, title="Later", startTime=iso(start))
    assert session["status"] == "scheduled"
    stored = datetime.fromisoformat(session["startTime"])
    assert abs((stored - start).total_seconds()) < 0.01


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"description": "no title"},
        {"title": ""},
        {"title": "t" * 201},
        {"title": "x", "description": "d" * 5001},
        {"problem": "Two Sum", "difficulty": "extreme"},
        {"title": "x", "language": "cobol"},
        {"title": "x", "duration": 4},
        {"title": "x", "duration": 481},
        {"title": "x", "maxParticipants": 0},
        {"title": "x", "maxParticipants": 11},
        {"title": "x", "startTime": "tomorrow-ish"},
        {"title": "x", "problemId": "Not A Slug!"},
        {"title": "x", "status": "completed"},
        {"title": "x", "createdBy": "5f0000000000000000000000"},
        {"title": ["x"]},
    ],
)
async def test_create_rejects_bad_input(client, host, body) -> None:
    response = await client.post("/api/sessions", json=body, headers=host["headers"])
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "validation_error"
    assert response.json()["details"]


async def test_everything_needs_auth(client) -> None:
    for method, path in [
        ("GET", "/api/sessions"),
        ("POST", "/api/sessions"),
        ("GET", "/api/sessions/active"),
        ("GET", "/api/sessions/my-recent"),
        ("GET", "/api/sessions/5f0000000000000000000000"),
        ("POST", "/api/sessions/5f0000000000000000000000/join"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 401, path
        assert response.json()["error"] == "unauthorized"


async def test_join_leave_and_seats(client, host, guest, outsider, fake_stream) -> None:
    session = await create(client, host, title="One on one")
    joined = await act(client, guest, session, "join")
    assert joined.status_code == 200, joined.text
    body = joined.json()["session"]
    assert body["participants"] == [guest["user"]["_id"]]
    assert body["participant"]["name"] == "Cara Candidate"
    assert body["participant"]["email"] == guest["user"]["email"]  # their own
    assert body["host"].get("email") is None  # not the host's, for a participant
    assert body["seatsLeft"] == 0
    assert fake_stream.channel(session["callId"])["members"] == [
        host["user"]["streamId"],
        guest["user"]["streamId"],
    ]

    again = await act(client, guest, session, "join")
    assert again.status_code == 200
    assert again.json()["session"]["participants"] == [guest["user"]["_id"]]
    host_join = await act(client, host, session, "join")
    assert host_join.status_code == 200
    assert host_join.json()["session"]["participants"] == [guest["user"]["_id"]]

    full = await act(client, outsider, session, "join")
    assert full.status_code == 409 and full.json()["error"] == "session_full"
    hidden = await client.get(f"/api/sessions/{session['_id']}", headers=outsider["headers"])
    assert hidden.status_code == 404  # full, and not a member: nothing to see

    host_leave = await act(client, host, session, "leave")
    assert host_leave.status_code == 409 and host_leave.json()["error"] == "host_cannot_leave"
    stranger_leave = await act(client, outsider, session, "leave")
    assert stranger_leave.status_code == 404

    left = await act(client, guest, session, "leave")
    assert left.status_code == 200
    assert left.json()["session"]["participants"] == []
    assert left.json()["session"]["seatsLeft"] == 1
    assert fake_stream.channel(session["callId"])["members"] == [host["user"]["streamId"]]
    assert (await act(client, outsider, session, "join")).status_code == 200


async def test_twenty_concurrent_joins_take_one_seat(client, host) -> None:
    session = await create(client, host, title="Race")
    people = await asyncio.gather(*[register(client) for _ in range(20)])
    responses = await asyncio.gather(*[act(client, p, session, "join") for p in people])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 19
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"session_full"}
    final = await client.get(f"/api/sessions/{session['_id']}", headers=host["headers"])
    assert len(final.json()["session"]["participants"]) == 1
    assert final.json()["session"]["seatsLeft"] == 0


async def test_non_member_view_of_a_joinable_session(client, host, outsider) -> None:
    session = await create(client, host, title="Open seat")
    response = await client.get(f"/api/sessions/{session['_id']}", headers=outsider["headers"])
    assert response.status_code == 200
    seen = response.json()["session"]
    assert seen["callId"] is None and seen["streamChannelId"] is None
    assert seen["host"]["email"] is None
    assert seen["host"]["streamId"] == host["user"]["streamId"]
    for bad in ("not-an-id", "5f0000000000000000000000", "%00"):
        missing = await client.get(f"/api/sessions/{bad}", headers=outsider["headers"])
        assert missing.status_code == 404, bad
        assert missing.json()["error"] == "session_not_found"


async def test_state_machine(client, host, guest, outsider, fake_stream) -> None:
    start = datetime.now(UTC) + timedelta(minutes=5)  # inside the join window
    session = await create(client, host, title="Scheduled", startTime=iso(start))
    assert (await act(client, guest, session, "join")).status_code == 200
    assert (await act(client, guest, session, "start")).status_code == 403
    assert (await act(client, outsider, session, "start")).status_code == 404
    assert (await act(client, host, session, "end")).status_code == 409  # scheduled → completed
    started = await act(client, host, session, "start")
    assert started.status_code == 200 and started.json()["session"]["status"] == "active"
    assert (await act(client, host, session, "start")).status_code == 409
    assert (await act(client, guest, session, "end")).status_code == 403
    assert (await act(client, outsider, session, "end")).status_code == 404

    ended = await act(client, host, session, "end")
    assert ended.status_code == 200
    assert ended.json()["message"] == "Session ended successfully"
    body = ended.json()["session"]
    assert body["status"] == "completed"
    assert body["endTime"] is not None and body["duration"] >= 1
    assert fake_stream.channel(session["callId"])["frozen"] is True

    again = await act(client, host, session, "end")
    assert again.status_code == 409 and again.json()["error"] == "invalid_transition"
    assert (await act(client, host, session, "cancel")).status_code == 409
    assert (await act(client, host, session, "start")).status_code == 409
    closed = await act(client, outsider, session, "join")
    assert closed.status_code == 409 and closed.json()["error"] == "session_closed"
    assert (await act(client, guest, session, "leave")).status_code == 409


async def test_cancel_scheduled_and_active(client, host) -> None:
    scheduled = await create(
        client, host, title="S", startTime=iso(datetime.now(UTC) + timedelta(hours=3))
    )
    cancelled = await act(client, host, scheduled, "cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["session"]["status"] == "cancelled"
    active = await create(client, host, title="A")
    assert (await act(client, host, active, "cancel")).json()["session"]["status"] == "cancelled"
    assert (await act(client, host, active, "start")).status_code == 409


async def test_concurrent_end_and_cancel_one_wins(client, host) -> None:
    session = await create(client, host, title="Contested")
    end, cancel = await asyncio.gather(
        act(client, host, session, "end"), act(client, host, session, "cancel")
    )
    assert sorted([end.status_code, cancel.status_code]) == [200, 409]


async def test_update_session(client, host, guest, outsider) -> None:
    session = await create(client, host, title="Before", maxParticipants=2)
    url = f"/api/sessions/{session['_id']}"
    updated = await client.patch(
        url,
        headers=host["headers"],
        json={"title": "After", "difficulty": "hard", "language": "go", "duration": 45},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()["session"]
    assert (body["title"], body["difficulty"], body["language"], body["duration"]) == (
        "After",
        "hard",
        "go",
        45,
    )
    put = await client.put(url, headers=host["headers"], json={"description": "via PUT"})
    assert put.status_code == 200 and put.json()["session"]["description"] == "via PUT"

    assert (await act(client, guest, session, "join")).status_code == 200
    assert (
        await client.patch(url, headers=guest["headers"], json={"title": "x"})
    ).status_code == 403
    assert (
        await client.patch(url, headers=outsider["headers"], json={"title": "x"})
    ).status_code == 404
    bad: dict[str, Any]
    for bad in (
        {"createdBy": outsider["user"]["_id"]},
        {"participants": []},
        {"streamChannelId": "x"},
        {"bogus": 1},
        {},
        {"status": "bogus"},
        {"maxParticipants": 0},
        {"title": None},
    ):
        response = await client.patch(url, headers=host["headers"], json=bad)
        assert response.status_code == 400, (bad, response.text)
    moved = await client.patch(
        url, headers=host["headers"], json={"startTime": iso(datetime.now(UTC) + timedelta(days=1))}
    )
    assert moved.status_code == 409 and moved.json()["error"] == "not_scheduled"

    later = await create(
        client, host, title="Later", startTime=iso(datetime.now(UTC) + timedelta(days=1))
    )
    before = datetime.now(UTC)
    past = await client.patch(
        f"/api/sessions/{later['_id']}",
        headers=host["headers"],
        json={"startTime": iso(before - timedelta(days=3))},
    )
    # As at creation, a start already past means now.
    assert past.status_code == 200, past.text
    starts = datetime.fromisoformat(past.json()["session"]["startTime"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= starts <= datetime.now(UTC)
    assert past.json()["session"]["status"] == "scheduled"

    shrink = await client.patch(url, headers=host["headers"], json={"maxParticipants": 1})
    assert shrink.status_code == 200
    assert shrink.json()["session"]["seatsLeft"] == 0
    grow = await client.patch(url, headers=host["headers"], json={"maxParticipants": 3})
    assert grow.json()["session"]["seatsLeft"] == 2

    backwards = await client.patch(url, headers=host["headers"], json={"status": "scheduled"})
    assert backwards.status_code == 409 and backwards.json()["error"] == "invalid_transition"
    done = await client.patch(url, headers=host["headers"], json={"status": "completed"})
    assert done.status_code == 200 and done.json()["session"]["status"] == "completed"
    frozen = await client.patch(url, headers=host["headers"], json={"title": "late"})
    assert frozen.status_code == 409


async def test_shrinking_below_participants_is_refused(client, host, guest) -> None:
    session = await create(client, host, title="Two seats", maxParticipants=2)
    other = await register(client)
    assert (await act(client, guest, session, "join")).status_code == 200
    assert (await act(client, other, session, "join")).status_code == 200
    response = await client.patch(
        f"/api/sessions/{session['_id']}", headers=host["headers"], json={"maxParticipants": 1}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "below_participant_count"


async def test_delete_session(client, host, guest, fake_stream, celery_worker) -> None:
    session = await create(client, host, title="Doomed")
    assert (await act(client, guest, session, "join")).status_code == 200
    url = f"/api/sessions/{session['_id']}"
    assert (await client.delete(url, headers=guest["headers"])).status_code == 403
    assert (await client.delete(url, headers=host["headers"])).status_code == 204
    assert (await client.get(url, headers=host["headers"])).status_code == 404
    assert (await client.delete(url, headers=host["headers"])).status_code == 404
    from tests.support import wait_until

    await wait_until(lambda: fake_stream.channel(session["callId"]) is None, timeout=20)


async def test_concurrent_joins_fill_every_seat_without_losing_one(client, host) -> None:
    session = await create(client, host, title="Three seats", maxParticipants=3)
    people = await asyncio.gather(*[register(client) for _ in range(10)])
    responses = await asyncio.gather(*[act(client, p, session, "join") for p in people])
    winners = {
        p["user"]["_id"] for p, r in zip(people, responses, strict=True) if r.status_code == 200
    }
    assert len(winners) == 3
    final = (await client.get(f"/api/sessions/{session['_id']}", headers=host["headers"])).json()[
        "session"
    ]
    assert set(final["participants"]) == winners
    assert final["seatsLeft"] == 0
