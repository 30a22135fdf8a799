"""Repair of Stream work that failed for good (retries exhausted during a long outage): users
and sessions still marked `streamSync: "pending"` a while after their last change get their
sync job queued again. Jobs converge on the database, so a spare run is harmless."""

from __future__ import annotations

from datetime import timedelta

from odmantic import AIOEngine

from tq.core.time import utcnow
from tq.jobs.queue import JobQueue
from tq.sessions.models import Session
from tq.users.models import User


async def repair_stream_sync(
    engine: AIOEngine, queue: JobQueue, *, older_than_s: float, limit: int
) -> dict[str, int]:
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    counts = {"users": 0, "sessions": 0}
    for model, job, key in (
        (User, "sync_user", "users"),
        (Session, "sync_session_channel", "sessions"),
    ):
        stale = (
            engine.get_collection(model)
            .find({"streamSync": "pending", "updatedAt": {"$lt": cutoff}}, {"_id": 1})
            .limit(limit)
        )
        async for doc in stale:
            await queue.enqueue(job, str(doc["_id"]))
            counts[key] += 1
    return counts
