"""Chat jobs: apply stored Stream webhook events that could not be applied on arrival."""

from __future__ import annotations

from tq.chat import service as chat
from workers.jobs import job
from workers.runtime import WorkerRuntime


@job("process_webhook_event")
async def process_webhook_event(runtime: WorkerRuntime, event_key: str) -> dict[str, int]:
    """process_webhook_event(event_key): apply a stored webhook event (idempotent)."""
    outcome = await chat.process_stored_event(runtime.engine, runtime.redis, event_key)
    return {outcome: 1}
