"""Chat archiving: a finished session's messages move into compressed chunks.

Order of work for one session, chosen so that a run killed anywhere and run again loses and
duplicates nothing:
1. Only while no chunk exists yet: pull from Stream every message of the channel we have not
   stored (paged backwards), upserting by Stream id. Re-running repeats it harmlessly.
2. Chunks are written in (createdAt, _id) order, `seq` unique per session; each chunk's hot copies
   are deleted after the chunk is stored. On a re-run, hot copies at or before the last chunk's
   end are the ones a killed run archived but did not delete: they are deleted, not re-archived.
3. The session is marked archived when nothing hot is left.
Memory stays bounded by one chunk (and one Stream page) whatever the session's size.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from odmantic import AIOEngine
from odmantic.exceptions import DuplicateKeyError
from pymongo import DeleteOne
from redis.asyncio import Redis

from tq.chat.models import ChatArchiveChunk, ChatMessage
from tq.core.locks import document_lock
from tq.core.stream import StreamGateway
from tq.core.time import utcnow
from tq.sessions.models import FINAL_STATUSES, Session

log = logging.getLogger("tq.chat.archive")
STREAM_PAGE = 100
TZ_AWARE: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


def pack(messages: list[ChatMessage]) -> bytes:
    # BSON keeps ObjectIds and datetimes exactly; gzip makes text-heavy chunks small.
    return gzip.compress(bson.encode({"m": [m.model_dump_doc() for m in messages]}), 6)


def unpack(chunk: ChatArchiveChunk) -> list[ChatMessage]:
    docs = bson.decode(gzip.decompress(chunk.data), codec_options=TZ_AWARE)["m"]
    return [ChatMessage.model_validate_doc(doc) for doc in docs]


def _chunks(engine: AIOEngine) -> Any:
    return engine.get_collection(ChatArchiveChunk)


async def last_chunk(engine: AIOEngine, session_id: ObjectId) -> ChatArchiveChunk | None:
    doc = await _chunks(engine).find_one({"sessionId": session_id}, sort=[("seq", -1)])
    return ChatArchiveChunk.model_validate_doc(doc) if doc else None


async def chunks_before(
    engine: AIOEngine, session_id: ObjectId, bound: tuple[datetime, ObjectId] | None
) -> AsyncIterator[ChatArchiveChunk]:
    """Chunks holding messages before `bound` (all when None), newest chunk first."""
    filter_: dict[str, Any] = {"sessionId": session_id}
    if bound:
        filter_["$or"] = [
            {"firstCreatedAt": {"$lt": bound[0]}},
            {"firstCreatedAt": bound[0], "firstId": {"$lt": bound[1]}},
        ]
    async for doc in _chunks(engine).find(filter_).sort([("seq", -1)]):
        yield ChatArchiveChunk.model_validate_doc(doc)


async def chunks_after(
    engine: AIOEngine, session_id: ObjectId, bound: tuple[datetime, ObjectId]
) -> AsyncIterator[ChatArchiveChunk]:
    filter_ = {
        "sessionId": session_id,
        "$or": [
            {"lastCreatedAt": {"$gt": bound[0]}},
            {"lastCreatedAt": bound[0], "lastId": {"$gt": bound[1]}},
        ],
    }
    async for doc in _chunks(engine).find(filter_).sort([("seq", 1)]):
        yield ChatArchiveChunk.model_validate_doc(doc)


async def find_archived(
    engine: AIOEngine, session_id: ObjectId, message_id: ObjectId
) -> ChatMessage | None:
    doc = await _chunks(engine).find_one({"sessionId": session_id, "messageIds": message_id})
    if doc is None:
        return None
    for message in unpack(ChatArchiveChunk.model_validate_doc(doc)):
        if message.id == message_id:
            return message
    return None


async def import_from_stream(
    engine: AIOEngine, redis: Redis, stream: StreamGateway, session: Session
) -> int:
    """Store every message Stream holds for the session's channel that we lack."""
    from tq.chat.service import upsert_stream_message  # the same rule the webhooks use

    imported = 0
    before: str | None = None
    while True:
        page = await stream.channel_messages(session.stream_channel_id, before, STREAM_PAGE)
        for message in page:
            outcome = await upsert_stream_message(
                engine, redis, session, message, "message.new", source="import"
            )
            imported += outcome == "created"
        if len(page) < STREAM_PAGE:
            return imported
        before = page[0]["id"]  # pages come oldest first: continue before the oldest


