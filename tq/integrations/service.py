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
from urllib.parse import urlsplit

from bson import ObjectId
from odmantic import AIOEngine

from config import Settings
from tq.core.clients import Clients
from tq.core.db import insert_new, keyset_page, parse_object_id, update_owned
from tq.core.erasure import Erasure
from tq.core.errors import Conflict, NotFound
from tq.core.security import derived_secret, new_nonce
from tq.core.ssrf import resolve_public
from tq.core.time import Deadline, utcnow
from tq.evaluation.schemas import ScorecardOut
from tq.evaluation.service import (
    blind_scorecards,
    flush_pending_events,
    has_submitted,
    submitted_scorecard,
)
from tq.integrations.models import EndpointSecret, WebhookDelivery, WebhookEndpoint
from tq.integrations.schemas import DeliveryQuery, EndpointIn, EndpointUpdateIn, PageQuery
from tq.jobs.registry import DELIVER_WEBHOOK
from tq.orgs.audit import audit_entry, flush_waiting, record_now
from tq.orgs.models import AuditRecord
from tq.orgs.permissions import Action
from tq.orgs.schemas import AuditOut
from tq.orgs.service import check, role_in
from tq.runner.models import CodeRun
from tq.runner.schemas import RunOut
from tq.sessions import store as sessions_store
from tq.sessions.models import Session, SessionEventRecord
from tq.sessions.schemas import SessionOut
from tq.users.models import User
from tq.users.service import get_user, get_users

log = logging.getLogger("tq.integrations")
SECRET_PURPOSE = "webhook-secret"  # noqa: S105 - a label, not a secret
RESPONSE_KEEP = 2048
# A delivery taken by a worker that died is taken again after this long.
LEASE = timedelta(minutes=2)
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
    clients: Clients, owner: User, data: EndpointIn, org_id: ObjectId | None = None
) -> tuple[WebhookEndpoint, str]:
    """An endpoint of `org_id` (checked by the caller), else of the creator's personal
    organization: it receives the events of that organization's sessions."""
    settings = clients.settings
    org = org_id or owner.id
    await resolve_public(data.url, allow_private=settings.webhooks_allow_private)
    count = await _endpoints(clients.engine).count_documents({"orgId": org})
    if count >= settings.webhook_max_endpoints:
        raise Conflict(
            f"An organization has at most {settings.webhook_max_endpoints} endpoints",
            code="too_many_endpoints",
        )
    endpoint = WebhookEndpoint(
        owner_id=owner.id,
        org_id=org,
        url=data.url,
        events=list(data.events),
        description=data.description,
        secrets=[EndpointSecret(nonce=new_nonce())],
    )
    await _endpoints(clients.engine).insert_one(endpoint.model_dump_doc())
    await _audit(clients, endpoint, owner, "webhook_endpoint.created", host=_host(data.url))
    return endpoint, secret_of(settings, endpoint.id, endpoint.secrets[0].nonce)


def _host(url: str) -> str:
    """What the audit log keeps of an endpoint's URL: its scheme and host (a path or query
    often holds a credential, and the log streams to other endpoints)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


async def _audit(
    clients: Clients, endpoint: WebhookEndpoint, actor: User, kind: str, **data: Any
) -> None:
    """An endpoint change in its organization's audit log (right after the change)."""
    if endpoint.org_id is not None:
        entry = audit_entry(kind, actor.id, endpointId=str(endpoint.id), **data)
        await record_now(clients, endpoint.org_id, entry)


async def adopt_into_org(engine: AIOEngine, owner_id: ObjectId, org_id: ObjectId) -> int:
    """The migration: the owner's endpoints that belong to no organization join `org_id`."""
    result = await _endpoints(engine).update_many(
        {"ownerId": owner_id, "orgId": None}, {"$set": {"orgId": org_id}}
    )
    return int(result.modified_count)


async def erase_candidate_deliveries(engine: AIOEngine, erasure: Erasure) -> None:
    """A candidate's erasure: webhook payloads about those sessions lose the candidate's name
    and email (a replay sends the payload as it now is, signed anew). They went to the
    endpoints of the sessions' hosts and panels: their deliveries are read by endpoint."""
    if not erasure.session_ids:
        return
    people: set[ObjectId] = set()
    orgs: set[ObjectId] = set()
    for session_id in erasure.session_ids:
        session = await sessions_store.find(engine, session_id)
        if session is not None:
            people.update([session.created_by, *session.interviewers])
            orgs.update([session.org_id] if session.org_id else [])
    receivers = {"$or": [{"orgId": {"$in": list(orgs)}}, {"ownerId": {"$in": list(people)}}]}
    endpoints = [doc["_id"] async for doc in _endpoints(engine).find(receivers, {"_id": 1})]
    about = "|".join(str(sid) for sid in erasure.session_ids)
    found = _deliveries(engine).find(
        {"endpointId": {"$in": endpoints}, "payload": {"$regex": about}}, {"payload": 1}
    )
    async for doc in found:
        scrubbed = erasure.scrub(doc["payload"])
        if scrubbed != doc["payload"]:
            await _deliveries(engine).update_one(
                {"_id": doc["_id"]}, {"$set": {"payload": scrubbed, "lastResponse": None}}
            )
            erasure.removed["webhook_payloads_scrubbed"] += 1


