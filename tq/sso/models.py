from __future__ import annotations

from datetime import datetime
from typing import Literal

from bson import ObjectId
from odmantic import Field, Index, Model

from tq.core.time import utcnow
from tq.orgs.models import OrgRole

Protocol = Literal["oidc", "saml"]


class SsoConnection(Model):
    """An organization's identity provider (one per organization, `_id` = its id). The OIDC
    client secret is stored sealed (tq.core.security.Sealer) and never answered; the SAML
    identity provider is its metadata XML as the admin gave it (entity id, single sign-on
    URL and signing certificates are read from it)."""

    org_id: ObjectId = Field(primary_field=True)
    protocol: Protocol
    # Members whose email is of these domains sign in here; first logins of these domains
    # are provisioned (`defaultRole`). Each domain belongs to one organization (SsoDomain).
    domains: list[str] = Field(default=[])
    default_role: OrgRole = Field(key_name="defaultRole")
    # Password logins of members of these domains are refused (the owner keeps theirs).
    enforced: bool = False
    issuer: str | None = None
    client_id: str | None = Field(default=None, key_name="clientId")
    client_secret_sealed: str | None = Field(default=None, key_name="clientSecretSealed")
    idp_metadata: str | None = Field(default=None, key_name="idpMetadata")
    idp_entity_id: str | None = Field(default=None, key_name="idpEntityId")
    # SCIM groups that give a role: [{"group": displayName, "role": role}] (tq.scim).
    group_roles: list[dict[str, str]] = Field(default=[], key_name="groupRoles")
    # Bumped by every change: a change is conditional on the version read.
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {"collection": "sso_connections"}


class SsoDomain(Model):
    """An email domain claimed by one organization's single sign-on: the `_id` makes the
    claim unique on every engine, and discovery is one read by `_id`."""

    domain: str = Field(primary_field=True)
    org_id: ObjectId = Field(key_name="orgId")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")

    model_config = {
        "collection": "sso_domains",
        "indexes": lambda: [Index(SsoDomain.org_id, name="org")],
    }
