"""Organization jobs: the one-off migration of existing accounts into personal organizations."""

from __future__ import annotations

from tq.core.clients import Clients
from tq.core.time import Deadline
from tq.jobs.registry import MIGRATE_TO_ORGS, job
from tq.orgs import service


@job(MIGRATE_TO_ORGS)
async def migrate_to_orgs(clients: Clients) -> dict[str, int]:
    """Every account's personal organization, holding its sessions and webhook endpoints;
    within JOB_TIME_BUDGET_S, then where it stopped on the next run."""
    return await service.migrate_to_personal_orgs(
        clients, Deadline(clients.settings.job_time_budget_s)
    )
