"""User jobs: keep Stream's users in step with the database."""

from __future__ import annotations

import logging

from tq.core.clients import Clients
from tq.jobs.registry import DELETE_STREAM_USER, REPAIR_USER_SYNC, SYNC_USER, job
from tq.users.models import User
from tq.users.service import push_user

log = logging.getLogger("tq.users.jobs")


@job(SYNC_USER)
async def sync_user(clients: Clients, user_id: str) -> dict[str, int]:
    """Make Stream's copy of the user match the database (upsert: id = streamId, name, image).
    Idempotent."""
    if not clients.stream.configured:
        log.info("sync_user skipped: Stream is not configured")
        return {"skipped": 1}
    return {await push_user(clients, user_id): 1}


@job(DELETE_STREAM_USER)
async def delete_stream_user(clients: Clients, stream_id: str) -> dict[str, int]:
    """Remove a deleted account's user from Stream."""
    if not clients.stream.configured:
        log.info("delete_stream_user skipped: Stream is not configured")
        return {"skipped": 1}
    await clients.stream.delete_user(stream_id)
    return {"deleted": 1}


@job(REPAIR_USER_SYNC)
async def repair_user_sync(clients: Clients) -> dict[str, int]:
    """Users still `streamSync: "pending"` a while after their last change (their sync's
    retries ran out during a long outage) get `sync_user` queued again. The sync converges on
    the database, so a spare run is harmless."""
    settings = clients.settings
    queued = await clients.queue.requeue_pending_syncs(
        User,
        SYNC_USER,
        older_than_s=settings.repair_stream_after_s,
        limit=settings.job_batch_size,
    )
    return {"users": queued}
