"""The chat jobs. archive_chat_history end to end: pulled from the fake Stream, archived in
chunks, history identical before and after, idempotent, and resumed after an interruption
halfway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from tests.fakes.stream import FakeStream, message_event
from tests.support import act, app_on_own_database, create, deliver, register, save, stamp
from tq.chat.archive import archive_finished_sessions
from tq.chat.models import ChatArchiveChunk, ChatMessage
from tq.chat.store import unpack
from tq.core.stream import StreamGateway
from tq.sessions.models import Session


@pytest.fixture(scope="module")
async def own_db(settings) -> AsyncIterator[dict[str, Any]]:
    async with app_on_own_database(settings, "archive") as ctx:
        yield ctx


async def full_history(http, who, session) -> list[dict[str, Any]]:
    """Every page, newest to oldest, joined oldest first; and catch-up from the first id."""
    messages: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 37, **({"before": cursor} if cursor else {})}
        body = (
            await http.get(
                f"/api/chat/history/{session['_id']}", headers=who["headers"], params=params
            )
        ).json()
        messages = body["messages"] + messages
        cursor = body["nextCursor"]
        if cursor is None:
            return messages


async def catch_up(http, who, session, first_id: str) -> list[str]:
    ids: list[str] = []
    anchor = first_id
    while True:
        body = (
            await http.get(
                f"/api/chat/history/{session['_id']}",
                headers=who["headers"],
                params={"after": anchor, "limit": 50},
            )
        ).json()
        if not body["messages"]:
            return ids
        ids += [m["_id"] for m in body["messages"]]
        anchor = ids[-1]


async def run(
    ctx, *, max_chunks: int | None = None, stream: StreamGateway | None = None
) -> dict[str, int]:
    later = datetime.now(UTC) + timedelta(days=8)
    return await archive_finished_sessions(
        ctx["engine"],
        ctx["redis"],
        ctx["locks"],
        stream or ctx["stream"],
        after_days=7,
        chunk_size=50,
        max_chunks=max_chunks,
        now=later,
    )


async def test_archive_end_to_end(own_db, fake_stream: FakeStream) -> None:
    http, engine = own_db["http"], own_db["engine"]
    host = await register(http, role="interviewer")
    guest = await register(http)
    session = await create(http, host, title="Archive me")
    assert (await act(http, guest, session, "join")).status_code == 200
    oid = ObjectId(session["_id"])
    for i in range(180):
        who = host if i % 2 else guest
        assert (
            await save(
                http,
                who,
                session,
                f"saved {i:03d}",
                messageId=f"m-{session['_id']}-{i}",
                createdAt=stamp(i),
            )
        ).status_code == 201
    deleted = message_event(
        "message.deleted",
        session["callId"],
        f"m-{session['_id']}-7",
        "x",
        guest["user"]["streamId"],
        created_at=stamp(7),
        updated_at=stamp(500),
        deleted_at=stamp(500),
    )
    assert (await deliver(fake_stream, own_db["url"], deleted)).status_code == 200
    # Stream holds 40 messages we never stored (webhooks lost), and 10 we did.
    for i in range(170, 220):
        fake_stream.add_message(
            session["callId"],
            {
                "id": f"m-{session['_id']}-{i}",
                "text": f"saved {i:03d}" if i < 180 else f"only in stream {i}",
                "type": "regular",
                "user": {"id": host["user"]["streamId"]},
                "created_at": stamp(i),
                "updated_at": stamp(i),
            },
        )
    assert (await act(http, host, session, "end")).status_code == 200
    before = await full_history(http, host, session)
    assert len(before) == 180

    # Interrupted after two chunks: imported first, part archived, history already complete.
    first = await run(own_db, max_chunks=2)
    assert first["imported"] == 40 and first["chunks"] == 2 and first["archived"] == 100
    assert await engine.count(ChatMessage, ChatMessage.session_id == oid) == 120
    expected = await full_history(http, host, session)
    assert len(expected) == 220
    assert [m["text"] for m in expected[180:]] == [f"only in stream {i}" for i in range(180, 220)]
    assert next(m for m in expected if m["deleted"])["text"] == ""

    # A run killed after writing its chunk but before deleting the hot copies: put them back.
    chunk = await engine.find_one(
        ChatArchiveChunk, ChatArchiveChunk.session_id == oid, ChatArchiveChunk.seq == 2
    )
    assert chunk is not None
    for message in unpack(chunk):
        await engine.save(message)
    assert await full_history(http, host, session) == expected  # counted once

    rest = await run(own_db)
    assert rest["duplicates_dropped"] == 50 and rest["imported"] == 0
    assert rest["chunks"] == 3 and rest["archived"] == 120
    assert await engine.count(ChatMessage, ChatMessage.session_id == oid) == 0
    assert await engine.count(ChatArchiveChunk, ChatArchiveChunk.session_id == oid) == 5
    archived = await engine.find_one(Session, Session.id == oid)
    assert archived is not None and archived.archived_at is not None

    after = await full_history(http, host, session)
    assert after == expected
    ids = [m["_id"] for m in after]
    assert await catch_up(http, host, session, ids[0]) == ids[1:]
    again = await run(own_db)
    assert again["sessions"] == 0 and again["chunks"] == 0  # nothing left to do
    assert await full_history(http, host, session) == expected
    resave = await save(http, host, session, "x", messageId=f"m-{session['_id']}-3")
    assert resave.status_code == 409  # read-only once finished


async def test_sessions_not_old_enough_are_left_alone(own_db) -> None:
    http = own_db["http"]
    host = await register(http, role="interviewer")
    session = await create(http, host, title="Recent")
    await save(http, host, session, "still hot")
    await act(http, host, session, "end")
    counts = await archive_finished_sessions(
        own_db["engine"],
        own_db["redis"],
        own_db["locks"],
        own_db["stream"],
        after_days=7,
        chunk_size=50,
    )
    assert counts["sessions"] == 0
    hot = await own_db["engine"].count(
        ChatMessage, ChatMessage.session_id == ObjectId(session["_id"])
    )
    assert hot == 1


async def wait_for_index(collection, name: str) -> None:
    """The app creates indexes in the background at start; wait for the one a test relies on."""
    for _ in range(100):
        if name in [index["name"] async for index in collection.list_indexes()]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"index {name} was never created")


async def test_two_workers_archive_one_session_once(own_db) -> None:
    """Two runs at once (two workers, or a beat overlapping an ops run): the unique
    (sessionId, seq) index lets one write each chunk, so every message is archived once."""
    http, engine = own_db["http"], own_db["engine"]
    await wait_for_index(engine.get_collection(ChatArchiveChunk), "session_seq")
    host = await register(http, role="interviewer")
    session = await create(http, host, title="Archived twice at once")
    oid = ObjectId(session["_id"])
    for i in range(130):
        reply = await save(
            http, host, session, f"m {i}", messageId=f"d-{oid}-{i}", createdAt=stamp(i)
        )
        assert reply.status_code == 201
    assert (await act(http, host, session, "end")).status_code == 200
    before = await full_history(http, host, session)

    first, second = await asyncio.gather(run(own_db), run(own_db))
    assert first["archived"] + second["archived"] >= 130
    chunks = [
        chunk
        async for chunk in engine.find(
            ChatArchiveChunk, ChatArchiveChunk.session_id == oid, sort=ChatArchiveChunk.seq
        )
    ]
    archived_ids = [message.id for chunk in chunks for message in unpack(chunk)]
    assert len(archived_ids) == len(set(archived_ids)) == 130
    assert [chunk.seq for chunk in chunks] == list(range(1, len(chunks) + 1))
    assert await engine.count(ChatMessage, ChatMessage.session_id == oid) == 0
    assert await full_history(http, host, session) == before
