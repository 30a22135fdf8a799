"""Job logic for sessions: make a session's Stream channel match the database."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

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


async def _bulk_close(
    engine: AIOEngine,
    redis: Redis,
    ids: list[ObjectId],
    condition: dict[str, Any],
    status: str,
    closed_at: datetime,
) -> list[ObjectId]:
    """Close `ids` with one conditional update_many (still `condition`, e.g. still active),
    under the sessions' write locks; returns the ids this run changed. Sessions whose lock is
    held elsewhere wait for the next run."""
    if not ids:
        return []
    keys = {f"session:{sid}": sid for sid in ids}
    collection = engine.get_collection(Session)
    async with DocumentLocks(redis, list(keys)) as held:
        locked = [keys[key] for key in held]
        if not locked:
            return []
        await collection.update_many(
            {"_id": {"$in": locked}, **condition},
            {"$set": {"status": status, "endTime": closed_at, "updatedAt": closed_at}},
        )
        # Which of them this run changed: their status and endTime are now exactly ours.
        changed = collection.find(
            {"_id": {"$in": locked}, "status": status, "endTime": closed_at}, {"_id": 1}
        )
        return [doc["_id"] async for doc in changed]


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
    session). Each batch is one conditional update on the current status, so a host ending a
    session at the same moment is never overwritten. Returns counts and the changed ids."""
    now = now or utcnow()
    grace = timedelta(minutes=grace_minutes)
    collection = engine.get_collection(Session)
    changed: list[ObjectId] = []
    counts = {"cancelled": 0, "completed": 0}

    async def close(ids: list[ObjectId], condition: dict[str, Any], status: str) -> None:
        # `batch_size` ids per conditional update_many: a handful of statements even for
        # 100,000 sessions (a backend without index use, like FerretDB, scans once per batch).
        for start in range(0, len(ids), batch_size):
            closed = await _bulk_close(
                engine, redis, ids[start : start + batch_size], condition, status, now
            )
            counts[status] += len(closed)
            changed.extend(closed)

    never_joined = {"status": "scheduled", "participants.0": {"$exists": False}}
    lonely = collection.find({**never_joined, "startTime": {"$lt": now - grace}}, {"_id": 1})
    await close([doc["_id"] async for doc in lonely], never_joined, "cancelled")

    # The shortest allowed duration bounds the candidates; each one's own deadline decides.
    overdue = collection.find(
        {"status": "active", "startTime": {"$lt": now - grace - timedelta(minutes=5)}},
        {"_id": 1, "startTime": 1, "duration": 1},
    )
    due = [
        doc["_id"]
        async for doc in overdue
        if now
        > doc["startTime"] + timedelta(minutes=doc.get("duration") or max_session_minutes) + grace
    ]
    await close(due, {"status": "active"}, "completed")
    return counts, changed
