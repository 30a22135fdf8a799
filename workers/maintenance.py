"""Housekeeping jobs."""

from __future__ import annotations

from tq.chat.service import purge_webhook_events
from tq.jobs import repair
from tq.jobs.service import purge_job_runs as purge_runs
from workers.jobs import job
from workers.runtime import WorkerRuntime


@job("purge_job_runs", scheduled=True)
async def purge_job_runs(runtime: WorkerRuntime) -> dict[str, int]:
    """purge_job_runs(): drop run records (and applied webhook deliveries) past retention."""
    days = runtime.settings.job_runs_retention_days
    return {
        "runs_deleted": await purge_runs(runtime.engine, days),
        "webhook_events_deleted": await purge_webhook_events(runtime.engine, days),
    }


@job("repair_stream_sync", scheduled=True)
async def repair_stream_sync(runtime: WorkerRuntime) -> dict[str, int]:
    """repair_stream_sync(): queue again the Stream syncs of users and sessions still pending."""
    return await repair.repair_stream_sync(
        runtime.engine,
        runtime.queue,
        older_than_s=runtime.settings.repair_stream_after_s,
        limit=runtime.settings.job_batch_size,
    )
