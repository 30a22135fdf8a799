"""The job platform's own housekeeping."""

from __future__ import annotations

from tq.core.clients import Clients
from tq.jobs.registry import PURGE_JOB_RUNS, job
from tq.jobs.service import purge_finished_runs


@job(PURGE_JOB_RUNS)
async def purge_job_runs(clients: Clients) -> dict[str, int]:
    """Drop finished run records older than JOB_RUNS_RETENTION_DAYS."""
    days = clients.settings.job_runs_retention_days
    return {"runs_deleted": await purge_finished_runs(clients.engine, days)}
