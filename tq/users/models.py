from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from bson import ObjectId
from odmantic import Field, Index, Model

from tq.core.time import utcnow

Role = Literal["interviewer", "candidate"]
ROLES: tuple[Role, ...] = ("interviewer", "candidate")


@dataclass(frozen=True)
class UserCard:
    """A user as other records show them (session members, run authors, Stream payloads): read
    with a projection, so no password hash or timestamps leave the database for them."""

    id: ObjectId
    name: str
    role: Role
    stream_id: str
    avatar: str | None
    email: str
    timezone: str | None = None

    PROJECTION: ClassVar[dict[str, int]] = {
        "name": 1,
        "role": 1,
        "streamId": 1,
        "avatar": 1,
        "email": 1,
        "timezone": 1,
    }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> UserCard:
        return cls(
            id=doc["_id"],
            name=doc["name"],
            role=doc.get("role", "candidate"),
            stream_id=doc["streamId"],
            avatar=doc.get("avatar"),
            email=doc["email"],
            timezone=doc.get("timezone"),
        )


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
    # An IANA zone name (Europe/Paris): how times are shown to this user outside the API
    # (emails, calendar invites); the API itself speaks UTC.
    timezone: str | None = None
    # "pending" until sync_user has put the current profile into Stream.
    stream_sync: Literal["ok", "pending"] = Field(default="pending", key_name="streamSync")
    # Tokens issued before this instant are refused (set when the password changes).
    tokens_valid_after: datetime | None = Field(default=None, key_name="tokensValidAfter")
    # The organization whose identity provider made the account (single sign-on, SCIM).
    provisioned_by: ObjectId | None = Field(default=None, key_name="provisionedBy")
    # Organizations whose single sign-on this account accepted (linked with its password).
    sso_links: list[ObjectId] = Field(default=[], key_name="ssoLinks")
    # Organizations whose SCIM deleted the person: their provider no longer speaks for the
    # account until SCIM creates the person again (or the account links itself again).
    sso_released: list[ObjectId] = Field(default=[], key_name="ssoReleased")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {
        "collection": "users",
        "indexes": lambda: [Index(User.stream_sync, User.updated_at, name="stream_sync")],
    }
