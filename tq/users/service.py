"""User lookups and what must happen around an account's lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bson import ObjectId
from odmantic import AIOEngine, query

from tq.core.db import parse_object_id
from tq.users.models import User

log = logging.getLogger("tq.users")


async def get_user(engine: AIOEngine, user_id: str) -> User | None:
    oid = parse_object_id(user_id)
    return await engine.find_one(User, User.id == oid) if oid else None


async def get_users(engine: AIOEngine, user_ids: Iterable[ObjectId]) -> dict[ObjectId, User]:
    """Many users in one query (no $lookup), keyed by id."""
    ids = list({*user_ids})
    if not ids:
        return {}
    users = await engine.find(User, query.in_(User.id, ids))
    return {user.id: user for user in users}


def stream_user_payload(user: User) -> dict[str, object]:
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
