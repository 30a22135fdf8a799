"""Chat jobs: apply stored Stream webhook events that could not be applied on arrival."""

from __future__ import annotations

from tq.chat import archive as chat_archive
from tq.chat import service as chat
from workers.jobs import job
from workers.runtime import WorkerRuntime


@job("process_webhook_event")
async def process_webhook_event(runtime: WorkerRuntime, event_key: str) -> dict[str, int]:
    """process_webhook_event(event_key): apply a stored webhook event (idempotent)."""
    outcome = await chat.process_stored_event(runtime.engine, runtime.redis, event_key)
    return {outcome: 1}


@job("archive_chat_history", scheduled=True, lock_s=3600)
async def archive_chat_history(runtime: WorkerRuntime) -> dict[str, int]:
    """archive_chat_history(): move the chat of sessions final for CHAT_ARCHIVE_AFTER_DAYS into
    compressed chunks, after pulling what Stream has that we lack."""
    settings = runtime.settings
    return await chat_archive.archive_chat_history(
        runtime.engine,
        runtime.redis,
        runtime.stream,
        after_days=settings.chat_archive_after_days,
        chunk_size=settings.chat_archive_chunk_size,
    )
