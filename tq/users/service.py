"""User lookups and what must happen around an account's lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from bson import ObjectId
from odmantic import AIOEngine
from pymongo.errors import DuplicateKeyError

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.time import utcnow
from tq.users.models import User, UserCard

log = logging.getLogger("tq.users")


async def get_user(engine: AIOEngine, user_id: str) -> User | None:
    oid = parse_object_id(user_id)
    # A plain find (ODMantic's own reads are aggregation pipelines).
    doc = await engine.get_collection(User).find_one({"_id": oid}) if oid else None
    return User.model_validate_doc(doc) if doc else None


async def get_users(engine: AIOEngine, user_ids: Iterable[ObjectId]) -> dict[ObjectId, UserCard]:
    """Many users in one `$in` read (no $lookup), projected to what responses show, by id."""
    ids = list({*user_ids})
    if not ids:
        return {}
    cursor = engine.get_collection(User).find({"_id": {"$in": ids}}, UserCard.PROJECTION)
    return {doc["_id"]: UserCard.from_doc(doc) async for doc in cursor}


async def users_after(
    engine: AIOEngine, after: ObjectId | None, limit: int
) -> list[tuple[ObjectId, str]]:
    """(id, name) of up to `limit` accounts past `after`, in `_id` order: for jobs that walk
    every account in resumable steps."""
    filter_ = {"_id": {"$gt": after}} if after else {}
    cursor = engine.get_collection(User).find(filter_, {"name": 1}).sort([("_id", 1)]).limit(limit)
    return [(doc["_id"], doc.get("name", "")) async for doc in cursor]


async def revoke_tokens(clients: Clients, user_id: ObjectId) -> None:
    """Every token issued until now fails on its next request (an identity provider
    deactivated the person). The cutoff is the next whole second, as JWT `iat` counts."""
    cutoff = utcnow().replace(microsecond=0) + timedelta(seconds=1)
    async with clients.locks.hold(f"user:{user_id}"):
        await clients.engine.get_collection(User).update_one(
            {"_id": user_id}, {"$set": {"tokensValidAfter": cutoff}}
        )


async def change_email(clients: Clients, user_id: ObjectId, email: str) -> bool:
    """The identity provider that made the account renamed it (SCIM userName). False when
    another account has that email (the unique index decides, also between racing writes)."""
    try:
        async with clients.locks.hold(f"user:{user_id}"):
            await clients.engine.get_collection(User).update_one(
                {"_id": user_id}, {"$set": {"email": email, "updatedAt": utcnow()}}
            )
    except DuplicateKeyError:
        return False
    return True


async def link_sso(clients: Clients, user_id: ObjectId, org_id: ObjectId) -> None:
    """The account accepts the organization's single sign-on (proved with its password and
    a login at the provider)."""
    async with clients.locks.hold(f"user:{user_id}"):
        await clients.engine.get_collection(User).update_one(
            {"_id": user_id}, {"$addToSet": {"ssoLinks": org_id}, "$pull": {"ssoReleased": org_id}}
        )


async def release_from_org(clients: Clients, user_id: ObjectId, org_id: ObjectId) -> None:
    """The organization's identity provider no longer speaks for the account (SCIM deleted
    the person): its link goes, and no single sign-on signs it in until SCIM creates the
    person again (`restore_to_org`)."""
    async with clients.locks.hold(f"user:{user_id}"):
        await clients.engine.get_collection(User).update_one(
            {"_id": user_id}, {"$pull": {"ssoLinks": org_id}, "$addToSet": {"ssoReleased": org_id}}
        )


async def restore_to_org(clients: Clients, user_id: ObjectId, org_id: ObjectId) -> None:
    async with clients.locks.hold(f"user:{user_id}"):
        await clients.engine.get_collection(User).update_one(
            {"_id": user_id}, {"$pull": {"ssoReleased": org_id}}
        )


async def account_by_email(engine: AIOEngine, email: str) -> User | None:
    doc = await engine.get_collection(User).find_one({"email": email})
    return User.model_validate_doc(doc) if doc else None


def stream_user_payload(user: User | UserCard) -> dict[str, object]:
    """What Stream keeps of a user. Our role travels as `tq_role`: Stream's own `role` field is
    its permission role, and an unknown role name there would be refused."""
    payload: dict[str, object] = {
        "id": user.stream_id,
        "name": user.name,
        "role": "user",
        "tq_role": user.role,
    }
    if user.avatar:
        payload["image"] = user.avatar
    return payload


async def users_by_email(engine: AIOEngine, emails: Iterable[str]) -> dict[str, UserCard]:
    """Accounts of these (lower-cased) emails, in one `$in` read on the unique email index."""
    wanted = list({*emails})
    if not wanted:
        return {}
    cursor = engine.get_collection(User).find({"email": {"$in": wanted}}, UserCard.PROJECTION)
    return {doc["email"]: UserCard.from_doc(doc) async for doc in cursor}


async def push_user(clients: Clients, user_id: str) -> str:
    """Make Stream's copy of the user match the database (upsert: id = streamId, name, image),
    then mark the user in step unless the profile changed meanwhile (that change queued its own
    sync). Idempotent."""
    user = await get_user(clients.engine, user_id)
    if user is None:
        return "missing"  # deleted since: delete_stream_user takes care of Stream
    await clients.stream.upsert_user(stream_user_payload(user))
    async with clients.locks.hold(f"user:{user.id}"):
        await clients.engine.get_collection(User).update_one(
            {"_id": user.id, "updatedAt": user.updated_at}, {"$set": {"streamSync": "ok"}}
        )
    return "upserted"
