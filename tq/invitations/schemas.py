from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tq.auth.schemas import Email, Name, TimeZoneName
from tq.core.schemas import Body
from tq.core.security import LINK_TOKEN_PATTERN
from tq.sessions.invitations import invitation_expiry, invitation_status
from tq.sessions.models import Invitation, InvitationStatus, InvitedRole, Session
from tq.sessions.schemas import SessionOut

# A link token: 43 characters of URL-safe base64 (an HMAC-SHA256).
Token = Annotated[str, StringConstraints(pattern=LINK_TOKEN_PATTERN)]


class InviteIn(Body):
    email: Email
    role: InvitedRole
    name: Name | None = None
    timezone: Annotated[
        TimeZoneName | None,
        Field(description="how times are shown to an invitee without an account (IANA name)"),
    ] = None


class InvitationOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    email: str
    name: str | None
    role: InvitedRole
    status: InvitationStatus
    expiresAt: datetime
    createdAt: datetime
    sentAt: datetime | None = Field(description="when the current link was emailed")
    acceptedAt: datetime | None
    acceptedBy: str | None

    @classmethod
    def of(cls, invitation: Invitation, session: Session, *, now: datetime) -> InvitationOut:
        """The invitation as the host sees it at `now` (lapsed ones are `expired`)."""
        return cls(
            _id=str(invitation.id),
            email=invitation.email,
            name=invitation.name,
            role=invitation.role,
            status=invitation_status(invitation, session, now),
            expiresAt=invitation_expiry(invitation, session),
            createdAt=invitation.created_at,
            sentAt=invitation.sent_at,
            acceptedAt=invitation.accepted_at,
            acceptedBy=str(invitation.accepted_by) if invitation.accepted_by else None,
        )


class InvitationCreatedOut(BaseModel):
    invitation: InvitationOut
    inviteUrl: str = Field(description="the one-time link; shown here once, and emailed")


class InvitationList(BaseModel):
    invitations: list[InvitationOut] = Field(description="newest first (at most 50 a session)")


class PreviewInvitationOut(BaseModel):
    role: InvitedRole
    status: InvitationStatus
    expiresAt: datetime


class PreviewSessionOut(BaseModel):
    title: str
    startTime: datetime
    duration: int | None
    hostName: str


class InvitationPreviewOut(BaseModel):
    invitation: PreviewInvitationOut
    session: PreviewSessionOut

    @classmethod
    def of(
        cls, invitation: Invitation, session: Session, host_name: str, *, now: datetime
    ) -> InvitationPreviewOut:
        """What an invitation link is for, as anyone holding it sees it at `now`."""
        return cls(
            invitation=PreviewInvitationOut(
                role=invitation.role,
                status=invitation_status(invitation, session, now),
                expiresAt=invitation_expiry(invitation, session),
            ),
            session=PreviewSessionOut(
                title=session.title,
                startTime=session.start_time,
                duration=session.duration,
                hostName=host_name,
            ),
        )


class AcceptedOut(BaseModel):
    session: SessionOut
