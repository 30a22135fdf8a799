"""Stream down or stalling during create, join, leave and end: the API succeeds, and the
worker brings the fake Stream into line with the database once it recovers."""

from __future__ import annotations

import httpx

from tests.fakes.stream import FakeStream
from tests.support import act, create, register, wait_until


async def stream_matches(client, host, session_id: str, fake: FakeStream) -> bool:
    response = await client.get(f"/api/sessions/{session_id}", headers=host["headers"])
    session = response.json()["session"]
    channel = fake.channel(session["callId"])
    if channel is None or session["streamSync"] != "ok":
        return False
    wanted = [session["host"]["streamId"]] + [p["streamId"] for p in session["participantsInfo"]]
    frozen = session["status"] in ("completed", "cancelled")
    return sorted(channel["members"]) == sorted(wanted) and channel["frozen"] == frozen


async def test_outage_during_create_join_leave_end_then_recovery(
    client: httpx.AsyncClient, fake_stream: FakeStream, celery_worker: object
) -> None:
    host = await register(client, role="interviewer")
    first, second = await register(client), await register(client)

    fake_stream.fail(times=1000, status=500, path_contains="/channels")
    session = await create(client, host, title="Through the storm", maxParticipants=2)
    assert session["streamSync"] == "pending"
    assert (await act(client, first, session, "join")).status_code == 200
    assert (await act(client, second, session, "join")).status_code == 200
    assert (await act(client, first, session, "leave")).status_code == 200
    ended = await act(client, host, session, "end")
    assert ended.status_code == 200 and ended.json()["session"]["streamSync"] == "pending"
    assert fake_stream.channel(session["callId"]) is None

    fake_stream.heal()
    await wait_until(lambda: stream_matches(client, host, session["_id"], fake_stream), timeout=40)
    channel = fake_stream.channel(session["callId"])
    assert channel is not None
    assert sorted(channel["members"]) == sorted(
        [host["user"]["streamId"], second["user"]["streamId"]]
    )
    assert channel["frozen"] is True


async def test_stalled_stream_does_not_stall_the_api(
    client: httpx.AsyncClient, fake_stream: FakeStream, celery_worker: object
) -> None:
    host = await register(client, role="interviewer")
    # Every channel call stalls past the timeout (other tests' jobs may be calling too).
    fake_stream.fail(times=1000, status=200, delay_s=5.0, path_contains="/channels")
    session = await create(client, host, title="Slow Stream")
    assert session["streamSync"] == "pending"
    fake_stream.heal()
    await wait_until(lambda: stream_matches(client, host, session["_id"], fake_stream), timeout=40)


async def test_account_deletion_releases_sessions(
    client: httpx.AsyncClient, fake_stream: FakeStream, celery_worker: object
) -> None:
    host = await register(client, role="interviewer")
    guest = await register(client)
    hosted = await create(client, host, title="Host leaves the company")
    joined_by_guest = await create(
        client, await register(client, role="interviewer"), title="Guest leaves"
    )
    assert (await act(client, guest, hosted, "join")).status_code == 200
    assert (await act(client, guest, joined_by_guest, "join")).status_code == 200

    gone = await client.request(
        "DELETE", "/api/auth/me", headers=host["headers"], json={"password": host["password"]}
    )
    assert gone.status_code == 204
    seen = (await client.get(f"/api/sessions/{hosted['_id']}", headers=guest["headers"])).json()[
        "session"
    ]
    assert seen["status"] == "cancelled"
    assert seen["host"]["name"] == "Deleted user"

    gone = await client.request(
        "DELETE", "/api/auth/me", headers=guest["headers"], json={"password": guest["password"]}
    )
    assert gone.status_code == 204
    await wait_until(
        lambda: (
            guest["user"]["streamId"]
            not in (fake_stream.channel(joined_by_guest["callId"]) or {"members": []})["members"]
        ),
        timeout=30,
    )
