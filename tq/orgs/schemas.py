from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from tq.auth.schemas import Email, Name
from tq.core.schemas import Body, Criteria, Query, UtcDatetime
from tq.orgs.models import AuditRecord, Organization, OrgInvitation, OrgInvitationStatus, OrgRole

Seats = Annotated[int, Field(ge=1, description="members in seat-taking roles at most")]
ObjectIdText = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]


class CreateOrgIn(Body):
    name: Name
    seatLimit: Seats | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def no_nulls(self) -> CreateOrgIn:
        if "seatLimit" in self.model_fields_set and self.seatLimit is None:
            raise ValueError("seatLimit cannot be null")
        return self


class UpdateOrgIn(Body):
    name: Name | SkipJsonSchema[None] = None
    seatLimit: Seats | SkipJsonSchema[None] = None
    defaultCriteria: Criteria | None = Field(
        default=None, description="criteria of the organization's new sessions; null: the default"
    )

    @model_validator(mode="after")
    def not_empty(self) -> UpdateOrgIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for required in ("name", "seatLimit"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        if self.defaultCriteria is not None and len(set(self.defaultCriteria)) != len(
            self.defaultCriteria
        ):
            raise ValueError("defaultCriteria must be unique")
        return self


class TransferIn(Body):
    userId: ObjectIdText


class RoleIn(Body):
    role: OrgRole


class InviteMemberIn(Body):
    email: Email
    role: OrgRole


class MemberOut(BaseModel):
    userId: str
    name: str | None = Field(description="null once the account is deleted")
    email: str | None
    role: OrgRole
    takesSeat: bool
    joinedAt: datetime


class OrgOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    name: str
    personal: bool
    myRole: OrgRole
    seatLimit: int
    seatsUsed: int
    members: int
    defaultCriteria: list[str] | None
    createdAt: datetime

    @classmethod
    def of(cls, org: Organization, viewer_id: Any) -> OrgOut:
        role = org.role_of(viewer_id)
        assert role is not None  # only members are shown an organization
        return cls(
            _id=str(org.id),
            name=org.name,
            personal=org.personal,
            myRole=role,
            seatLimit=org.seat_limit,
            seatsUsed=org.seat_limit - org.seats_left,
            members=len(org.members),
            defaultCriteria=org.default_criteria,
            createdAt=org.created_at,
        )


class OrgEnvelope(BaseModel):
    org: OrgOut


class OrgList(BaseModel):
    orgs: list[OrgOut]


class MemberList(BaseModel):
    members: list[MemberOut]


class OrgInvitationOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    email: str
    role: OrgRole
    status: OrgInvitationStatus
    expiresAt: datetime
    createdAt: datetime
    acceptedAt: datetime | None
    acceptedBy: str | None

    @classmethod
    def of(cls, invitation: OrgInvitation, status: OrgInvitationStatus) -> OrgInvitationOut:
        return cls(
            _id=str(invitation.id),
            email=invitation.email,
            role=invitation.role,
            status=status,
            expiresAt=invitation.expires_at,
            createdAt=invitation.created_at,
            acceptedAt=invitation.accepted_at,
            acceptedBy=str(invitation.accepted_by) if invitation.accepted_by else None,
        )


class OrgInvitationCreatedOut(BaseModel):
    invitation: OrgInvitationOut
    inviteUrl: str = Field(description="the link, shown once (it is also emailed)")


class OrgInvitationList(BaseModel):
    invitations: list[OrgInvitationOut]


class OrgInvitationPreviewOut(BaseModel):
    orgName: str
    role: OrgRole
    status: OrgInvitationStatus
    expiresAt: datetime


AUDIT_CURSOR = r"^[0-9]{13}_[0-9a-f]{24}:[0-9a-f]{24}$"


class AuditQuery(Query):
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    actor: ObjectIdText | SkipJsonSchema[None] = None
    type: Annotated[str, StringConstraints(pattern=r"^[a-z_.]{1,60}$")] | SkipJsonSchema[None] = (
        None
    )
    since: UtcDatetime | SkipJsonSchema[None] = None
    until: UtcDatetime | SkipJsonSchema[None] = None
    after: (
        Annotated[
            str,
            StringConstraints(pattern=AUDIT_CURSOR),
            Field(description="nextCursor of the previous page"),
        ]
        | SkipJsonSchema[None]
    ) = None


class AuditOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    type: str
    actorId: str | None = Field(description="null for jobs, and once the account is deleted")
    at: datetime
    sessionId: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, record: AuditRecord) -> AuditOut:
        return cls(
            _id=record.key,
            type=record.type,
            actorId=str(record.actor_id) if record.actor_id else None,
            at=record.at,
            sessionId=str(record.session_id) if record.session_id else None,
            data=record.data,
        )


class AuditPage(BaseModel):
    entries: list[AuditOut]
    nextCursor: str | None


class CandidateQuery(Query):
    email: Email


class CandidateErasedOut(BaseModel):
    sessions: int = Field(description="the organization's sessions the person was found in")
    removed: dict[str, int] = Field(description="what was removed or anonymised, by kind")
