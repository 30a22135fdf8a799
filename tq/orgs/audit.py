"""The organization's audit log: entries written with the change into the organization
(`outboxAudit`) and moved to `org_audit` right after, by the next read of the log, or by
the flush beat; views of a candidate's record, which change nothing, are written straight
to the log. Append-only: nothing updates or deletes an entry but account deletion (the actor
becomes null) and the organization's own deletion."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from tq.core.clients import Clients
from tq.core.db import insert_new, keyset_page
from tq.core.time import Deadline, utcnow
from tq.orgs import store
from tq.orgs.models import AuditEntry, AuditRecord, Organization

log = logging.getLogger("tq.orgs.audit")


def audit_entry(
    type_: str, actor: ObjectId | None, session_id: ObjectId | None = None, **data: Any
) -> AuditEntry:
    return AuditEntry(
        id=str(ObjectId()),
        type=type_,
        actor_id=actor,
        at=utcnow(),
        session_id=session_id,
        data=data,
    )


def _record(org_id: ObjectId, entry: AuditEntry) -> dict[str, Any]:
    # ODMantic declares `id` to type checkers even where another field is primary.
    return AuditRecord(  # type: ignore[call-arg]
        key=f"{org_id}:{entry.id}",
        org_id=org_id,
        type=entry.type,
        actor_id=entry.actor_id,
        at=entry.at,
        session_id=entry.session_id,
        data=entry.data,
    ).model_dump_doc()


async def move_to_log(clients: Clients, org: Organization) -> int:
    """The organization's waiting entries into `org_audit` (a key already there is skipped),
    then out of the document. A failure leaves them waiting for the next move."""
    waiting = org.outbox_audit
    if not waiting:
        return 0
    try:
        await insert_new(
            clients.engine.get_collection(AuditRecord), [_record(org.id, e) for e in waiting]
        )
        await store.take_out_audit(clients, org.id, [e.model_dump_doc() for e in waiting])
    except PyMongoError as exc:
        log.warning("audit entries of org %s left in its outbox (%s)", org.id, exc)
        return 0
    return len(waiting)


async def flush_waiting(clients: Clients, deadline: Deadline) -> int:
    """Entries a crash left in their organization (written, not moved), moved now."""
    moved = 0
    async for org in store.with_pending_audit(clients.engine, clients.settings.job_batch_size):
        if deadline.passed:
            break
        moved += await move_to_log(clients, org)
    return moved


async def record_now(clients: Clients, org_id: ObjectId, entry: AuditEntry) -> None:
    """An entry for something that changes nothing (a view, an export): written before the
    answer leaves, so a view the log does not show never happened."""
    await insert_new(clients.engine.get_collection(AuditRecord), [_record(org_id, entry)])


async def record_view(
    clients: Clients, org_id: ObjectId | None, viewer_id: ObjectId, session_id: ObjectId, what: str
) -> None:
    """A view or an export of a candidate's record, timeline or code (who, when, which
    session), written before the answer leaves."""
    if org_id is not None:
        await record_now(clients, org_id, audit_entry(what, viewer_id, session_id))


async def read_page(
    clients: Clients,
    org: Organization,
    *,
    actor: ObjectId | None,
    type_: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> tuple[list[AuditRecord], bool]:
    """Newest first, after the (at, key) position `after`. What still waits in the document
    is moved first, so the page is complete."""
    await move_to_log(clients, org)
    filter_: dict[str, Any] = {"orgId": org.id}
    if actor is not None:
        filter_["actorId"] = actor
    if type_ is not None:
        filter_["type"] = type_
    if since or until:
        window: dict[str, datetime] = {}
        if since:
            window["$gte"] = since
        if until:
            window["$lt"] = until
        filter_["at"] = window  # beside the page position's `$or`
    return await keyset_page(
        clients.engine.get_collection(AuditRecord),
        AuditRecord,
        filter_,
        [("at", -1), ("_id", -1)],
        after,
        limit,
    )


async def forget_org_audit(clients: Clients, org_id: ObjectId) -> None:
    await clients.engine.get_collection(AuditRecord).delete_many({"orgId": org_id})


async def forget_actor(clients: Clients, user_id: ObjectId) -> None:
    await clients.engine.get_collection(AuditRecord).update_many(
        {"actorId": user_id}, {"$set": {"actorId": None}}
    )
