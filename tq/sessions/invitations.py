"""Invitations kept inside the session document (the routes, tokens and emails are
tq.invitations'): their status and expiry, and the one conditional rewrite of the list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tq.core.clients import Clients
from tq.sessions import store
from tq.sessions.models import FINAL_STATUSES, Invitation, InvitationStatus, Session, SessionEvent


def invitation_expiry(invitation: Invitation, session: Session) -> datetime:
    """An invitation lapses after its TTL, or when the session ends or is cancelled."""
    if session.status in FINAL_STATUSES and session.end_time is not None:
        return min(invitation.expires_at, session.end_time)
    return invitation.expires_at


def invitation_status(invitation: Invitation, session: Session, now: datetime) -> InvitationStatus:
    if invitation.status != "pending":
        return invitation.status
    if session.status in FINAL_STATUSES or now >= invitation.expires_at:
        return "expired"
    return "pending"


async def rewrite_invitations(
    clients: Clients,
    session: Session,
    invitations: list[Invitation],
    *,
    filter_: dict[str, Any] | None = None,
    update: dict[str, Any] | None = None,
    events: list[SessionEvent] | None = None,
) -> Session | None:
    """Replace the session's invitations with `invitations` (and apply `update`) if nobody
    changed them since `session` was read: one conditional update on `invitesVersion`. None
    when it did not match (the caller re-reads and decides again)."""
    update = dict(update or {})
    update["$set"] = {
        **update.get("$set", {}),
        "invitations": [inv.model_dump_doc() for inv in invitations],
        "inviteTokens": [inv.token_hash for inv in invitations],
    }
    update["$inc"] = {**update.get("$inc", {}), "invitesVersion": 1}
    return await store.update(
        clients,
        {"_id": session.id, "invitesVersion": session.invites_version, **(filter_ or {})},
        update,
        events,
    )
