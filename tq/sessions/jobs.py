"""Session jobs: keep each session's Stream channel in step with the database, close the
sessions time has passed by, and repair syncs that ran out of retries."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.locks import WriteLocks
from tq.core.time import utcnow
from tq.jobs.registry import EXPIRE_SESSIONS, REPAIR_SESSION_SYNC, SYNC_SESSION_CHANNEL, job
from tq.sessions.channel import push_channel
from tq.sessions.models import Session, SessionEvent, channel_id_for
from tq.users.service import get_users

log = logging.getLogger("tq.sessions.jobs")


@job(SYNC_SESSION_CHANNEL)
async def sync_session_channel(clients: Clients, session_id: str) -> dict[str, int]:
    """Converge Stream on the database: the channel exists with members = host + participants,
    frozen once the session is final, and is gone once the session is deleted. Reads current
    state every time, so repeated or reordered runs end the same."""
    engine, stream = clients.engine, clients.stream
    if not stream.configured:
        log.info("sync_session_channel skipped: Stream is not configured")
        return {"skipped": 1}
    oid = parse_object_id(session_id)
    if oid is None:
        return {"invalid": 1}
    doc = await engine.get_collection(Session).find_one({"_id": oid})
    if doc is None:
        await stream.delete_channel(channel_id_for(oid))
        return {"deleted": 1}
    session = Session.model_validate_doc(doc)
    await push_channel(clients, session, await get_users(engine, session.members))
    return {"synced": 1}


@job(EXPIRE_SESSIONS)
async def expire_sessions(clients: Clients) -> dict[str, int]:
    """Cancel never-joined sessions past their start, complete overdue ones, then freeze their
    channels through sync_session_channel."""
    settings = clients.settings
    counts, to_sync = await close_overdue_sessions(
        clients.engine,
        clients.locks,
        grace_minutes=settings.session_start_grace_minutes,
        max_session_minutes=settings.max_session_minutes,
        batch_size=settings.job_batch_size,
    )
    await clients.queue.enqueue_many(SYNC_SESSION_CHANNEL, [[str(sid)] for sid in to_sync])
    return counts


@job(REPAIR_SESSION_SYNC)
async def repair_session_sync(clients: Clients) -> dict[str, int]:
    """Sessions still `streamSync: "pending"` a while after their last change (the sync's
    retries ran out during a long outage) get `sync_session_channel` queued again. The sync
    converges on the database, so a spare run is harmless."""
    settings = clients.settings
    queued = await clients.queue.requeue_pending_syncs(
        Session,
        SYNC_SESSION_CHANNEL,
        older_than_s=settings.repair_stream_after_s,
        limit=settings.job_batch_size,
    )
    return {"sessions": queued}


async def close_overdue_sessions(
    engine: AIOEngine,
    locks: WriteLocks,
    *,
    grace_minutes: int,
    max_session_minutes: int,
    batch_size: int = 10_000,
    now: datetime | None = None,
) -> tuple[dict[str, int], list[ObjectId]]:
    """Close what time has passed by, in bulk: scheduled sessions nobody joined whose start is
    more than the grace ago → cancelled; active sessions past start + duration (or the maximum)
    + grace → completed (endTime set; a duration nobody gave stays unset, as nobody ended the
    session). Returns the counts this run changed and the ids whose channel to freeze.

    Three statements whatever the number of sessions: one read of the candidates and one
    conditional update_many per target status, expressed by the same filters as the candidates
    (one `$or` clause per distinct duration). MongoDB serves them from the (status, startTime)
    index; a backend that scans (the embedded FerretDB) scans three times. Every candidate's
    write lock is taken first and sessions whose lock is held elsewhere (a host ending it right
    now) are left out, so the host's own conditional update decides them.

    The ids to sync are the candidates this run tried to close: a few may have been ended by
    their host between the read and the lock, and syncing those again is harmless (the sync
    reads current state). Every closed session is also marked `streamSync: "pending"`, so
    repair_session_sync freezes its channel should the sync never be queued (a worker killed
    right after the update, whose retry finds nothing left to close)."""
    now = now or utcnow()
    grace = timedelta(minutes=grace_minutes)
    collection = engine.get_collection(Session)
    stamp = {"endTime": now, "updatedAt": now, "streamSync": "pending", "eventsPending": True}

    def expired(to: str) -> dict[str, Any]:
        # The event rides in the same update_many (its id is unique within each session).
        event = SessionEvent(
            id=f"expired-{to}-{int(now.timestamp() * 1000)}",
            type="expired",
            actor_id=None,
            at=now,
            data={"status": to},
        )
        return {"outboxEvents": event.model_dump_doc()}

    lonely_filter = {
        "status": "scheduled",
        "participants.0": {"$exists": False},
        "startTime": {"$lt": now - grace},
    }
    # The shortest allowed duration bounds the active candidates; each one's own deadline decides.
    active_filter = {"status": "active", "startTime": {"$lt": now - grace - timedelta(minutes=5)}}
    lonely: list[ObjectId] = []
    due: dict[ObjectId, int | None] = {}
    async for doc in collection.find(
        {"$or": [lonely_filter, active_filter]},
        {"_id": 1, "status": 1, "startTime": 1, "duration": 1},
    ):
        if doc["status"] == "scheduled":
            lonely.append(doc["_id"])
            continue
        minutes = doc.get("duration")
        if now > doc["startTime"] + timedelta(minutes=minutes or max_session_minutes) + grace:
            due[doc["_id"]] = minutes

    candidates = lonely + list(due)
    counts = {"cancelled": 0, "completed": 0}
    async with contextlib.AsyncExitStack() as stack:
        held: set[str] = set()
        for start in range(0, len(candidates), batch_size):
            keys = [f"session:{sid}" for sid in candidates[start : start + batch_size]]
            held.update(await stack.enter_async_context(locks.hold_many(keys)))
        busy = [sid for sid in candidates if f"session:{sid}" not in held]
        not_busy = {"_id": {"$nin": busy}} if busy else {}
        if lonely:
            cancelled = await collection.update_many(
                {**lonely_filter, **not_busy},
                {"$set": {"status": "cancelled", **stamp}, "$push": expired("cancelled")},
            )
            counts["cancelled"] = cancelled.modified_count
        if due:
            deadlines = [
                {
                    "duration": minutes,
                    "startTime": {
                        "$lt": now - grace - timedelta(minutes=minutes or max_session_minutes)
                    },
                }
                for minutes in sorted({*due.values()}, key=lambda m: m or 0)
            ]
            completed = await collection.update_many(
                {"status": "active", "$or": deadlines, **not_busy},
                {"$set": {"status": "completed", **stamp}, "$push": expired("completed")},
            )
            counts["completed"] = completed.modified_count
    skipped = set(busy)
    return counts, [sid for sid in candidates if sid not in skipped]
