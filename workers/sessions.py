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


@job("expire_sessions", scheduled=True)
async def expire_sessions(runtime: WorkerRuntime) -> dict[str, int]:
    """expire_sessions(): cancel never-joined sessions past their start, complete overdue ones,
    then freeze their channels through sync_session_channel."""
    settings = runtime.settings
    counts, to_sync = await session_jobs.expire_sessions(
        runtime.engine,
        runtime.redis,
        grace_minutes=settings.session_start_grace_minutes,
        max_session_minutes=settings.max_session_minutes,
        batch_size=settings.job_batch_size,
    )
    await runtime.queue.enqueue_many("sync_session_channel", [[str(sid)] for sid in to_sync])
    return counts
