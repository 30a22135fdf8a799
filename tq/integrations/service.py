"""Outbound webhooks (the Standard Webhooks specification): endpoints an interviewer registers,
events of the sessions they host, signed deliveries retried on the spec's schedule, and a
delivery log with replay.

Events come from the session event log (tq/sessions/log.py), which is written with each change:
the pump turns every logged event not yet dispatched into one delivery per subscribed endpoint,
so a change never happens without its webhook being queued."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from config import Settings
from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.errors import Conflict, NotFound
from tq.core.security import derived_secret, new_nonce
from tq.core.ssrf import resolve_public
from tq.core.time import utcnow
from tq.integrations.models import EndpointSecret, WebhookDelivery, WebhookEndpoint
from tq.integrations.schemas import DeliveryQuery, EndpointIn, EndpointUpdateIn, PageQuery
from tq.jobs.registry import DELIVER_WEBHOOK
from tq.users.models import User

log = logging.getLogger("tq.integrations")
SECRET_PURPOSE = "webhook-secret"  # noqa: S105 - a label, not a secret
RESPONSE_KEEP = 2048
# Session log event → webhook event type (others are not sent).
LOG_TO_WEBHOOK = {
    "created": "session.created",
    "updated": "session.updated",
    "started": "session.started",
    "completed": "session.completed",
    "cancelled": "session.cancelled",
    "expired": "session.expired",
    "member.joined": "member.joined",
    "member.left": "member.left",
    "invitation.accepted": "invitation.accepted",
    "scorecard.submitted": "scorecard.submitted",
    "run.completed": "run.completed",
    "record.ready": "record.ready",
}


# --- secrets


def _key(settings: Settings) -> str:
    return settings.webhook_signing_key or settings.jwt_secret


def secret_of(settings: Settings, endpoint_id: ObjectId, nonce: str) -> str:
    raw = derived_secret(_key(settings), SECRET_PURPOSE, str(endpoint_id), nonce)
    return "whsec_" + base64.b64encode(raw).decode()


def signing_secrets(settings: Settings, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and a rotated one still inside its grace period."""
    return [
        secret_of(settings, endpoint.id, s.nonce)
        for s in endpoint.secrets
        if s.expires_at is None or s.expires_at > now
    ]


def message_id(seed: str) -> str:
    return "msg_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


# --- endpoints


def _endpoints(engine: AIOEngine) -> Any:
    return engine.get_collection(WebhookEndpoint)


def _deliveries(engine: AIOEngine) -> Any:
    return engine.get_collection(WebhookDelivery)


async def create_endpoint(
    clients: Clients, owner: User, data: EndpointIn
) -> tuple[WebhookEndpoint, str]:
    settings = clients.settings
    await resolve_public(data.url, allow_private=settings.webhooks_allow_private)
    count = await _endpoints(clients.engine).count_documents({"ownerId": owner.id})
    if count >= settings.webhook_max_endpoints:
        raise Conflict(
            f"An account has at most {settings.webhook_max_endpoints} endpoints",
            code="too_many_endpoints",
        )
    endpoint = WebhookEndpoint(
        owner_id=owner.id,
        url=data.url,
        events=list(data.events),
        description=data.description,
        secrets=[EndpointSecret(nonce=new_nonce())],
    )
    await _endpoints(clients.engine).insert_one(endpoint.model_dump_doc())
    return endpoint, secret_of(settings, endpoint.id, endpoint.secrets[0].nonce)


async def get_endpoint(engine: AIOEngine, endpoint_id: ObjectId) -> WebhookEndpoint | None:
    doc = await _endpoints(engine).find_one({"_id": endpoint_id})
    return WebhookEndpoint.model_validate_doc(doc) if doc else None


async def own_endpoint(engine: AIOEngine, owner: User, endpoint_id: str) -> WebhookEndpoint:
    oid = parse_object_id(endpoint_id)
    doc = await _endpoints(engine).find_one({"_id": oid, "ownerId": owner.id}) if oid else None
    if doc is None:
        raise NotFound("Endpoint not found", code="endpoint_not_found")
    return WebhookEndpoint.model_validate_doc(doc)


async def list_endpoints(
    engine: AIOEngine, owner: User, query: PageQuery
) -> tuple[list[WebhookEndpoint], str | None]:
    filter_: dict[str, Any] = {"ownerId": owner.id}
    if query.after:
        # Newest first by id (ids grow with creation time).
        filter_["_id"] = {"$lt": ObjectId(query.after)}
    cursor = (
        _endpoints(engine)
        .find(filter_)
        .sort([("createdAt", -1), ("_id", -1)])
        .limit(query.limit + 1)
    )
    found = [WebhookEndpoint.model_validate_doc(doc) async for doc in cursor]
    more = len(found) > query.limit
    found = found[: query.limit]
    return found, str(found[-1].id) if more and found else None


