"""Session jobs: keep each session's Stream channel in step with the database."""

from __future__ import annotations

from tq.sessions import tasks as session_jobs
from workers.jobs import job
from workers.runtime import WorkerRuntime


@job("sync_session_channel")
async def sync_session_channel(runtime: WorkerRuntime, session_id: str) -> dict[str, int]:
    """sync_session_channel(session_id): channel exists, members = host + participants, frozen
    when final, deleted with the session."""
    return await session_jobs.sync_session_channel(
        runtime.engine, runtime.redis, runtime.stream, session_id
    )
