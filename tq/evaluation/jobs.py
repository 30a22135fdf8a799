"""Evaluation jobs: move events a crash left in documents into the log, and announce the
record of each completed session once its chat has caught up with Stream."""

from __future__ import annotations

import logging

from tq.chat.store import import_from_stream
from tq.core.clients import Clients
from tq.core.time import Deadline, utcnow
from tq.evaluation.service import flush_pending_events
from tq.jobs.registry import ANNOUNCE_RECORDS, FLUSH_SESSION_EVENTS, job
from tq.sessions.log import flush_events, session_event
from tq.sessions.models import Session
from tq.sessions.service import conditional_update

log = logging.getLogger("tq.evaluation.jobs")


@job(FLUSH_SESSION_EVENTS)
async def flush_session_events(clients: Clients) -> dict[str, int]:
    """Events written with their change but not moved to the log yet (the process died right
    after the write, the expiry job's bulk update, the runner's writes) are moved now."""
    return await flush_pending_events(clients, Deadline(clients.settings.job_time_budget_s))


@job(ANNOUNCE_RECORDS)
async def announce_records(clients: Clients) -> dict[str, int]:
    """Each completed session whose record was not announced: its chat is first caught up with
    Stream (what Stream holds that we lack is stored), then `record.ready` joins its log,
    once (the session is claimed by `recordReadyAt`). Stream away: the job retries."""
    sessions = clients.engine.get_collection(Session)
    deadline = Deadline(clients.settings.job_time_budget_s)
    due = sessions.find({"status": "completed", "recordReadyAt": None}).limit(
        clients.settings.job_batch_size
    )
    counts = {"announced": 0, "imported": 0, "stopped_at_budget": 0}
    async for doc in due:
        if deadline.passed:
            counts["stopped_at_budget"] = 1  # the rest keep recordReadyAt null: next run's
            break
        session = Session.model_validate_doc(doc)
        if clients.stream.configured and session.archived_at is None:
            counts["imported"] += await import_from_stream(
                clients.engine, clients.redis, clients.stream, session
            )
        announced = await conditional_update(
            clients,
            {"_id": session.id, "recordReadyAt": None},
            {"$set": {"recordReadyAt": utcnow()}},
            [session_event("record.ready", None, path=f"/api/sessions/{session.id}/record")],
        )
        if announced is not None:
            await flush_events(clients, announced)
            counts["announced"] += 1
    return counts
