"""Webhook jobs: the pump (logged events → deliveries; deliveries due → sent) and one attempt
of one delivery."""

from __future__ import annotations

from tq.core.clients import Clients
from tq.core.metrics import WEBHOOK_DELIVERIES
from tq.core.time import Deadline, utcnow
from tq.integrations import delivery as delivery_steps
from tq.integrations.service import get_endpoint, pump
from tq.jobs.registry import DELIVER_WEBHOOK, PUMP_WEBHOOKS, job


@job(PUMP_WEBHOOKS)
async def pump_webhooks(clients: Clients) -> dict[str, int]:
    """Logged events → deliveries, and deliveries due → queued; one budget for the whole run
    (JOB_TIME_BUDGET_S), its three steps included."""
    return await pump(clients, Deadline(clients.settings.job_time_budget_s))


@job(DELIVER_WEBHOOK)
async def deliver_webhook(clients: Clients, key: str) -> dict[str, int]:
    """One attempt of one delivery (tq.integrations.delivery): claimed, signed and sent, its
    outcome recorded and the next attempt scheduled, or finished."""
    now = utcnow()
    delivery = await delivery_steps.claim(clients.engine, key, now)
    if delivery is None:
        return {"skipped": 1}  # finished, or another worker has it
    endpoint = await get_endpoint(clients.engine, delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        reason = "the endpoint was deleted" if endpoint is None else "the endpoint is disabled"
        await delivery_steps.give_up(clients.engine, key, reason, now)
        return {"failed": 1}
    attempt = await delivery_steps.sign_and_send(clients.settings, endpoint, delivery)
    outcome = await delivery_steps.record(clients, delivery, endpoint, attempt)
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    return {outcome: 1}
