"""Job logic for users (called by the Celery tasks in workers/, and testable without them)."""

from __future__ import annotations

import logging

from odmantic import AIOEngine

from tq.core.stream import StreamGateway
from tq.users.service import get_user, stream_user_payload

log = logging.getLogger("tq.users.tasks")


async def sync_user(engine: AIOEngine, stream: StreamGateway, user_id: str) -> dict[str, int]:
    """Make Stream's copy of the user match the database (upsert). Idempotent."""
    if not stream.configured:
        log.info("sync_user skipped: Stream is not configured")
        return {"skipped": 1}
    user = await get_user(engine, user_id)
    if user is None:
        return {"missing": 1}  # deleted since: delete_stream_user takes care of Stream
    await stream.upsert_user(stream_user_payload(user))
    return {"upserted": 1}


async def delete_stream_user(stream: StreamGateway, stream_id: str) -> dict[str, int]:
    if not stream.configured:
        log.info("delete_stream_user skipped: Stream is not configured")
        return {"skipped": 1}
    await stream.delete_user(stream_id)
    return {"deleted": 1}
