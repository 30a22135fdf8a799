"""Chat jobs: apply stored Stream events, purge old ones, and archive the chat of finished
sessions (tq/chat/archive.py)."""

from __future__ import annotations

from tq.chat import store
from tq.chat.archive import archive_finished_sessions
from tq.core.clients import Clients
from tq.jobs.registry import (
    ARCHIVE_CHAT_HISTORY,
    PROCESS_STREAM_EVENT,
    PURGE_STREAM_EVENTS,
    job,
)


@job(PROCESS_STREAM_EVENT)
async def process_stream_event(clients: Clients, event_key: str) -> dict[str, int]:
    """Apply a stored Stream event that could not be applied on arrival (idempotent)."""
    outcome = await store.process_stored_event(clients.engine, clients.redis, event_key)
    return {outcome: 1}


@job(PURGE_STREAM_EVENTS)
async def purge_stream_events(clients: Clients) -> dict[str, int]:
    """Applied Stream events older than JOB_RUNS_RETENTION_DAYS are no longer needed."""
    deleted = await store.purge_applied_events(
        clients.engine, clients.settings.job_runs_retention_days
    )
    return {"deleted": deleted}


@job(ARCHIVE_CHAT_HISTORY)
async def archive_chat_history(clients: Clients) -> dict[str, int]:
    """Move the chat of sessions final for CHAT_ARCHIVE_AFTER_DAYS into compressed chunks,
    after pulling what Stream has that we lack."""
    settings = clients.settings
    return await archive_finished_sessions(
        clients.engine,
        clients.redis,
        clients.locks,
        clients.stream,
        after_days=settings.chat_archive_after_days,
        chunk_size=settings.chat_archive_chunk_size,
        budget_s=settings.job_time_budget_s,
    )
