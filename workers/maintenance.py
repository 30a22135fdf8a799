"""Housekeeping jobs."""

from __future__ import annotations

from tq.chat.service import purge_webhook_events
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
