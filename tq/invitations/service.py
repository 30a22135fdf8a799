"""Invitations: the host invites people by email into a session with a role; each gets a
personal one-time link. Invitations live inside the session document and every change to them
is one conditional update on the session's `invitesVersion` (re-read and decided again when
someone else changed them first), so accepting is atomic with taking the seat: of many
concurrent accepts of one link exactly one wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.errors import Conflict, Forbidden, Gone, NotFound
from tq.core.security import new_nonce, token_hash
from tq.core.time import utcnow
from tq.invitations.schemas import InviteIn
from tq.notifications.service import invitation_token, invite_url, queue_invitation_email
from tq.sessions import store
from tq.sessions.invitations import invitation_status, rewrite_invitations
from tq.sessions.log import session_event
from tq.sessions.models import FINAL_STATUSES, OPEN_STATUSES, Invitation, Session
from tq.sessions.queries import host_session
from tq.sessions.service import SessionView, after_write
from tq.users.models import User
from tq.users.service import get_users

# Invitations a session may hold (any status): the list is bounded, and returned whole.
MAX_INVITATIONS = 50
# Interviewers on a panel besides the host.
MAX_INTERVIEWERS = 10
# Re-reads when another change to the same session's invitations came first.
ATTEMPTS = 8


@dataclass
class Issued:
    session: Session
    invitation: Invitation
    invite_url: str


def _changed_meanwhile() -> Conflict:
    return Conflict("The session changed meanwhile; retry", code="conflict")


def _with_token(clients: Clients, session_id: ObjectId, invitation: Invitation) -> str:
    return invitation_token(clients.settings, session_id, invitation)


async def invite(clients: Clients, session_id: str, host: User, data: InviteIn) -> Issued:
    settings = clients.settings
    email = data.email
    for _ in range(ATTEMPTS):
        session = await host_session(clients.engine, session_id, host)
        if session.status in FINAL_STATUSES:
            raise Conflict("This session has ended", code="session_closed")
        members = await get_users(clients.engine, session.members)
        if any(user.email == email for user in members.values()):
            raise Conflict("This person is already a member", code="already_member")
        if email == host.email:
            # Someone managing the session through their organization role (a recruiter) must
            # not seat themselves on its panel, where the notes are.
            raise Conflict("You cannot invite yourself", code="self_invite")
        now = utcnow()
        pending = [
            inv for inv in session.invitations if invitation_status(inv, session, now) == "pending"
        ]
        if any(inv.email == email for inv in pending):
            raise Conflict("This email already has a pending invitation", code="already_invited")
        if data.role == "candidate":
            waiting = sum(1 for inv in pending if inv.role == "candidate")
            if waiting + 1 > session.seats_left:
                raise Conflict(
                    f"{session.seats_left} seat(s) left and {waiting} candidate(s) invited",
                    code="session_full",
                )
        elif (
            len(session.interviewers) + sum(1 for inv in pending if inv.role == "interviewer")
            >= MAX_INTERVIEWERS
        ):
            raise Conflict(
                f"A panel has at most {MAX_INTERVIEWERS} interviewers", code="panel_full"
            )
        if len(session.invitations) >= MAX_INVITATIONS:
            raise Conflict(
                f"A session holds at most {MAX_INVITATIONS} invitations",
                code="too_many_invitations",
            )
        invitation = Invitation(
            email=email,
            name=data.name,
            role=data.role,
            timezone=data.timezone,
            nonce=new_nonce(),
            token_hash="",
            invited_by=host.id,
            expires_at=now + timedelta(days=settings.invite_ttl_days),
            created_at=now,
        )
        token = _with_token(clients, session.id, invitation)
        invitation.token_hash = token_hash(token)
        sent = session_event(
            "invitation.sent", host.id, invitationId=str(invitation.id), role=data.role
        )
        written = await rewrite_invitations(
            clients,
            session,
            [*session.invitations, invitation],
            filter_={"status": {"$in": list(OPEN_STATUSES)}},
            events=[sent],
        )
        if written is not None:
            await queue_invitation_email(clients, written, invitation)
            return Issued(written, invitation, invite_url(settings, token))
    raise _changed_meanwhile()


async def list_invitations(clients: Clients, session_id: str, host: User) -> Session:
    return await host_session(clients.engine, session_id, host)


def _find(session: Session, invitation_id: str) -> int:
    oid = parse_object_id(invitation_id)
    for i, inv in enumerate(session.invitations):
        if inv.id == oid:
            return i
    raise NotFound("Invitation not found", code="invitation_not_found")


async def revoke(clients: Clients, session_id: str, host: User, invitation_id: str) -> None:
    """Revoking twice is fine; an accepted invitation is not revoked (the member stays)."""
    for _ in range(ATTEMPTS):
        session = await host_session(clients.engine, session_id, host)
        i = _find(session, invitation_id)
        invitation = session.invitations[i]
        if invitation.status == "revoked":
            return
        if invitation.status == "accepted":
            raise Conflict("This invitation was accepted already", code="invitation_accepted")
        invitations = list(session.invitations)
        invitations[i] = invitation.model_copy(update={"status": "revoked", "revoked_at": utcnow()})
        revoked = session_event("invitation.revoked", host.id, invitationId=str(invitation.id))
        written = await rewrite_invitations(clients, session, invitations, events=[revoked])
        if written is not None:
            return
    raise _changed_meanwhile()


async def resend(clients: Clients, session_id: str, host: User, invitation_id: str) -> Issued:
    """A new link (the old one stops working), a fresh expiry, and a new email."""
    settings = clients.settings
    for _ in range(ATTEMPTS):
        session = await host_session(clients.engine, session_id, host)
        if session.status in FINAL_STATUSES:
            raise Conflict("This session has ended", code="session_closed")
        i = _find(session, invitation_id)
        invitation = session.invitations[i]
        if invitation.status != "pending":
            raise Conflict(f"This invitation is {invitation.status}", code="invitation_not_pending")
        renewed = invitation.model_copy(
            update={
                "nonce": new_nonce(),
                "sends": invitation.sends + 1,
                "sent_at": None,
                "expires_at": utcnow() + timedelta(days=settings.invite_ttl_days),
            }
        )
        token = _with_token(clients, session.id, renewed)
        renewed.token_hash = token_hash(token)
        invitations = list(session.invitations)
        invitations[i] = renewed
        sent = session_event(
            "invitation.sent",
            host.id,
            invitationId=str(invitation.id),
            role=invitation.role,
            resend=True,
        )
        written = await rewrite_invitations(
            clients,
            session,
            invitations,
            filter_={"status": {"$in": list(OPEN_STATUSES)}},
            events=[sent],
        )
        if written is not None:
            await queue_invitation_email(clients, written, renewed)
            return Issued(written, renewed, invite_url(settings, token))
    raise _changed_meanwhile()


async def by_token(clients: Clients, token: str) -> tuple[Session, Invitation]:
    """The session and invitation a link points to; 404 for anything unknown (an old link of
    a re-sent invitation included)."""
    hashed = token_hash(token)
    session = await store.find_by_invite_token(clients.engine, hashed)
    invitation = (
        next((inv for inv in session.invitations if inv.token_hash == hashed), None)
        if session
        else None
    )
    if session is None or invitation is None:
        raise NotFound("Invitation not found", code="invitation_not_found")
    return session, invitation


async def host_name(clients: Clients, session: Session) -> str:
    users = await get_users(clients.engine, [session.created_by])
    host = users.get(session.created_by)
    return host.name if host else "Deleted user"


def _refuse_unusable(session: Session, invitation: Invitation) -> None:
    status = invitation_status(invitation, session, utcnow())
    if status == "accepted":
        raise Gone("This invitation was used already", code="invitation_used")
    if status == "revoked":
        raise Gone("This invitation was revoked", code="invitation_revoked")
    if status == "expired":
        raise Gone("This invitation has expired", code="invitation_expired")


async def accept(clients: Clients, token: str, user: User) -> SessionView:
    """Become a member with the invited role: the invitation is marked accepted and the seat
    (or the panel place) taken in one conditional update."""
    for _ in range(ATTEMPTS):
        session, invitation = await by_token(clients, token)
        _refuse_unusable(session, invitation)
        if not clients.settings.invite_any_account and user.email != invitation.email:
            raise Forbidden(
                "This invitation was sent to another email address",
                code="invitation_email_mismatch",
            )
        if user.id in session.members:
            raise Conflict("You are already a member of this session", code="already_member")
        now = utcnow()
        invitations = [
            inv.model_copy(
                update={"status": "accepted", "accepted_at": now, "accepted_by": user.id}
            )
            if inv.id == invitation.id
            else inv
            for inv in session.invitations
        ]
        filter_: dict[str, Any] = {
            "status": {"$in": list(OPEN_STATUSES)},
            "members": {"$ne": user.id},
        }
        update: dict[str, Any]
        if invitation.role == "candidate":
            filter_["seatsLeft"] = {"$gt": 0}
            update = {
                "$addToSet": {"participants": user.id, "members": user.id},
                "$inc": {"seatsLeft": -1},
            }
        else:
            update = {"$addToSet": {"interviewers": user.id, "members": user.id}}
        accepted = session_event(
            "invitation.accepted",
            user.id,
            invitationId=str(invitation.id),
            userId=str(user.id),
            role=invitation.role,
        )
        joined = session_event("member.joined", user.id, userId=str(user.id), role=invitation.role)
        written = await rewrite_invitations(
            clients, session, invitations, filter_=filter_, update=update, events=[accepted, joined]
        )
        if written is not None:
            return await after_write(clients, written)
        current = await store.load(clients.engine, str(session.id))
        if current.invites_version != session.invites_version:
            continue  # invitations changed (maybe this very one): decide again
        if user.id in current.members:
            raise Conflict("You are already a member of this session", code="already_member")
        if current.status in FINAL_STATUSES:
            raise Gone("This invitation has expired", code="invitation_expired")
        if invitation.role == "candidate" and current.seats_left <= 0:
            raise Conflict("This session is full", code="session_full")
    raise _changed_meanwhile()
