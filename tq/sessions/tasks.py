"""Job logic for sessions: make a session's Stream channel match the database."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from pymongo import UpdateOne
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
    updates: dict[ObjectId, tuple[dict[str, Any], dict[str, Any]]],
    closed_at: datetime,
) -> list[ObjectId]:
    """Apply {id: (filter, $set)} as one bulk write, each a conditional update under the
    session's write lock; returns the ids that changed. Locked sessions wait for the next run."""
    if not updates:
        return []
    keys = {f"session:{sid}": sid for sid in updates}
    async with DocumentLocks(redis, list(keys)) as held:
        ids = [keys[key] for key in held]
        if not ids:
            return []
        requests = [
            UpdateOne({"_id": sid, **updates[sid][0]}, {"$set": updates[sid][1]}) for sid in ids
        ]
        await engine.get_collection(Session).bulk_write(requests, ordered=False)
        # Which of them this run changed: their status and endTime are now exactly ours.
        marks = {(sid, updates[sid][1]["status"]) for sid in ids}
        changed = engine.get_collection(Session).find(
            {"_id": {"$in": ids}, "endTime": closed_at},
            {"_id": 1, "status": 1},
        )
        return [doc["_id"] async for doc in changed if (doc["_id"], doc["status"]) in marks]


async def expire_sessions(
    engine: AIOEngine,
    redis: Redis,
    *,
    grace_minutes: int,
    max_session_minutes: int,
    batch_size: int = 1000,
    now: datetime | None = None,
) -> tuple[dict[str, int], list[ObjectId]]:
    """Close what time has passed by, in bulk: scheduled sessions nobody joined whose start is
    more than the grace ago → cancelled; active sessions past start + duration (or the maximum)
    + grace → completed. Each is a conditional update on the current status, so a host ending a
    session at the same moment is never overwritten. Returns counts and the changed ids."""
    now = now or utcnow()
    grace = timedelta(minutes=grace_minutes)
    collection = engine.get_collection(Session)
    changed: list[ObjectId] = []
    counts = {"cancelled": 0, "completed": 0}

    async def pages(filter_: dict[str, Any], fields: dict[str, int]) -> Any:
        last: ObjectId | None = None
        while True:
            page_filter = {**filter_, **({"_id": {"$gt": last}} if last else {})}
            docs = await collection.find(page_filter, fields).sort("_id", 1).to_list(batch_size)
            if not docs:
                return
            last = docs[-1]["_id"]
            yield docs

    never_joined = {
        "status": "scheduled",
        "startTime": {"$lt": now - grace},
        "participants.0": {"$exists": False},
    }
    async for docs in pages(never_joined, {"_id": 1}):
        updates = {
            doc["_id"]: (
                {"status": "scheduled", "participants.0": {"$exists": False}},
                {"status": "cancelled", "endTime": now, "updatedAt": now},
            )
            for doc in docs
        }
        ids = await _bulk_close(engine, redis, updates, now)
        counts["cancelled"] += len(ids)
        changed += ids

    # The shortest allowed duration bounds the candidates; each one's own deadline decides.
    overdue = {"status": "active", "startTime": {"$lt": now - grace - timedelta(minutes=5)}}
    async for docs in pages(overdue, {"_id": 1, "startTime": 1, "duration": 1}):
        updates = {}
        for doc in docs:
            minutes = doc.get("duration") or max_session_minutes
            start = doc["startTime"]
            if now <= start + timedelta(minutes=minutes) + grace:
                continue
            fields: dict[str, Any] = {"status": "completed", "endTime": now, "updatedAt": now}
            if doc.get("duration") is None:
                fields["duration"] = max(1, math.ceil((now - start).total_seconds() / 60))
            updates[doc["_id"]] = ({"status": "active"}, fields)
        ids = await _bulk_close(engine, redis, updates, now)
        counts["completed"] += len(ids)
        changed += ids
    return counts, changed
