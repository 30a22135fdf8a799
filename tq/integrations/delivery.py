"""One attempt of one outbound webhook delivery, in its parts: claim it (a lease, so one worker
has it), sign and send it, decide what comes next (`next_attempt`, pure), and record the
outcome with the endpoint's health. The `deliver_webhook` job strings them together."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from odmantic import AIOEngine
from pymongo import ReturnDocument
from standardwebhooks import Webhook

from config import Settings
from tq.core.clients import Clients
from tq.core.ssrf import UnsafeUrl, pinned_request, resolve_public
from tq.core.time import utcnow
from tq.integrations.models import WebhookDelivery, WebhookEndpoint
from tq.integrations.service import LEASE, RESPONSE_KEEP, signing_secrets
from tq.notifications.models import Email
from tq.notifications.service import queue_emails
from tq.users.service import get_user

log = logging.getLogger("tq.integrations.delivery")


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


@dataclass(frozen=True)
class Attempt:
    """What one POST gave: a status and the start of the body, or why there was none."""

    status: int | None = None
    body: str | None = None
    error: str | None = None
    retry_after_s: float | None = None  # a 429's Retry-After
    latency_ms: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Outcome = Literal["succeeded", "failed", "retrying"]


def next_attempt(
    attempts: int, schedule: Sequence[float], attempt: Attempt, now: datetime
) -> tuple[Outcome, datetime | None]:
    """After `attempts` attempts (this one included): done, given up, or when to try again
    (the schedule's delay for the next attempt, never sooner than a 429's Retry-After)."""
    if attempt.succeeded:
        return "succeeded", None
    if attempts >= len(schedule):
        return "failed", None
    delay = max(schedule[attempts], attempt.retry_after_s or 0.0)
    return "retrying", now + timedelta(seconds=delay)


async def claim(engine: AIOEngine, key: str, now: datetime) -> WebhookDelivery | None:
    """The pending delivery, leased to this worker; None when it is finished or another
    worker holds it."""
    doc = await engine.get_collection(WebhookDelivery).find_one_and_update(
        {
            "_id": key,
            "status": "pending",
            "$or": [{"claimedAt": None}, {"claimedAt": {"$lt": now - LEASE}}],
        },
        {"$set": {"claimedAt": now, "nextAttemptAt": now + LEASE}},
        return_document=ReturnDocument.AFTER,
    )
    return WebhookDelivery.model_validate_doc(doc) if doc else None


async def give_up(engine: AIOEngine, key: str, reason: str, now: datetime) -> None:
    await engine.get_collection(WebhookDelivery).update_one(
        {"_id": key},
        {"$set": {"status": "failed", "lastError": reason, "finishedAt": now, "claimedAt": None}},
    )


async def sign_and_send(
    settings: Settings, endpoint: WebhookEndpoint, delivery: WebhookDelivery
) -> Attempt:
    """Sign with every current secret and POST (no redirects, WEBHOOK_TIMEOUT_S, no proxy),
    to the address checked after DNS."""
    key = delivery.key
    started = time.perf_counter()
    status, body, error, wait = None, None, None, None
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
    return Attempt(status, body, error, wait, latency)


async def record(
    clients: Clients, delivery: WebhookDelivery, endpoint: WebhookEndpoint, attempt: Attempt
) -> Outcome:
    """Store the attempt and what comes next, and update the endpoint's health."""
    attempts = delivery.attempts + 1
    finished = utcnow()
    outcome, next_at = next_attempt(
        attempts, clients.settings.webhook_retry_schedule_s, attempt, finished
    )
    fields: dict[str, Any] = {
        "attempts": attempts,
        "lastStatus": attempt.status,
        "lastLatencyMs": attempt.latency_ms,
        "lastResponse": attempt.body,
        "lastError": attempt.error,
        "claimedAt": None,
        "updatedAt": finished,
        "nextAttemptAt": next_at,
    }
    if outcome != "retrying":
        fields.update({"status": outcome, "finishedAt": finished})
    await clients.engine.get_collection(WebhookDelivery).update_one(
        {"_id": delivery.key}, {"$set": fields}
    )
    await _endpoint_health(clients, endpoint, attempt.succeeded, finished)
    return outcome


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