async def store_chunk(
    engine: AIOEngine,
    session_id: ObjectId,
    seq: int,
    batch: list[ChatMessage],
    counts: dict[str, int],
) -> bool:
    """Write one chunk, then delete its hot copies, and count it; False when the chunk's `seq`
    is already taken (another worker archives this session right now)."""
    chunk = ChatArchiveChunk(
        session_id=session_id,
        seq=seq,
        count=len(batch),
        first_created_at=batch[0].created_at,
        first_id=batch[0].id,
        last_created_at=batch[-1].created_at,
        last_id=batch[-1].id,
        message_ids=[m.id for m in batch],
        data=pack(batch),
    )
    try:
        await engine.save(chunk)
    except DuplicateKeyError:
        return False
    # One delete per _id in one round trip: an _id lookup everywhere, where a single
    # `_id: {$in: [...]}` is a scan per chunk on the embedded FerretDB.
    await engine.get_collection(ChatMessage).bulk_write(
        [DeleteOne({"_id": message_id}) for message_id in chunk.message_ids], ordered=False
    )
    counts["chunks"] += 1
    counts["archived"] += len(batch)
    return True


async def archive_session(
    engine: AIOEngine,
    redis: Redis,
    stream: StreamGateway,
    session: Session,
    chunk_size: int,
    max_chunks: int | None = None,
) -> dict[str, int]:
    counts = {"imported": 0, "archived": 0, "chunks": 0, "duplicates_dropped": 0}
    last = await last_chunk(engine, session.id)
    if last is None and stream.configured:
        counts["imported"] = await import_from_stream(engine, redis, stream, session)
    hot = engine.get_collection(ChatMessage)
    base: dict[str, Any] = {"sessionId": session.id}
    prior_seq = last.seq if last else 0  # chunks earlier runs wrote
    position = (last.last_created_at, last.last_id) if last else None
    if position:
        stale = await hot.delete_many(
            {
                **base,
                "$or": [
                    {"createdAt": {"$lt": position[0]}},
                    {"createdAt": position[0], "_id": {"$lte": position[1]}},
                ],
            }
        )
        counts["duplicates_dropped"] = stale.deleted_count
    # One ordered pass over the hot messages per round (not one query per chunk): a backend
    # without the index (the embedded FerretDB) then scans once, not once per chunk. Messages
    # that arrived during a round get another; a round that reads nothing ends it.
    while True:
        read = 0
        batch: list[ChatMessage] = []
        cursor = hot.find(base).sort([("createdAt", 1), ("_id", 1)]).batch_size(chunk_size)
        async for doc in cursor:
            read += 1
            batch.append(ChatMessage.model_validate_doc(doc))
            if len(batch) < chunk_size:
                continue
            seq = prior_seq + counts["chunks"] + 1
            if not await store_chunk(engine, session.id, seq, batch, counts):
                await cursor.close()
                return counts  # another worker archives this session right now
            batch = []
            if counts["chunks"] == max_chunks:
                await cursor.close()
                return counts  # budget spent: the next run resumes
        seq = prior_seq + counts["chunks"] + 1
        if batch and not await store_chunk(engine, session.id, seq, batch, counts):
            return counts
        if read == 0:
            break
    async with document_lock(redis, f"session:{session.id}"):
        await engine.get_collection(Session).update_one(
            {"_id": session.id, "archivedAt": None}, {"$set": {"archivedAt": utcnow()}}
        )
    return counts


async def archive_chat_history(
    engine: AIOEngine,
    redis: Redis,
    stream: StreamGateway,
    *,
    after_days: float,
    chunk_size: int,
    max_chunks: int | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Archive every session final for more than `after_days`."""
    cutoff = (now or utcnow()) - timedelta(days=after_days)
    totals = {"sessions": 0, "imported": 0, "archived": 0, "chunks": 0, "duplicates_dropped": 0}
    filter_ = {
        "status": {"$in": list(FINAL_STATUSES)},
        "endTime": {"$lt": cutoff},
        "archivedAt": None,
    }
    async for doc in engine.get_collection(Session).find(filter_).sort([("_id", 1)]):
        session = Session.model_validate_doc(doc)
        counts = await archive_session(engine, redis, stream, session, chunk_size, max_chunks)
        totals["sessions"] += 1
        for key, value in counts.items():
            totals[key] += value
        if max_chunks is not None and counts["chunks"] >= max_chunks:
            break
    return totals
