"""Webhook jobs: the pump (logged events → deliveries; deliveries due → sent) and one attempt
of one delivery."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pymongo import ReturnDocument
from standardwebhooks import Webhook

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.metrics import WEBHOOK_DELIVERIES
from tq.core.ssrf import UnsafeUrl, pinned_request, resolve_public
from tq.core.time import Deadline, utcnow
from tq.evaluation.jobs import flush_pending_events
from tq.evaluation.schemas import ScorecardOut
from tq.evaluation.service import blind_scorecards, has_submitted, submitted_scorecard
from tq.integrations.models import WebhookDelivery, WebhookEndpoint
from tq.integrations.service import (
    LOG_TO_WEBHOOK,
    RESPONSE_KEEP,
    body_of,
    message_id,
    queue_deliveries,
    signing_secrets,
)
from tq.jobs.registry import DELIVER_WEBHOOK, PUMP_WEBHOOKS, job
from tq.notifications.models import Email
from tq.notifications.service import queue_emails
from tq.runner.models import CodeRun
from tq.runner.schemas import RunOut
from tq.sessions.models import Session, SessionEventRecord
from tq.sessions.schemas import SessionOut, render_session
from tq.users.models import User
from tq.users.service import get_user, get_users

log = logging.getLogger("tq.integrations.jobs")
# A delivery taken by a worker that died is taken again after this long.
LEASE = timedelta(minutes=2)


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
            next_attempt_at=now + LEASE,  # the first attempt is sent now
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
            {"$set": {"nextAttemptAt": now + LEASE}},
            projection={"_id": 1} if clients.settings.find_and_modify_projection else None,
        )
        if taken is None:
            break
        due.append([taken["_id"]])
    await clients.queue.enqueue_many(DELIVER_WEBHOOK, due)
    counts["due"] = len(due)
    return counts


def retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None


@job(DELIVER_WEBHOOK)
async def deliver_webhook(clients: Clients, key: str) -> dict[str, int]:
    """One attempt: sign with every current secret, POST (no redirects, WEBHOOK_TIMEOUT_S),
    then record the outcome and schedule the next attempt (the spec's schedule, never sooner
    than a 429's Retry-After), or finish. The address is checked again after DNS first."""
    settings = clients.settings
    deliveries = clients.engine.get_collection(WebhookDelivery)
    now = utcnow()
    doc = await deliveries.find_one_and_update(
        {
            "_id": key,
            "status": "pending",
            "$or": [{"claimedAt": None}, {"claimedAt": {"$lt": now - LEASE}}],
        },
        {"$set": {"claimedAt": now, "nextAttemptAt": now + LEASE}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        return {"skipped": 1}  # finished, or another worker has it
    delivery = WebhookDelivery.model_validate_doc(doc)
    endpoint_doc = await clients.engine.get_collection(WebhookEndpoint).find_one(
        {"_id": delivery.endpoint_id}
    )
    endpoint = WebhookEndpoint.model_validate_doc(endpoint_doc) if endpoint_doc else None
    if endpoint is None or not endpoint.enabled:
        reason = "the endpoint was deleted" if endpoint is None else "the endpoint is disabled"
        await deliveries.update_one(
            {"_id": key},
            {
                "$set": {
                    "status": "failed",
                    "lastError": reason,
                    "finishedAt": now,
                    "claimedAt": None,
                }
            },
        )
        return {"failed": 1}
    status: int | None = None
    body: str | None = None
    error: str | None = None
    wait: float | None = None
    started = time.perf_counter()
    try:
        addresses = await resolve_public(
            endpoint.url, allow_private=settings.webhooks_allow_private
        )
        url, pinned_headers, extensions = pinned_request(endpoint.url, addresses[0])
        signed_at = utcnow()
        signature = " ".join(
            Webhook(secret).sign(key, signed_at, delivery.payload)
            for secret in signing_secrets(settings, endpoint, signed_at)
        )
        headers = {
            "content-type": "application/json",
            "user-agent": "TalentQuotient-Webhooks/1",
            "webhook-id": key,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": signature,
            **pinned_headers,
        }
        # trust_env=False: no proxy from the environment decides where this goes.
        async with httpx.AsyncClient(
            timeout=settings.webhook_timeout_s, follow_redirects=False, trust_env=False
        ) as http:
            response = await http.post(
                url, content=delivery.payload, headers=headers, extensions=extensions
            )
        status = response.status_code
        body = response.text[:RESPONSE_KEEP]
        if status == 429:
            wait = retry_after_s(response)
    except UnsafeUrl as exc:
        error = exc.message
    except httpx.TimeoutException:
        error = f"no answer within {settings.webhook_timeout_s:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    latency = int((time.perf_counter() - started) * 1000)
    attempts = delivery.attempts + 1
    finished = utcnow()
    fields: dict[str, Any] = {
        "attempts": attempts,
        "lastStatus": status,
        "lastLatencyMs": latency,
        "lastResponse": body,
        "lastError": error,
        "claimedAt": None,
        "updatedAt": finished,
    }
    schedule = settings.webhook_retry_schedule_s
    succeeded = status is not None and 200 <= status < 300
    if succeeded:
        fields.update({"status": "succeeded", "finishedAt": finished, "nextAttemptAt": None})
    elif attempts >= len(schedule):
        fields.update({"status": "failed", "finishedAt": finished, "nextAttemptAt": None})
    else:
        delay = max(schedule[attempts], wait or 0.0)
        fields["nextAttemptAt"] = finished + timedelta(seconds=delay)
    await deliveries.update_one({"_id": key}, {"$set": fields})
    await _endpoint_health(clients, endpoint, succeeded, finished)
    outcome = "succeeded" if succeeded else fields.get("status", "retrying")
    WEBHOOK_DELIVERIES.labels(str(outcome)).inc()
    return {str(outcome): 1}


async def _endpoint_health(
    clients: Clients, endpoint: WebhookEndpoint, succeeded: bool, now: datetime
) -> None:
    """A success clears the failing streak; an endpoint failing continuously for
    WEBHOOK_DISABLE_AFTER_DAYS is disabled."""
    endpoints = clients.engine.get_collection(WebhookEndpoint)
    if succeeded:
        if endpoint.failing_since is not None:
            await endpoints.update_one({"_id": endpoint.id}, {"$set": {"failingSince": None}})
        return
    if endpoint.failing_since is None:
        await endpoints.update_one(
            {"_id": endpoint.id, "failingSince": None}, {"$set": {"failingSince": now}}
        )
        return
    limit = timedelta(days=clients.settings.webhook_disable_after_days)
    if now - endpoint.failing_since >= limit:
        disabled = await endpoints.update_one(
            {"_id": endpoint.id, "enabled": True},
            {
                "$set": {
                    "enabled": False,
                    "disabledReason": "every delivery failed for "
                    f"{clients.settings.webhook_disable_after_days:g} days",
                    "updatedAt": now,
                }
            },
        )
        if disabled.modified_count:
            log.warning("webhook endpoint %s disabled after failing continuously", endpoint.id)
            await _tell_owner(clients, endpoint)


async def _tell_owner(clients: Clients, endpoint: WebhookEndpoint) -> None:
    """One email to the owner per disabling (keyed by the failing streak's start)."""
    owner = await get_user(clients.engine, str(endpoint.owner_id))
    if owner is None:
        return
    since = int(endpoint.failing_since.timestamp()) if endpoint.failing_since else 0
    notice = Email(  # type: ignore[call-arg]
        key=f"webhook_disabled:{endpoint.id}:{since}",
        kind="webhook_disabled",
        to=owner.email,
        session_id=None,
        context={
            "name": owner.name,
            "url": endpoint.url,
            "endpoint_id": str(endpoint.id),
            "days": f"{clients.settings.webhook_disable_after_days:g}",
        },
    )
    await queue_emails(clients, [notice])