async def forget_org_endpoints(engine: AIOEngine, org_id: ObjectId) -> None:
    """A deleted organization's endpoints go, with their delivery logs."""
    ids = [doc["_id"] async for doc in _endpoints(engine).find({"orgId": org_id}, {"_id": 1})]
    if ids:
        await _deliveries(engine).delete_many({"endpointId": {"$in": ids}})
        await _endpoints(engine).delete_many({"_id": {"$in": ids}})


async def get_endpoint(engine: AIOEngine, endpoint_id: ObjectId) -> WebhookEndpoint | None:
    doc = await _endpoints(engine).find_one({"_id": endpoint_id})
    return WebhookEndpoint.model_validate_doc(doc) if doc else None


def _endpoint_not_found() -> NotFound:
    return NotFound("Endpoint not found", code="endpoint_not_found")


async def own_endpoint(engine: AIOEngine, user: User, endpoint_id: str) -> WebhookEndpoint:
    """The endpoint, for the owners and admins of its organization (others of it: 403;
    everyone else: 404). One the migration has not reached is its creator's alone."""
    oid = parse_object_id(endpoint_id)
    doc = await _endpoints(engine).find_one({"_id": oid}) if oid else None
    if doc is None:
        raise _endpoint_not_found()
    endpoint = WebhookEndpoint.model_validate_doc(doc)
    if endpoint.org_id is None:
        if endpoint.owner_id != user.id:
            raise _endpoint_not_found()
        return endpoint
    check(
        await role_in(engine, endpoint.org_id, user), Action.WEBHOOKS_MANAGE, _endpoint_not_found()
    )
    return endpoint


async def list_endpoints(
    engine: AIOEngine, owner: User, query: PageQuery, org_id: ObjectId | None = None
) -> tuple[list[WebhookEndpoint], str | None]:
    """An organization's endpoints (the personal one's by default, with the creator's not
    migrated yet), newest first; the cursor is the last id (ids grow with creation time)."""
    after = [ObjectId(query.after)] if query.after else None
    filter_: dict[str, Any] = (
        {"orgId": org_id}
        if org_id is not None
        else {"ownerId": owner.id, "orgId": {"$in": [owner.id, None]}}
    )
    found, more = await keyset_page(
        _endpoints(engine),
        WebhookEndpoint,
        filter_,
        [("createdAt", -1), ("_id", -1)],
        after,
        query.limit,
    )
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
    doc = await update_owned(
        _endpoints(clients.engine), {"_id": endpoint.id}, {"$set": fields}, _endpoint_not_found()
    )
    changed = sorted(data.model_fields_set)
    await _audit(clients, endpoint, owner, "webhook_endpoint.updated", fields=changed)
    return WebhookEndpoint.model_validate_doc(doc)


async def delete_endpoint(clients: Clients, owner: User, endpoint_id: str) -> None:
    endpoint = await own_endpoint(clients.engine, owner, endpoint_id)
    await _endpoints(clients.engine).delete_one({"_id": endpoint.id})
    await _deliveries(clients.engine).delete_many({"endpointId": endpoint.id})
    await _audit(clients, endpoint, owner, "webhook_endpoint.deleted", host=_host(endpoint.url))


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
    doc = await update_owned(
        _endpoints(clients.engine),
        {"_id": endpoint.id},
        {"$set": {"secrets": [s.model_dump_doc() for s in secrets], "updatedAt": now}},
        _endpoint_not_found(),
    )
    await _audit(clients, endpoint, owner, "webhook_endpoint.secret_rotated")
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
    docs = [delivery.model_dump_doc() for delivery in deliveries]
    new = await insert_new(_deliveries(clients.engine), docs)
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
    after = None
    if query.after:
        ms, key = query.after.split("_", 1)
        after = [datetime.fromtimestamp(int(ms) / 1000, tz=UTC), key]
    found, more = await keyset_page(
        _deliveries(clients.engine),
        WebhookDelivery,
        {"endpointId": endpoint.id},
        [("createdAt", -1), ("_id", -1)],
        after,
        query.limit,
    )
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
    doc = await update_owned(
        _deliveries(clients.engine),
        {"_id": delivery.key, "endpointId": delivery.endpoint_id},
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
        NotFound("Delivery not found", code="delivery_not_found"),
    )
    await clients.queue.enqueue(DELIVER_WEBHOOK, delivery.key)
    return WebhookDelivery.model_validate_doc(doc)


