"""Session jobs: keep each session's Stream channel in step with the database, close the
sessions time has passed by, and repair syncs that ran out of retries."""

from __future__ import annotations

import logging

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.jobs.registry import EXPIRE_SESSIONS, REPAIR_SESSION_SYNC, SYNC_SESSION_CHANNEL, job
from tq.sessions import store
from tq.sessions.channel import converge_channel

log = logging.getLogger("tq.sessions.jobs")


@job(SYNC_SESSION_CHANNEL)
async def sync_session_channel(clients: Clients, session_id: str) -> dict[str, int]:
    """Converge Stream on the database: the channel exists with members = host + participants,
    frozen once the session is final, and is gone once the session is deleted. Reads current
    state every time, so repeated or reordered runs end the same."""
    if not clients.stream.configured:
        log.info("sync_session_channel skipped: Stream is not configured")
        return {"skipped": 1}
    oid = parse_object_id(session_id)
    if oid is None:
        return {"invalid": 1}
    return {await converge_channel(clients, oid): 1}


@job(EXPIRE_SESSIONS)
async def expire_sessions(clients: Clients) -> dict[str, int]:
    """Cancel never-joined sessions past their start, complete overdue ones, then freeze their
    channels through sync_session_channel."""
    settings = clients.settings
    counts, to_sync = await store.close_overdue(
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
    ids = await store.out_of_step_ids(
        clients.engine, settings.repair_stream_after_s, settings.job_batch_size
    )
    await clients.queue.enqueue_many(SYNC_SESSION_CHANNEL, [[sid] for sid in ids])
    return {"sessions": len(ids)}
