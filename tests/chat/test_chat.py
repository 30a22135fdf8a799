"""Chat over real HTTP: channel, save-message, history pages, and Stream webhooks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from config import Settings
from tests.fakes.stream import FakeStream, message_event, signed_webhook
from tests.support import (
    TEST_STREAM_KEY,
    TEST_STREAM_SECRET,
    act,
    create,
    deliver,
    free_port,
    http_client,
    make_settings,
    register,
    running_app,
    save,
    stamp,
)


@pytest.fixture
async def room(client: httpx.AsyncClient) -> dict[str, Any]:
    """A session with a host, a participant and an outsider."""
    host = await register(client, role="interviewer", name="Chat Host")
    guest = await register(client, name="Chat Guest")
    outsider = await register(client, name="Chat Outsider")
    session = await create(client, host, title="Chatty", maxParticipants=1)
    assert (await act(client, guest, session, "join")).status_code == 200
    return {"host": host, "guest": guest, "outsider": outsider, "session": session}


async def history(http, who, session, **params) -> httpx.Response:
    return await http.get(
        f"/api/chat/history/{session['_id']}", headers=who["headers"], params=params
    )


async def test_channel_for_members_only(client, room, fake_stream: FakeStream) -> None:
    session = room["session"]
    response = await client.post(
        "/api/chat/channel", headers=room["guest"]["headers"], json={"sessionId": session["_id"]}
    )
    assert response.status_code == 200, response.text
    channel = response.json()["channel"]
    assert channel == {
        "type": "messaging",
        "id": session["callId"],
        "members": [room["host"]["user"]["streamId"], room["guest"]["user"]["streamId"]],
    }
    stream_channel = fake_stream.channel(session["callId"])
    assert stream_channel is not None
    assert sorted(stream_channel["members"]) == sorted(channel["members"])
    stranger = await client.post(
        "/api/chat/channel", headers=room["outsider"]["headers"], json={"sessionId": session["_id"]}
    )
    assert stranger.status_code == 404
    for bad in ({}, {"sessionId": "nope"}, {"sessionId": 5}):
        response = await client.post("/api/chat/channel", headers=room["host"]["headers"], json=bad)
        assert response.status_code == 400


async def test_channel_503_when_stream_is_down(client, room, fake_stream, celery_worker) -> None:
    session = room["session"]
    fake_stream.fail(times=1000, status=502, path_contains="/channels")
    response = await client.post(
        "/api/chat/channel", headers=room["host"]["headers"], json={"sessionId": session["_id"]}
    )
    assert response.status_code == 503
    assert response.json()["error"] == "stream_unavailable"


async def test_save_message_is_idempotent_and_members_only(client, room) -> None:
    session = room["session"]
    first = await save(client, room["guest"], session, "  hello  ", messageId="stream-msg-1")
    assert first.status_code == 201, first.text
    message = first.json()["message"]
    assert message["text"] == "hello"
    assert message["streamMessageId"] == "stream-msg-1"
    assert message["userId"] == room["guest"]["user"]["_id"]
    assert message["source"] == "api" and message["deleted"] is False
    again = await save(client, room["guest"], session, "hello", messageId="stream-msg-1")
    assert again.status_code == 200
    assert again.json()["message"]["_id"] == message["_id"]
    racing = await asyncio.gather(
        *[save(client, room["host"], session, "same", messageId="stream-msg-2") for _ in range(5)]
    )
    assert sorted(r.status_code for r in racing) == [200, 200, 200, 200, 201]
    assert len({r.json()["message"]["_id"] for r in racing}) == 1

    assert (await save(client, room["outsider"], session, "let me in")).status_code == 404
    for bad in (
        {"text": "no session"},
        {"sessionId": session["_id"]},
        {"sessionId": session["_id"], "text": ""},
        {"sessionId": session["_id"], "text": "   "},
        {"sessionId": session["_id"], "text": "x" * 5001},
        {"sessionId": "123", "text": "bad id"},
        {"sessionId": session["_id"], "text": "x", "messageId": "has spaces"},
        {"sessionId": session["_id"], "text": "x", "extra": 1},
    ):
        response = await client.post(
            "/api/chat/save-message", headers=room["host"]["headers"], json=bad
        )
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["details"]

    await act(client, room["host"], session, "end")
    closed = await save(client, room["host"], session, "too late")
    assert closed.status_code == 409 and closed.json()["error"] == "session_closed"
    replay = await save(client, room["guest"], session, "hello", messageId="stream-msg-1")
    assert replay.status_code == 200  # a stored message is still returned, not refused


async def test_history_pages_without_gaps_or_repeats(client, room) -> None:
    session = room["session"]
    texts = [f"message {i:03d}" for i in range(230)]
    for j, text in enumerate(texts):
        # Three messages share each timestamp: ties are broken by id, in saving order.
        response = await save(
            client, room["host" if j % 2 else "guest"], session, text, createdAt=stamp(j // 3)
        )
        assert response.status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 40, **({"before": cursor} if cursor else {})}
        response = await history(client, room["guest"], session, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        page = [m["text"] for m in body["messages"]]
        assert page == sorted(page)  # oldest first within a page
        seen = page + seen
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == texts and pages == 6

    newest = await history(client, room["host"], session, limit=5)
    last_ids = [m["_id"] for m in newest.json()["messages"]]
    assert [m["text"] for m in newest.json()["messages"]] == texts[-5:]
    catch_up = await history(client, room["host"], session, after=last_ids[0], limit=10)
    assert [m["_id"] for m in catch_up.json()["messages"]] == last_ids[1:]
    assert catch_up.json()["nextCursor"] is None

    for params in (
        {"limit": 0},
        {"limit": 201},
        {"before": "@@@"},
        {"before": "bm90LWEtY3Vyc29y"},
        {"after": "nope"},
        {"bogus": 1},
    ):
        bad = await history(client, room["host"], session, **params)
        assert bad.status_code == 400, (params, bad.text)
    assert (await history(client, room["outsider"], session)).status_code == 404
    assert (
        await client.get("/api/chat/history/not-an-id", headers=room["host"]["headers"])
    ).status_code == 404


async def texts(client, who, session) -> list[tuple[str, bool]]:
    body = (await history(client, who, session, limit=200)).json()
    return [(m["text"], m["deleted"]) for m in body["messages"]]


async def test_webhook_events_are_stored(client, server, room, fake_stream) -> None:
    session, guest = room["session"], room["guest"]
    channel, sid = session["callId"], guest["user"]["streamId"]
    new = message_event("message.new", channel, "wh-1", "first draft", sid, created_at=stamp(1))
    assert (await deliver(fake_stream, server, new)).json() == {"ok": True, "duplicate": False}
    history_now = (await history(client, guest, session)).json()["messages"]
    assert history_now[-1]["text"] == "first draft"
    assert history_now[-1]["userId"] == guest["user"]["_id"]
    assert history_now[-1]["source"] == "webhook"

    updated = message_event(
        "message.updated",
        channel,
        "wh-1",
        "final text",
        sid,
        created_at=stamp(1),
        updated_at=stamp(5),
    )
    assert (await deliver(fake_stream, server, updated)).status_code == 200
    assert await texts(client, guest, session) == [("final text", False)]

    deleted = message_event(
        "message.deleted",
        channel,
        "wh-1",
        "final text",
        sid,
        created_at=stamp(1),
        updated_at=stamp(9),
        deleted_at=stamp(9),
    )
    assert (await deliver(fake_stream, server, deleted)).status_code == 200
    assert await texts(client, guest, session) == [("", True)]

    other = {"type": "typing.start", "cid": f"messaging:{channel}", "user": {"id": sid}}
    assert (await deliver(fake_stream, server, other)).status_code == 200
    stray = message_event("message.new", "not-a-session", "wh-x", "hi", sid, created_at=stamp(2))
    assert (await deliver(fake_stream, server, stray)).status_code == 200
    assert await texts(client, guest, session) == [("", True)]


async def test_replays_and_reordering_change_nothing(client, server, room, fake_stream) -> None:
    session, host = room["session"], room["host"]
    channel, sid = session["callId"], host["user"]["streamId"]
    new = message_event("message.new", channel, "wh-2", "v1", sid, created_at=stamp(10))
    update = message_event(
        "message.updated", channel, "wh-2", "v2", sid, created_at=stamp(10), updated_at=stamp(20)
    )
    # The update arrives before its message.new, then everything is delivered twice.
    assert (await deliver(fake_stream, server, update, "delivery-a")).status_code == 200
    assert (await deliver(fake_stream, server, new, "delivery-b")).status_code == 200
    replay = await deliver(fake_stream, server, update, "delivery-a")
    assert replay.json() == {"ok": True, "duplicate": True}
    assert (await deliver(fake_stream, server, new, "delivery-c")).status_code == 200
    assert await texts(client, host, session) == [("v2", False)]
    saved = await save(client, host, session, "v1", messageId="wh-2")
    assert saved.status_code == 200 and saved.json()["message"]["text"] == "v2"


async def test_bad_signatures_are_401_and_store_nothing(client, server, room, fake_stream):
    session = room["session"]
    event = message_event(
        "message.new",
        session["callId"],
        "wh-evil",
        "evil",
        room["host"]["user"]["streamId"],
        created_at=stamp(3),
    )
    body, headers = signed_webhook(event, TEST_STREAM_KEY, TEST_STREAM_SECRET)
    tampered = body.replace(b"evil", b"good")
    wrong_secret = signed_webhook(event, TEST_STREAM_KEY, "not-the-secret")[1]
    cases = [
        (tampered, headers),
        (body, wrong_secret),
        (body, {k: v for k, v in headers.items() if k != "X-Signature"}),
        (body, {**headers, "X-Api-Key": "another-app"}),
        (body, {k: v for k, v in headers.items() if k != "X-Api-Key"}),
        (body, {**headers, "X-Signature": ""}),
    ]
    async with http_client(server) as raw:
        for payload, hdrs in cases:
            response = await raw.post("/api/webhooks/stream", content=payload, headers=hdrs)
            assert response.status_code == 401, hdrs
            assert response.json()["error"] == "invalid_signature"
    assert await texts(client, room["host"], session) == []


async def test_webhook_while_mongo_is_down_is_5xx(
    services, test_database, redis_db, settings: Settings, fake_stream
) -> None:
    broken = make_settings(
        {**services, "mongo": f"mongodb://127.0.0.1:{free_port()}"},
        test_database,
        redis_db,
        mongodb_timeout_ms=300,
        stream_api_key=TEST_STREAM_KEY,
        stream_api_secret=TEST_STREAM_SECRET,
        stream_base_url=settings.stream_base_url,
    )
    event = message_event(
        "message.new",
        "session-5f0000000000000000000000",
        "wh-down",
        "lost?",
        "someone",
        created_at=stamp(4),
    )
    async with running_app(broken) as (_app, url):
        response = await deliver(fake_stream, url, event, "delivery-down")
        assert response.status_code == 503
        assert response.json()["error"] == "database_unavailable"
    # The delivery was not recorded as seen: Stream's retry is processed normally.
    async with running_app(settings) as (_app, url):
        retry = await deliver(fake_stream, url, event, "delivery-down")
        assert retry.json() == {"ok": True, "duplicate": False}


async def test_deleting_a_session_deletes_its_history_and_runs(client, room, settings) -> None:
    """The reactions to SessionDeleted (tq/reactions.py): hot messages, archive chunks and code
    runs go with the session."""
    from tq.chat.models import ChatArchiveChunk, ChatMessage
    from tq.core.db import create_engine
    from tq.runner.models import CodeRun

    session = room["session"]
    oid = ObjectId(session["_id"])
    await save(client, room["host"], session, "soon gone")
    engine = create_engine(settings)
    try:
        await engine.save(
            ChatArchiveChunk(
                session_id=oid,
                seq=1,
                count=0,
                first_created_at=datetime.now(UTC),
                first_id=ObjectId(),
                last_created_at=datetime.now(UTC),
                last_id=ObjectId(),
                message_ids=[],
                data=b"",
            )
        )
        await engine.save(
            CodeRun(
                session_id=oid,
                user_id=ObjectId(),
                language="python",
                version="3",
                source="print(1)",
            )
        )
        query = ChatMessage.session_id == oid
        assert await engine.count(ChatMessage, query) == 1
        url = f"/api/sessions/{session['_id']}"
        assert (await client.delete(url, headers=room["host"]["headers"])).status_code == 204
        assert await engine.count(ChatMessage, query) == 0
        assert await engine.count(ChatArchiveChunk, ChatArchiveChunk.session_id == oid) == 0
        assert await engine.count(CodeRun, CodeRun.session_id == oid) == 0
    finally:
        engine.client.close()


async def test_history_between_two_positions_and_bad_anchors(client, room) -> None:
    who, session = room["host"], room["session"]
    ids = []
    for i in range(6):
        saved = await save(client, who, session, f"m{i}", createdAt=stamp(1000 + i))
        ids.append(saved.json()["message"]["_id"])
    # A cursor pointing at m4: `before` it and `after` m1 is the window m2, m3.
    page = (await history(client, who, session, limit=2)).json()
    assert [m["text"] for m in page["messages"]] == ["m4", "m5"]
    window = await history(client, who, session, after=ids[1], before=page["nextCursor"])
    assert window.status_code == 200, window.text
    assert [m["text"] for m in window.json()["messages"]] == ["m2", "m3"]
    assert window.json()["nextCursor"] is None
    unknown = await history(client, who, session, after=str(ObjectId()))
    assert unknown.status_code == 404 and unknown.json()["error"] == "message_not_found"
    for bad in ("", "0", "123_nothex", f"1_{'0' * 23}x", f"99999999999999_{ObjectId()}"):
        response = await history(client, who, session, before=bad)
        assert response.status_code == 400, bad
        assert response.json()["message"] == "Malformed cursor"
