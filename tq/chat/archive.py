"""The chat of finished sessions archived: its messages move into compressed chunks.

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

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from odmantic.exceptions import DuplicateKeyError
from pymongo import DeleteOne
from redis.asyncio import Redis

from tq.chat.models import ChatArchiveChunk, ChatMessage
from tq.chat.store import import_from_stream, last_chunk, pack
from tq.core.locks import WriteLocks
from tq.core.stream import StreamGateway
from tq.core.time import Deadline, utcnow
from tq.sessions import store as sessions_store
from tq.sessions.models import Session


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
    locks: WriteLocks,
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
    await sessions_store.mark_archived(engine, locks, session.id)
    return counts


async def archive_finished_sessions(
    engine: AIOEngine,
    redis: Redis,
    locks: WriteLocks,
    stream: StreamGateway,
    *,
    after_days: float,
    chunk_size: int,
    max_chunks: int | None = None,
    now: datetime | None = None,
    budget_s: float | None = None,
) -> dict[str, int]:
    """Archive every session final for more than `after_days` (within `budget_s` seconds:
    the rest stay unarchived for the next run)."""
    deadline = Deadline(budget_s) if budget_s else None
    cutoff = (now or utcnow()) - timedelta(days=after_days)
    totals = {"sessions": 0, "imported": 0, "archived": 0, "chunks": 0, "duplicates_dropped": 0}
    async for session in sessions_store.finished_unarchived(engine, cutoff):
        if deadline is not None and deadline.passed:
            break
        counts = await archive_session(
            engine, redis, locks, stream, session, chunk_size, max_chunks
        )
        totals["sessions"] += 1
        for key, value in counts.items():
            totals[key] += value
        if max_chunks is not None and counts["chunks"] >= max_chunks:
            break
    return totals
