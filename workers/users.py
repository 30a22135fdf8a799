"""User jobs: keep Stream's users in step with the database."""

from __future__ import annotations

from tq.users import tasks as user_jobs
from workers.jobs import job
from workers.runtime import WorkerRuntime


@job("sync_user")
async def sync_user(runtime: WorkerRuntime, user_id: str) -> dict[str, int]:
    """sync_user(user_id): upsert the user to Stream (id = streamId, name, image)."""
    return await user_jobs.sync_user(runtime.engine, runtime.redis, runtime.stream, user_id)


@job("delete_stream_user")
async def delete_stream_user(runtime: WorkerRuntime, stream_id: str) -> dict[str, int]:
    """delete_stream_user(stream_id): remove a deleted account's user from Stream."""
    return await user_jobs.delete_stream_user(runtime.stream, stream_id)