async def update_endpoint(
    clients: Clients, owner: User, endpoint_id: str, data: EndpointUpdateIn
) -> WebhookEndpoint:
    endpoint = await own_endpoint(clients.engine, owner, endpoint_id)
    fields: dict[str, Any] = {"updatedAt": utcnow()}
    if data.url is not None:
        await resolve_public(data.url, allow_private=clients.settings.webhooks_allow_private)
        fields["url"] = data.url
    if data.events is not None:
        fields["events"] = list(data.events)
    if "description" in data.model_fields_set:
        fields["description"] = data.description
    if data.enabled is not None:
        fields["enabled"] = data.enabled
        if data.enabled:
            fields.update({"disabledReason": None, "failingSince": None})
        else:
            fields["disabledReason"] = "disabled by its owner"
    doc = await _endpoints(clients.engine).find_one_and_update(
        {"_id": endpoint.id, "ownerId": owner.id},
        {"$set": fields},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        raise NotFound("Endpoint not found", code="endpoint_not_found")
    return WebhookEndpoint.model_validate_doc(doc)


async def delete_endpoint(clients: Clients, owner: User, endpoint_id: str) -> None:
    endpoint = await own_endpoint(clients.engine, owner, endpoint_id)
    await _endpoints(clients.engine).delete_one({"_id": endpoint.id})
    await _deliveries(clients.engine).delete_many({"endpointId": endpoint.id})


async def rotate_secret(
    clients: Clients, owner: User, endpoint_id: str
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing (beside it) for the grace period."""
    endpoint = await own_endpoint(clients.engine, owner, endpoint_id)
    now = utcnow()
    grace = now + timedelta(hours=clients.settings.webhook_secret_grace_hours)
    kept = [
        s.model_copy(update={"expires_at": min(s.expires_at or grace, grace)})
        for s in endpoint.secrets
        if s.expires_at is None or s.expires_at > now
    ]
    fresh = EndpointSecret(nonce=new_nonce(), created_at=now)
    secrets = [*kept, fresh]
    doc = await _endpoints(clients.engine).find_one_and_update(
        {"_id": endpoint.id, "ownerId": owner.id},
        {"$set": {"secrets": [s.model_dump_doc() for s in secrets], "updatedAt": now}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        raise NotFound("Endpoint not found", code="endpoint_not_found")
    return WebhookEndpoint.model_validate_doc(doc), secret_of(
        clients.settings, endpoint.id, fresh.nonce
    )


# --- deliveries


def body_of(event_type: str, data: dict[str, Any], at: datetime) -> str:
    """The JSON body the spec describes: {type, timestamp, data}."""
    stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": stamp, "data": data}, default=str)


async def queue_deliveries(clients: Clients, deliveries: list[WebhookDelivery]) -> int:
    """Insert the deliveries (a key already there is skipped: the dispatch is idempotent) and
    send each new one for its first attempt."""
    new: list[str] = []
    for delivery in deliveries:
        try:
            await _deliveries(clients.engine).insert_one(delivery.model_dump_doc())
        except DuplicateKeyError:
            continue
        new.append(delivery.key)
    await clients.queue.enqueue_many(DELIVER_WEBHOOK, [[key] for key in new])
    return len(new)


async def send_test(clients: Clients, owner: User, endpoint_id: str) -> WebhookDelivery:
    endpoint = await own_endpoint(clients.engine, owner, endpoint_id)
    now = utcnow()
    # ODMantic declares `id` to type checkers even where another field is primary.
    delivery = WebhookDelivery(  # type: ignore[call-arg]
        key=message_id(f"ping:{endpoint.id}:{ObjectId()}"),
        endpoint_id=endpoint.id,
        owner_id=owner.id,
        event_type="ping",
        payload=body_of("ping", {"endpointId": str(endpoint.id)}, now),
        next_attempt_at=now,
    )
    await queue_deliveries(clients, [delivery])
    return delivery


async def list_deliveries(
    clients: Clients, owner: User, endpoint_id: str, query: DeliveryQuery
) -> tuple[list[WebhookDelivery], str | None]:
    endpoint = await own_endpoint(clients.engine, owner, endpoint_id)
    filter_: dict[str, Any] = {"endpointId": endpoint.id}
    if query.after:
        ms, key = query.after.split("_", 1)
        at = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
        filter_["$or"] = [{"createdAt": {"$lt": at}}, {"createdAt": at, "_id": {"$lt": key}}]
    cursor = (
        _deliveries(clients.engine)
        .find(filter_)
        .sort([("createdAt", -1), ("_id", -1)])
        .limit(query.limit + 1)
    )
    found = [WebhookDelivery.model_validate_doc(doc) async for doc in cursor]
    more = len(found) > query.limit
    found = found[: query.limit]
    if not (more and found):
        return found, None
    last = found[-1]
    return found, f"{int(last.created_at.timestamp() * 1000)}_{last.key}"


async def own_delivery(
    clients: Clients, owner: User, endpoint_id: str, delivery_id: str
) -> WebhookDelivery:
    endpoint = await own_endpoint(clients.engine, owner, endpoint_id)
    doc = await _deliveries(clients.engine).find_one(
        {"_id": delivery_id, "endpointId": endpoint.id}
    )
    if doc is None:
        raise NotFound("Delivery not found", code="delivery_not_found")
    return WebhookDelivery.model_validate_doc(doc)


async def replay(
    clients: Clients, owner: User, endpoint_id: str, delivery_id: str
) -> WebhookDelivery:
    """Send the same event again (same webhook-id, so receivers may de-duplicate), with a
    fresh schedule of attempts."""
    delivery = await own_delivery(clients, owner, endpoint_id, delivery_id)
    now = utcnow()
    doc = await _deliveries(clients.engine).find_one_and_update(
        {"_id": delivery.key},
        {
            "$set": {
                "status": "pending",
                "attempts": 0,
                "nextAttemptAt": now,
                "claimedAt": None,
                "finishedAt": None,
                "updatedAt": now,
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    await clients.queue.enqueue(DELIVER_WEBHOOK, delivery.key)
    return WebhookDelivery.model_validate_doc(doc)
