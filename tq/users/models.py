from __future__ import annotations

from datetime import datetime
from typing import Literal

from bson import ObjectId
from odmantic import Field, Index, Model

from tq.core.time import utcnow

Role = Literal["interviewer", "candidate"]
ROLES: tuple[Role, ...] = ("interviewer", "candidate")


class User(Model):
    """An account. A user's sessions are found by an indexed query on `sessions`, not stored."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    email: str = Field(unique=True)  # trimmed and lower-cased before it gets here
    password: str  # an argon2id hash, never the password
    name: str
    role: Role = "candidate"
    stream_id: str = Field(key_name="streamId", unique=True)
    avatar: str | None = None
    # "pending" until sync_user has put the current profile into Stream.
    stream_sync: Literal["ok", "pending"] = Field(default="pending", key_name="streamSync")
    # Tokens issued before this instant are refused (set when the password changes).
    tokens_valid_after: datetime | None = Field(default=None, key_name="tokensValidAfter")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {
        "collection": "users",
        "indexes": lambda: [Index(User.stream_sync, User.updated_at, name="stream_sync")],
    }
