from __future__ import annotations

from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentUser
from tq.core.clients import Clients
from tq.core.errors import NotFound
from tq.core.http import parse_body
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.core.security import is_link_token
from tq.core.time import utcnow
from tq.invitations import service
from tq.invitations.schemas import (
    AcceptedOut,
    InvitationCreatedOut,
    InvitationList,
    InvitationOut,
    InvitationPreviewOut,
    InviteIn,
)
from tq.sessions.queries import shown

bp = Blueprint("invitations", url_prefix="/api/sessions")
links_bp = Blueprint("invitation_links", url_prefix="/api/invitations")
TAG = "invitations"


def _issued(issued: service.Issued, status: int) -> HTTPResponse:
    body = InvitationCreatedOut(
        invitation=InvitationOut.of(issued.invitation, issued.session, now=utcnow()),
        inviteUrl=issued.invite_url,
    )
    return json(dump(body), status=status)


@bp.post("/<session_id:str>/invitations")
@doc(
    summary="Invite someone by email as candidate or interviewer (host); the link is shown once",
    tag=TAG,
    body=InviteIn,
    ok={201: InvitationCreatedOut},
    errors=(403, 404, 409),
)
async def invite(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, InviteIn)
    issued = await service.invite(clients, session_id, viewer, data)
    return _issued(issued, 201)


@bp.get("/<session_id:str>/invitations")
@doc(
    summary="The session's invitations, newest first (host); never their tokens",
    tag=TAG,
    ok={200: InvitationList},
    errors=(403, 404),
)
async def list_invitations(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    session = await service.list_invitations(clients, session_id, viewer)
    newest = sorted(session.invitations, key=lambda inv: (inv.created_at, inv.id), reverse=True)
    now = utcnow()
    body = InvitationList(invitations=[InvitationOut.of(inv, session, now=now) for inv in newest])
    return json(dump(body))


@bp.delete("/<session_id:str>/invitations/<invitation_id:str>")
@doc(summary="Revoke an invitation (host)", tag=TAG, ok={204: None}, errors=(403, 404, 409))
async def revoke(
    request: Request, session_id: str, invitation_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.revoke(clients, session_id, viewer, invitation_id)
    return empty()


@bp.post("/<session_id:str>/invitations/<invitation_id:str>/resend")
@doc(
    summary="A new link (the old one stops working) and a new email (host)",
    tag=TAG,
    ok={200: InvitationCreatedOut},
    errors=(403, 404, 409),
)
async def resend(
    request: Request, session_id: str, invitation_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    issued = await service.resend(clients, session_id, viewer, invitation_id)
    return _issued(issued, 200)


def _token(token: str) -> str:
    if not is_link_token(token):
        raise NotFound("Invitation not found", code="invitation_not_found")
    return token


@links_bp.get("/<token:str>")
@doc(
    summary="What an invitation link is for (public): role, status, and the session's title, "
    "time and host name only",
    tag=TAG,
    ok={200: InvitationPreviewOut},
    errors=(404,),
    auth=False,
)
async def preview(request: Request, token: str, clients: Clients) -> HTTPResponse:
    session, invitation = await service.by_token(clients, _token(token))
    host_name = await service.host_name(clients, session)
    body = InvitationPreviewOut.of(invitation, session, host_name, now=utcnow())
    return json(dump(body))


@links_bp.post("/<token:str>/accept")
@doc(
    summary="Accept an invitation: become a member with the invited role (once per link)",
    tag=TAG,
    ok={200: AcceptedOut},
    errors=(403, 404, 409, 410),
)
async def accept(
    request: Request, token: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    view = await service.accept(clients, _token(token), viewer)
    body = AcceptedOut(session=shown(clients, view.session, view.users, viewer))
    return json(dump(body))
