from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from odmantic import EmbeddedModel, Field, Index, Model
from odmantic.query import desc

from tq.core.time import utcnow

OrgRole = Literal["owner", "admin", "recruiter", "interviewer"]
ORG_ROLES: tuple[OrgRole, ...] = ("owner", "admin", "recruiter", "interviewer")
StoredOrgInvitationStatus = Literal["pending", "accepted", "revoked"]
OrgInvitationStatus = Literal["pending", "accepted", "revoked", "expired"]


class OrgMember(EmbeddedModel):
    user_id: ObjectId = Field(key_name="userId")
    role: OrgRole
    joined_at: datetime = Field(default_factory=utcnow, key_name="joinedAt")


class OrgInvitation(EmbeddedModel):
    """An email invited to join with a role. As with session invitations the link's token is
    never stored: it is derived from `nonce`, and only its SHA-256 is kept (`tokenHash`, also
    in the organization's indexed `inviteTokens`)."""

    id: ObjectId = Field(default_factory=ObjectId)
    email: str  # lower-cased
    role: OrgRole
    nonce: str
    token_hash: str = Field(key_name="tokenHash")
    status: StoredOrgInvitationStatus = "pending"
    invited_by: ObjectId = Field(key_name="invitedBy")
    expires_at: datetime = Field(key_name="expiresAt")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    accepted_at: datetime | None = Field(default=None, key_name="acceptedAt")
    accepted_by: ObjectId | None = Field(default=None, key_name="acceptedBy")
    revoked_at: datetime | None = Field(default=None, key_name="revokedAt")


class AuditEntry(EmbeddedModel):
    """One audit entry as first written, inside the organization by the very update that makes
    the change (`outboxAudit`), then moved to `org_audit`: no change without its entry."""

    id: str
    type: str
    actor_id: ObjectId | None = Field(default=None, key_name="actorId")
    at: datetime
    session_id: ObjectId | None = Field(default=None, key_name="sessionId")
    data: dict[str, Any] = Field(default={})


class AuditRecord(Model):
    """The append-only audit log of an organization (`org_audit`): nothing updates an entry,
    except account deletion (actorId → null) and the organization's own deletion."""

    key: str = Field(primary_field=True)  # "<org id>:<entry id>": a repeated move is a no-op
    org_id: ObjectId = Field(key_name="orgId")
    type: str
    actor_id: ObjectId | None = Field(default=None, key_name="actorId")
    at: datetime
    session_id: ObjectId | None = Field(default=None, key_name="sessionId")
    data: dict[str, Any] = Field(default={})
    # Turned into deliveries to the organization's webhook endpoints yet (tq.integrations)?
    dispatched: bool = False

    model_config = {
        "collection": "org_audit",
        "indexes": lambda: [
            # the audit API: newest first, cursor-paged, by org; by actor; by type
            Index(AuditRecord.org_id, desc(AuditRecord.at), desc(AuditRecord.key), name="org_at"),
            Index(
                AuditRecord.org_id,
                AuditRecord.actor_id,
                desc(AuditRecord.at),
                desc(AuditRecord.key),
                name="org_actor_at",
            ),
            Index(
                AuditRecord.org_id,
                AuditRecord.type,
                desc(AuditRecord.at),
                desc(AuditRecord.key),
                name="org_type_at",
            ),
            # account deletion: the actor's entries
            Index(AuditRecord.actor_id, name="actor"),
            # the webhook pump: entries not dispatched yet, oldest first
            Index(AuditRecord.dispatched, AuditRecord.at, name="dispatched_at"),
        ],
    }


class Organization(Model):
    """A hiring team. Members and pending invitations live in the document, so accepting (a
    seat taken with the invitation marked accepted), a role change that needs a seat and a
    removal are each one conditional update, atomic on every engine; `seatsLeft` is kept in
    the same updates (no engine here compares two fields without $expr). A personal
    organization has its owner's user id as its `_id`: creating it is an idempotent upsert."""

    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)
    name: str
    personal: bool = False
    members: list[OrgMember] = Field(default=[])
    # The members' user ids (indexed: "my organizations").
    member_ids: list[ObjectId] = Field(default=[], key_name="memberIds")
    seat_limit: int = Field(key_name="seatLimit")
    seats_left: int = Field(key_name="seatsLeft")
    invitations: list[OrgInvitation] = Field(default=[])
    invite_tokens: list[str] = Field(default=[], key_name="inviteTokens")
    # Bumped by every change of members or invitations: those writes are conditional on it.
    version: int = 0
    # Scorecard criteria a new session of this organization starts with.
    default_criteria: list[str] | None = Field(default=None, key_name="defaultCriteria")
    # The scorecard template (slug) a new session pins when it names none.
    default_template: str | None = Field(default=None, key_name="defaultTemplate")
    outbox_audit: list[AuditEntry] = Field(default=[], key_name="outboxAudit")
    audit_pending: bool = Field(default=False, key_name="auditPending")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    def role_of(self, user_id: ObjectId) -> OrgRole | None:
        return next((m.role for m in self.members if m.user_id == user_id), None)

    model_config = {
        "collection": "organizations",
        "indexes": lambda: [
            Index(
                Organization.member_ids,
                desc(Organization.created_at),
                desc(Organization.id),
                name="members_created_id",
            ),
            Index(Organization.invite_tokens, name="invite_tokens"),
            # organizations whose audit entries still wait in the document
            Index(Organization.audit_pending, name="audit_pending"),
        ],
    }


class OrgMigration(Model):
    """How far a migration walked the accounts (`after`: the last one done), so a run that
    was stopped goes on where it was."""

    key: str = Field(primary_field=True)
    after: ObjectId | None = None
    finished_at: datetime | None = Field(default=None, key_name="finishedAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {"collection": "org_migrations"}