# --- what the pump sends: logged events become deliveries


def without_emails(out: SessionOut) -> dict[str, Any]:
    """The session as its host sees it, minus every member's email (a receiver is a third
    party)."""
    body = out.model_dump(mode="json", by_alias=True)
    for person in [body["host"], body["participant"], *body["participantsInfo"]]:
        if person:
            person["email"] = None
    return body


async def event_data(
    clients: Clients,
    session: Session,
    host: User,
    record: SessionEventRecord,
    shared: bool = False,
) -> dict[str, Any]:
    """The `data` of a webhook: the same JSON the API returns for the object (no emails of
    other people, never notes). `shared`: for an organization's endpoint, whose delivery log
    every owner and admin reads, so scorecards' content never goes (the blind rule cannot be
    decided for all of them at once)."""
    users = await get_users(clients.engine, session.members)
    shown = SessionOut.of(
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
        if (
            card is not None
            and not shared
            and (card.author_id == host.id or await has_submitted(clients.engine, session, host.id))
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
            if blind.visible and not shared
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
    session = await sessions_store.find(clients.engine, record.session_id)
    if session is None:
        return 0
    # The endpoints of the session's organization (and its host's not migrated yet).
    owned = [{"orgId": session.org_id}] if session.org_id is not None else []
    cursor = clients.engine.get_collection(WebhookEndpoint).find(
        {
            "$or": [*owned, {"orgId": None, "ownerId": session.created_by}],
            "enabled": True,
            "events": kind,
        }
    )
    endpoints = [WebhookEndpoint.model_validate_doc(e) async for e in cursor]
    if not endpoints:
        return 0
    host = await get_user(clients.engine, str(session.created_by))
    if host is None:
        return 0
    # The host's own endpoints (their personal organization's) get what the host may read;
    # a team's, read by all its owners and admins, no scorecard content.
    payloads: dict[bool, str] = {}
    for shared in {e.org_id not in (None, session.created_by) for e in endpoints}:
        data = await event_data(clients, session, host, record, shared)
        payloads[shared] = body_of(kind, data, record.at)
    now = utcnow()
    deliveries = [
        # ODMantic declares `id` to type checkers even where another field is primary.
        WebhookDelivery(  # type: ignore[call-arg]
            key=message_id(f"{record.key}:{endpoint.id}"),
            endpoint_id=endpoint.id,
            owner_id=endpoint.owner_id,
            event_type=kind,
            payload=payloads[endpoint.org_id not in (None, session.created_by)],
            next_attempt_at=now + LEASE,  # the first attempt is sent now
        )
        for endpoint in endpoints
    ]
    return await queue_deliveries(clients, deliveries)


async def dispatch_audit(clients: Clients, entry: AuditRecord) -> int:
    """One audit entry → one `audit.entry` delivery per enabled endpoint of its organization
    subscribed to that type (the entry as GET /api/orgs/:id/audit shows it)."""
    cursor = clients.engine.get_collection(WebhookEndpoint).find(
        {"orgId": entry.org_id, "enabled": True, "events": "audit.entry"}
    )
    endpoints = [WebhookEndpoint.model_validate_doc(e) async for e in cursor]
    if not endpoints:
        return 0
    data = AuditOut.of(entry).model_dump(mode="json", by_alias=True)
    payload = body_of("audit.entry", {"orgId": str(entry.org_id), **data}, entry.at)
    now = utcnow()
    deliveries = [
        # ODMantic declares `id` to type checkers even where another field is primary.
        WebhookDelivery(  # type: ignore[call-arg]
            key=message_id(f"audit:{entry.key}:{endpoint.id}"),
            endpoint_id=endpoint.id,
            owner_id=endpoint.owner_id,
            event_type="audit.entry",
            payload=payload,
            next_attempt_at=now + LEASE,
        )
        for endpoint in endpoints
    ]
    return await queue_deliveries(clients, deliveries)


async def pump(clients: Clients, deadline: Deadline) -> dict[str, int]:
    """Move logged events out of documents, dispatch the ones not dispatched yet (oldest
    first), then queue again the deliveries whose next attempt is due; within `deadline`."""
    counts = {"events": 0, "deliveries": 0, "due": 0}
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
    await flush_waiting(clients, deadline)
    audit_log = clients.engine.get_collection(AuditRecord)
    async for doc in audit_log.find({"dispatched": False}).sort([("at", 1)]).limit(batch):
        if deadline.passed:
            break
        entry = AuditRecord.model_validate_doc(doc)
        counts["deliveries"] += await dispatch_audit(clients, entry)
        await audit_log.update_one({"_id": entry.key}, {"$set": {"dispatched": True}})
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
