"""Job logic for users (called by the Celery tasks in workers/, and testable without them)."""

from __future__ import annotations

import logging

from odmantic import AIOEngine
from redis.asyncio import Redis

from tq.core.locks import document_lock
from tq.core.stream import StreamGateway
from tq.users.models import User
from tq.users.service import get_user, stream_user_payload

log = logging.getLogger("tq.users.tasks")


async def sync_user(
    engine: AIOEngine, redis: Redis, stream: StreamGateway, user_id: str
) -> dict[str, int]:
    """Make Stream's copy of the user match the database (upsert). Idempotent."""
    if not stream.configured:
        log.info("sync_user skipped: Stream is not configured")
        return {"skipped": 1}
    user = await get_user(engine, user_id)
    if user is None:
        return {"missing": 1}  # deleted since: delete_stream_user takes care of Stream
    await stream.upsert_user(stream_user_payload(user))
    # In step, unless the profile changed meanwhile (that change queued its own sync).
    async with document_lock(redis, f"user:{user.id}"):
        await engine.get_collection(User).update_one(
            {"_id": user.id, "updatedAt": user.updated_at}, {"$set": {"streamSync": "ok"}}
        )
    return {"upserted": 1}


async def delete_stream_user(stream: StreamGateway, stream_id: str) -> dict[str, int]:
    if not stream.configured:
        log.info("delete_stream_user skipped: Stream is not configured")
        return {"skipped": 1}
    await stream.delete_user(stream_id)
    return {"deleted": 1}
