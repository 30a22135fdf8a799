from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from odmantic import Field, Index, Model

from tq.core.time import utcnow


class ScimToken(Model):
    """A bearer token an identity provider provisions one organization with: shown once at
    creation, stored as its SHA-256 only (`tokenHash`)."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    name: str
    token_hash: str = Field(key_name="tokenHash", unique=True)
    prefix: str
    created_by: ObjectId | None = Field(default=None, key_name="createdBy")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    last_used_at: datetime | None = Field(default=None, key_name="lastUsedAt")

    model_config = {
        "collection": "scim_tokens",
        "indexes": lambda: [Index(ScimToken.org_id, ScimToken.created_at, name="org_created")],
    }


class ScimUser(Model):
    """A SCIM User of an organization, tied to one account (`userId`). `resource` is the
    resource as the provider last wrote it (JSON text: its attributes come back exactly as
    sent, and no `$ref` key is ever a field name in the database)."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    user_id: ObjectId = Field(key_name="userId")
    user_name: str = Field(key_name="userName")  # lower-cased: the account's email
    external_id: str | None = Field(default=None, key_name="externalId")
    active: bool = True
    resource: str
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {
        "collection": "scim_users",
        "indexes": lambda: [
            Index(ScimUser.org_id, ScimUser.user_name, unique=True, name="org_user_name"),
            # the list, in `_id` order (startIndex paging)
            Index(ScimUser.org_id, ScimUser.id, name="org_id"),
            Index(ScimUser.org_id, ScimUser.external_id, ScimUser.id, name="org_external_id"),
            Index(ScimUser.org_id, ScimUser.user_id, name="org_user"),
            Index(ScimUser.user_id, name="user"),
        ],
    }


class ScimGroup(Model):
    """A SCIM Group of an organization; its members are SCIM User ids (`memberIds`), and
    the connection's `groupRoles` turn group names into organization roles."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    display_name: str = Field(key_name="displayName")
    # Lower-cased: `displayName eq` filters (SCIM compares it case-insensitively).
    name_key: str = Field(key_name="nameKey")
    external_id: str | None = Field(default=None, key_name="externalId")
    member_ids: list[ObjectId] = Field(default=[], key_name="memberIds")
    resource: str
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {
        "collection": "scim_groups",
        "indexes": lambda: [
            # names are unique in an organization (filter displayName eq: one at most)
            Index(ScimGroup.org_id, ScimGroup.name_key, unique=True, name="org_name_unique"),
            Index(ScimGroup.org_id, ScimGroup.id, name="org_id"),
            Index(ScimGroup.org_id, ScimGroup.member_ids, name="org_members"),
        ],
    }
