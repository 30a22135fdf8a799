"""Job logic for sessions: make a session's Stream channel match the database."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from bson import ObjectId
from odmantic import AIOEngine
from redis.asyncio import Redis

from tq.core.locks import DocumentLocks, document_lock
from tq.core.stream import StreamChannelSpec, StreamGateway
from tq.core.time import utcnow
from tq.sessions.models import FINAL_STATUSES, Session, channel_id_for
from tq.users.models import User
from tq.users.service import get_users, parse_object_id, stream_user_payload

log = logging.getLogger("tq.sessions.tasks")
DELETED_HOST = "deleted-user"


def channel_spec(session: Session, users: dict[ObjectId, User]) -> StreamChannelSpec:
    host = users.get(session.created_by)
    member_users = [users[uid] for uid in session.members if uid in users]
    return StreamChannelSpec(
        channel_id=session.stream_channel_id,
        created_by=host.stream_id if host else DELETED_HOST,
        members=[stream_user_payload(user) for user in member_users],
        data={
            "name": session.title,
            "sessionId": str(session.id),
            "problemId": session.problem_id,
            "language": session.language,
        },
        frozen=session.status in FINAL_STATUSES,
    )


async def sync_session_channel(
    engine: AIOEngine, redis: Redis, stream: StreamGateway, session_id: str
) -> dict[str, int]:
    """Converge Stream on the database: the channel exists with members = host + participants,
    frozen once the session is final, and is gone once the session is deleted. Reads current
    state every time, so repeated or reordered runs end the same."""
    if not stream.configured:
        log.info("sync_session_channel skipped: Stream is not configured")
        return {"skipped": 1}
    oid = parse_object_id(session_id)
    if oid is None:
        return {"invalid": 1}
    session = await engine.find_one(Session, Session.id == oid)
    if session is None:
        await stream.delete_channel(channel_id_for(oid))
        return {"deleted": 1}
    users = await get_users(engine, session.members)
    await stream.sync_channel(channel_spec(session, users))
    # Marked in step only if nothing changed meanwhile; a later change queued its own run.
    async with document_lock(redis, f"session:{session.id}"):
        await engine.get_collection(Session).update_one(
            {"_id": session.id, "updatedAt": session.updated_at, "streamSync": {"$ne": "ok"}},
            {"$set": {"streamSync": "ok"}},
        )
    return {"synced": 1}


async def expire_sessions(
    engine: AIOEngine,
    redis: Redis,
    *,
    grace_minutes: int,
    max_session_minutes: int,
    batch_size: int = 10_000,
    now: datetime | None = None,
) -> tuple[dict[str, int], list[ObjectId]]:
    """Close what time has passed by, in bulk: scheduled sessions nobody joined whose start is
    more than the grace ago → cancelled; active sessions past start + duration (or the maximum)
    + grace → completed (endTime set; a duration nobody gave stays unset, as nobody ended the
    session). Returns counts and the changed ids.

    The writes are a few conditional update_many statements expressed by the same filters as
    the candidates (one per distinct duration), not one per session or per id list: MongoDB
    serves them from the (status, startTime) index, and a backend that scans (the embedded
    FerretDB) scans a handful of times. Every candidate's write lock is taken first and
    sessions whose lock is held elsewhere (a host ending it right now) are left out, so the
    host's own conditional update decides them."""
    now = now or utcnow()
    grace = timedelta(minutes=grace_minutes)
    collection = engine.get_collection(Session)
    counts = {"cancelled": 0, "completed": 0}
    stamp = {"endTime": now, "updatedAt": now}

    lonely_filter = {
        "status": "scheduled",
        "participants.0": {"$exists": False},
        "startTime": {"$lt": now - grace},
    }
    lonely = [doc["_id"] async for doc in collection.find(lonely_filter, {"_id": 1})]
    # The shortest allowed duration bounds the candidates; each one's own deadline decides.
    overdue = collection.find(
        {"status": "active", "startTime": {"$lt": now - grace - timedelta(minutes=5)}},
        {"_id": 1, "startTime": 1, "duration": 1},
    )
    due: dict[ObjectId, int | None] = {}
    async for doc in overdue:
        minutes = doc.get("duration")
        if now > doc["startTime"] + timedelta(minutes=minutes or max_session_minutes) + grace:
            due[doc["_id"]] = minutes

    candidates = lonely + list(due)
    async with contextlib.AsyncExitStack() as locks:
        held: set[str] = set()
        for start in range(0, len(candidates), batch_size):
            keys = [f"session:{sid}" for sid in candidates[start : start + batch_size]]
            held.update(await locks.enter_async_context(DocumentLocks(redis, keys)))
        busy = [sid for sid in candidates if f"session:{sid}" not in held]
        not_busy = {"_id": {"$nin": busy}} if busy else {}
        if lonely:
            await collection.update_many(
                {**lonely_filter, **not_busy}, {"$set": {"status": "cancelled", **stamp}}
            )
        for minutes in {*due.values()}:
            deadline = now - grace - timedelta(minutes=minutes or max_session_minutes)
            await collection.update_many(
                {
                    "status": "active",
                    "duration": minutes,
                    "startTime": {"$lt": deadline},
                    **not_busy,
                },
                {"$set": {"status": "completed", **stamp}},
            )
    # What this run changed: its candidates that now carry exactly its endTime.
    wanted = set(candidates) - set(busy)
    changed: list[ObjectId] = []
    async for doc in collection.find(
        {"endTime": now, "updatedAt": now, "status": {"$in": ["cancelled", "completed"]}},
        {"_id": 1, "status": 1},
    ):
        if doc["_id"] in wanted:
            counts[doc["status"]] += 1
            changed.append(doc["_id"])
    return counts, changed
