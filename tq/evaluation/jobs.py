"""Evaluation jobs: move events a crash left in documents into the log, and announce the
record of each completed session once its chat has caught up with Stream."""

from __future__ import annotations

from tq.core.clients import Clients
from tq.core.time import Deadline
from tq.evaluation import service
from tq.jobs.registry import ANNOUNCE_RECORDS, FLUSH_SESSION_EVENTS, job


@job(FLUSH_SESSION_EVENTS)
async def flush_session_events(clients: Clients) -> dict[str, int]:
    """Events written with their change but not moved to the log yet (the process died right
    after the write, the expiry job's bulk update, the runner's writes) are moved now."""
    return await service.flush_pending_events(clients, Deadline(clients.settings.job_time_budget_s))


@job(ANNOUNCE_RECORDS)
async def announce_records(clients: Clients) -> dict[str, int]:
    """`record.ready` for each completed session not announced yet (its chat caught up with
    Stream first); within JOB_TIME_BUDGET_S, the rest next run."""
    return await service.announce_records(clients, Deadline(clients.settings.job_time_budget_s))
