"""Webhook jobs: the pump (logged events → deliveries; deliveries due → sent) and one attempt
of one delivery."""

from __future__ import annotations

import logging
from typing import Any

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.metrics import WEBHOOK_DELIVERIES
from tq.core.time import Deadline, utcnow
from tq.evaluation.schemas import ScorecardOut
from tq.evaluation.service import (
    blind_scorecards,
    flush_pending_events,
    has_submitted,
    submitted_scorecard,
)
from tq.integrations import delivery as delivery_steps
from tq.integrations.models import WebhookDelivery, WebhookEndpoint
from tq.integrations.service import (
    LOG_TO_WEBHOOK,
    body_of,
    get_endpoint,
    message_id,
    queue_deliveries,
)
from tq.jobs.registry import DELIVER_WEBHOOK, PUMP_WEBHOOKS, job
from tq.runner.models import CodeRun
from tq.runner.schemas import RunOut
from tq.sessions.models import Session, SessionEventRecord
from tq.sessions.schemas import SessionOut, render_session
from tq.users.models import User
from tq.users.service import get_user, get_users

log = logging.getLogger("tq.integrations.jobs")


def without_emails(out: SessionOut) -> dict[str, Any]:
    """The session as its host sees it, minus every member's email (a receiver is a third
    party)."""
    body = out.model_dump(mode="json", by_alias=True)
    for person in [body["host"], body["participant"], *body["participantsInfo"]]:
        if person:
            person["email"] = None
    return body


async def event_data(
    clients: Clients, session: Session, host: User, record: SessionEventRecord
) -> dict[str, Any]:
    """The `data` of a webhook: the same JSON the API returns for the object (no emails of
    other people, never notes)."""
    users = await get_users(clients.engine, session.members)
    shown = render_session(
        session,
        users,
        host,
        join_window_minutes=clients.settings.join_window_minutes,
        now=utcnow(),
    )
    data: dict[str, Any] = {"session": without_emails(shown)}
    kind = record.type
    if kind in ("member.joined", "member.left"):
        data["member"] = {"userId": record.data.get("userId"), "role": record.data.get("role")}
    elif kind == "invitation.accepted":
        data["invitation"] = {
            "_id": record.data.get("invitationId"),
            "role": record.data.get("role"),
            "acceptedBy": record.data.get("userId"),
        }
    elif kind == "scorecard.submitted":
        # The receiver's owner reads every payload in the delivery log: a scorecard's content
        # goes out only when the API would show it to them now (their own, or after they
        # submitted theirs). Otherwise only that it was submitted, and by whom.
        author = record.data.get("authorId")
        author_id = parse_object_id(str(author))
        card = await submitted_scorecard(clients.engine, session, author_id) if author_id else None
        if card is not None and (
            card.author_id == host.id or await has_submitted(clients.engine, session, host.id)
        ):
            data["scorecard"] = ScorecardOut.of(card, None).model_dump(mode="json", by_alias=True)
        else:
            data["scorecard"] = {
                "authorId": author,
                "status": "submitted",
                "submittedAt": card.submitted_at.isoformat()
                if card and card.submitted_at
                else None,
            }
    elif kind == "run.completed":
        run_id = parse_object_id(str(record.data.get("runId")))
        doc = await clients.engine.get_collection(CodeRun).find_one({"_id": run_id})
        if doc:
            run = RunOut.of(CodeRun.model_validate_doc(doc)).model_dump(mode="json", by_alias=True)
            data = {"run": run, "sessionId": str(session.id)}
    elif kind == "record.ready":
        data = {"sessionId": str(session.id), "record": f"/api/sessions/{session.id}/record"}
        # The whole panel's scorecards, under the same rule as the API's for the owner.
        blind = await blind_scorecards(clients.engine, session, host)
        data["scorecards"] = (
            [ScorecardOut.of(c, None).model_dump(mode="json", by_alias=True) for c in blind.cards]
            if blind.visible
            else None
        )
    elif kind == "expired":
        data["status"] = record.data.get("status")
    return data


async def dispatch(clients: Clients, record: SessionEventRecord) -> int:
    """One logged event → one delivery per enabled endpoint of the session's host subscribed
    to its type. Idempotent: the delivery key derives from the event and the endpoint."""
    kind = LOG_TO_WEBHOOK.get(record.type)
    if kind is None:
        return 0
    doc = await clients.engine.get_collection(Session).find_one({"_id": record.session_id})
    if doc is None:
        return 0
    session = Session.model_validate_doc(doc)
    cursor = clients.engine.get_collection(WebhookEndpoint).find(
        {"ownerId": session.created_by, "enabled": True, "events": kind}
    )
    endpoints = [WebhookEndpoint.model_validate_doc(e) async for e in cursor]
    if not endpoints:
        return 0
    host = await get_user(clients.engine, str(session.created_by))
    if host is None:
        return 0
    payload = body_of(kind, await event_data(clients, session, host, record), record.at)
    now = utcnow()
    deliveries = [
        # ODMantic declares `id` to type checkers even where another field is primary.
        WebhookDelivery(  # type: ignore[call-arg]
            key=message_id(f"{record.key}:{endpoint.id}"),
            endpoint_id=endpoint.id,
            owner_id=endpoint.owner_id,
            event_type=kind,
            payload=payload,
            next_attempt_at=now + delivery_steps.LEASE,  # the first attempt is sent now
        )
        for endpoint in endpoints
    ]
    return await queue_deliveries(clients, deliveries)


@job(PUMP_WEBHOOKS)
async def pump_webhooks(clients: Clients) -> dict[str, int]:
    """Move logged events out of documents, dispatch the ones not dispatched yet (oldest
    first), then send again the deliveries whose next attempt is due."""
    counts = {"events": 0, "deliveries": 0, "due": 0}
    # One budget for the whole run, its three steps included.
    deadline = Deadline(clients.settings.job_time_budget_s)
    await flush_pending_events(clients, deadline)
    batch = clients.settings.job_batch_size
    log_entries = clients.engine.get_collection(SessionEventRecord)
    cursor = log_entries.find({"dispatched": False}).sort([("at", 1)]).limit(batch)
    async for doc in cursor:
        if deadline.passed:
            break  # not dispatched yet: the next run's
        record = SessionEventRecord.model_validate_doc(doc)
        counts["deliveries"] += await dispatch(clients, record)
        await log_entries.update_one({"_id": record.key}, {"$set": {"dispatched": True}})
        counts["events"] += 1
    now = utcnow()
    deliveries = clients.engine.get_collection(WebhookDelivery)
    due: list[list[str]] = []
    for _ in range(batch):
        if deadline.passed:
            break
        # Leased as it is queued, so the next pump does not queue it again meanwhile.
        taken = await deliveries.find_one_and_update(
            {"status": "pending", "nextAttemptAt": {"$lte": now}},
            {"$set": {"nextAttemptAt": now + delivery_steps.LEASE}},
            projection={"_id": 1} if clients.settings.find_and_modify_projection else None,
        )
        if taken is None:
            break
        due.append([taken["_id"]])
    await clients.queue.enqueue_many(DELIVER_WEBHOOK, due)
    counts["due"] = len(due)
    return counts


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
