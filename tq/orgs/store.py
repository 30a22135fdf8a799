"""The organization document's one owner: every read and write of `organizations` goes
through here. A change is one conditional update that carries its audit entries into the
document's outbox (`update`); `tq.orgs.audit` moves them to the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from pymongo import ReturnDocument

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.errors import NotFound
from tq.core.time import utcnow
from tq.orgs.models import AuditEntry, Organization, OrgMigration


def lock_key(org_id: object) -> str:
    return f"org:{org_id}"


def _collection(engine: AIOEngine) -> Any:
    return engine.get_collection(Organization)


def not_found() -> NotFound:
    return NotFound("Organization not found", code="org_not_found")


async def find(engine: AIOEngine, org_id: ObjectId) -> Organization | None:
    doc = await _collection(engine).find_one({"_id": org_id})
    return Organization.model_validate_doc(doc) if doc else None


async def load(engine: AIOEngine, org_id: str | ObjectId) -> Organization:
    oid = org_id if isinstance(org_id, ObjectId) else parse_object_id(org_id)
    org = await find(engine, oid) if oid else None
    if org is None:
        raise not_found()
    return org


async def default_criteria(engine: AIOEngine, org_id: ObjectId) -> list[str] | None:
    doc = await _collection(engine).find_one({"_id": org_id}, {"defaultCriteria": 1})
    return list(doc["defaultCriteria"]) if doc and doc.get("defaultCriteria") else None


async def default_template(engine: AIOEngine, org_id: ObjectId) -> str | None:
    doc = await _collection(engine).find_one({"_id": org_id}, {"defaultTemplate": 1})
    return doc.get("defaultTemplate") if doc else None


async def set_default_template(
    engine: AIOEngine, org_id: ObjectId, slug: str | None, *, only_if: str | None = None
) -> bool:
    """The organization's default template (`only_if`: only while it is that one)."""
    filter_: dict[str, Any] = {"_id": org_id}
    if only_if is not None:
        filter_["defaultTemplate"] = only_if
    result = await _collection(engine).update_one(
        filter_, {"$set": {"defaultTemplate": slug, "updatedAt": utcnow()}}
    )
    return bool(result.matched_count)


async def member_roles(engine: AIOEngine, org_id: ObjectId, user_id: ObjectId) -> list[Any]:
    """The organization's members if `user_id` is one of them (else []): one read by `_id`,
    projected to the members. (`$elemMatch` in a projection would send only the caller's
    entry; FerretDB v1, the fallback engine, does not implement it.)"""
    doc = await _collection(engine).find_one({"_id": org_id, "memberIds": user_id}, {"members": 1})
    return list(doc["members"]) if doc else []


async def insert(engine: AIOEngine, org: Organization) -> None:
    await _collection(engine).insert_one(org.model_dump_doc())


async def upsert_personal(engine: AIOEngine, org: Organization) -> None:
    """Create the personal organization unless it exists (its `_id` is its owner's)."""
    doc = org.model_dump_doc()
    await _collection(engine).update_one(
        {"_id": doc.pop("_id")}, {"$setOnInsert": doc}, upsert=True
    )


async def update(
    clients: Clients,
    filter_: dict[str, Any],
    change: dict[str, Any],
    audit: list[AuditEntry] | None = None,
) -> Organization | None:
    """The one way an organization changes: a conditional `find_one_and_update` returning the
    new document, or None when the filter no longer matches."""
    if audit:
        change.setdefault("$push", {})["outboxAudit"] = {
            "$each": [entry.model_dump_doc() for entry in audit]
        }
        change.setdefault("$set", {})["auditPending"] = True
    change.setdefault("$set", {})["updatedAt"] = utcnow()
    async with clients.locks.hold(lock_key(filter_["_id"])):
        doc = await _collection(clients.engine).find_one_and_update(
            filter_, change, return_document=ReturnDocument.AFTER
        )
    return Organization.model_validate_doc(doc) if doc else None


async def take_out_audit(clients: Clients, org_id: ObjectId, moved: list[dict[str, Any]]) -> None:
    async with clients.locks.hold(lock_key(org_id)):
        await _collection(clients.engine).update_one(
            {"_id": org_id}, {"$pullAll": {"outboxAudit": moved}}
        )
        await _collection(clients.engine).update_one(
            {"_id": org_id, "outboxAudit": []}, {"$set": {"auditPending": False}}
        )


async def delete(engine: AIOEngine, org_id: ObjectId) -> None:
    await _collection(engine).delete_one({"_id": org_id})


async def of_member(engine: AIOEngine, user_id: ObjectId, limit: int | None) -> list[Organization]:
    """The account's organizations, newest first (`limit`: None for all of them)."""
    cursor = (
        _collection(engine)
        .find({"memberIds": user_id})
        .sort([("createdAt", -1), ("_id", -1)])
        .limit(limit or 0)
    )
    return [Organization.model_validate_doc(doc) async for doc in cursor]


async def by_invite_token(engine: AIOEngine, hashed: str) -> Organization | None:
    doc = await _collection(engine).find_one({"inviteTokens": hashed})
    return Organization.model_validate_doc(doc) if doc else None


async def with_pending_audit(engine: AIOEngine, limit: int) -> AsyncIterator[Organization]:
    cursor = _collection(engine).find({"auditPending": True}).limit(limit)
    async for doc in cursor:
        yield Organization.model_validate_doc(doc)


async def migration_state(engine: AIOEngine, key: str) -> OrgMigration:
    doc = await engine.get_collection(OrgMigration).find_one({"_id": key})
    # ODMantic declares `id` to type checkers even where another field is primary.
    return OrgMigration.model_validate_doc(doc) if doc else OrgMigration(key=key)  # type: ignore[call-arg]


async def save_migration_state(engine: AIOEngine, state: OrgMigration) -> None:
    doc = state.model_dump_doc()
    doc["updatedAt"] = utcnow()
    await engine.get_collection(OrgMigration).replace_one({"_id": doc["_id"]}, doc, upsert=True)
