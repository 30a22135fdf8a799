"""The organization routes. The organization a request acts in is always named by its path:
`/api/orgs/{org_id}/…`; the routes of a session act in the session's own organization, and
`POST /api/sessions` in the caller's personal one (README "Organizations")."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId
from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentUser
from tq.core.clients import Clients
from tq.core.errors import BadRequest, NotFound
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.core.security import is_link_token
from tq.core.time import utcnow
from tq.orgs import audit, service
from tq.orgs.models import Organization
from tq.orgs.permissions import SEAT_ROLES, Action
from tq.orgs.schemas import (
    AuditOut,
    AuditPage,
    AuditQuery,
    CandidateErasedOut,
    CandidateQuery,
    CreateOrgIn,
    InviteMemberIn,
    MemberList,
    MemberOut,
    OrgEnvelope,
    OrgInvitationCreatedOut,
    OrgInvitationList,
    OrgInvitationOut,
    OrgInvitationPreviewOut,
    OrgList,
    OrgOut,
    RoleIn,
    TransferIn,
    UpdateOrgIn,
)
from tq.users.service import get_users

bp = Blueprint("orgs", url_prefix="/api/orgs")
links_bp = Blueprint("org_invitation_links", url_prefix="/api/org-invitations")
TAG = "organizations"


def _org(org: Organization, viewer: CurrentUser, status: int = 200) -> HTTPResponse:
    return json(dump(OrgEnvelope(org=OrgOut.of(org, viewer.id))), status=status)


@bp.post("/")
@doc(
    summary="Create an organization (the caller becomes its owner)",
    tag=TAG,
    body=CreateOrgIn,
    ok={201: OrgEnvelope},
    errors=(409,),
)
async def create_org(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    data = parse_body(request, CreateOrgIn)
    return _org(await service.create_org(clients, viewer, data), viewer, 201)


@bp.get("/")
@doc(
    summary="The caller's organizations, newest first (the personal one too)",
    tag=TAG,
    ok={200: OrgList},
)
async def list_orgs(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    orgs = await service.list_orgs(clients, viewer)
    return json(dump(OrgList(orgs=[OrgOut.of(o, viewer.id) for o in orgs])))


@bp.get("/<org_id:str>")
@doc(summary="One organization (members)", tag=TAG, ok={200: OrgEnvelope}, errors=(404,))
async def get_org(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return _org(await service.org_for(clients.engine, org_id, viewer, Action.ORG_READ), viewer)


@bp.patch("/<org_id:str>")
@doc(
    summary="Rename, change the seat limit or the default scorecard criteria (owners, admins)",
    tag=TAG,
    body=UpdateOrgIn,
    ok={200: OrgEnvelope},
    errors=(403, 404, 409),
)
async def update_org(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, UpdateOrgIn)
    return _org(await service.update_org(clients, org_id, viewer, data), viewer)


@bp.delete("/<org_id:str>")
@doc(
    summary="Delete the organization (owner); its sessions move to the owner's personal one",
    tag=TAG,
    ok={204: None},
    errors=(403, 404, 409),
)
async def delete_org(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.delete_org(clients, org_id, viewer)
    return empty()


@bp.post("/<org_id:str>/transfer")
@doc(
    summary="Hand ownership to another member (owner; the owner becomes an admin)",
    tag=TAG,
    body=TransferIn,
    ok={200: OrgEnvelope},
    errors=(403, 404, 409),
)
async def transfer(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, TransferIn)
    return _org(await service.transfer(clients, org_id, viewer, data.userId), viewer)


# --- members


@bp.get("/<org_id:str>/members")
@doc(summary="The members and their roles", tag=TAG, ok={200: MemberList}, errors=(404,))
async def list_members(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    org = await service.org_for(clients.engine, org_id, viewer, Action.MEMBERS_READ)
    users = await get_users(clients.engine, org.member_ids)
    members = [
        MemberOut(
            userId=str(m.user_id),
            name=users[m.user_id].name if m.user_id in users else None,
            email=users[m.user_id].email if m.user_id in users else None,
            role=m.role,
            takesSeat=m.role in SEAT_ROLES,
            joinedAt=m.joined_at,
        )
        for m in org.members
    ]
    return json(dump(MemberList(members=members)))


@bp.patch("/<org_id:str>/members/<user_id:str>")
@doc(
    summary="Change a member's role (owners, admins); a role that takes a seat needs one",
    tag=TAG,
    body=RoleIn,
    ok={200: OrgEnvelope},
    errors=(403, 404, 409),
)
async def change_role(
    request: Request, org_id: str, user_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, RoleIn)
    return _org(await service.change_role(clients, org_id, viewer, user_id, data.role), viewer)


@bp.delete("/<org_id:str>/members/<user_id:str>")
@doc(
    summary="Remove a member (owners, admins): the seat is freed and their sessions go to the "
    "admin removing them, or to the owner or admin named by `handTo` (204: you removed "
    "yourself)",
    tag=TAG,
    ok={200: OrgEnvelope, 204: None},
    errors=(403, 404, 409),
)
async def remove_member(
    request: Request, org_id: str, user_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    hand_to = request.args.get("handTo")
    if hand_to is not None and len(hand_to) != 24:
        raise BadRequest("handTo is a member's id", code="validation_error")
    org = await service.remove_member(clients, org_id, viewer, user_id, hand_to)
    if org.role_of(viewer.id) is None:
        return empty()  # they removed themselves: nothing of it is theirs to see any more
    return _org(org, viewer)


# --- invitations


@bp.get("/<org_id:str>/invitations")
@doc(
    summary="Invitations to join, newest first", tag=TAG, ok={200: OrgInvitationList}, errors=(404,)
)
async def list_invitations(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    org = await service.org_for(clients.engine, org_id, viewer, Action.MEMBERS_READ)
    now = utcnow()
    newest = sorted(org.invitations, key=lambda i: (i.created_at, i.id), reverse=True)
    body = OrgInvitationList(
        invitations=[OrgInvitationOut.of(i, service.invitation_status(i, now)) for i in newest]
    )
    return json(dump(body))


@bp.post("/<org_id:str>/invitations")
@doc(
    summary="Invite someone by email with a role (owners, admins); the link is shown once",
    tag=TAG,
    body=InviteMemberIn,
    ok={201: OrgInvitationCreatedOut},
    errors=(403, 404, 409),
)
async def invite(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, InviteMemberIn)
    _, invitation, url = await service.invite(clients, org_id, viewer, data)
    body = OrgInvitationCreatedOut(
        invitation=OrgInvitationOut.of(invitation, "pending"), inviteUrl=url
    )
    return json(dump(body), status=201)


@bp.delete("/<org_id:str>/invitations/<invitation_id:str>")
@doc(
    summary="Revoke an invitation (owners, admins)", tag=TAG, ok={204: None}, errors=(403, 404, 409)
)
async def revoke(
    request: Request, org_id: str, invitation_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.revoke(clients, org_id, viewer, invitation_id)
    return empty()


def _token(token: str) -> str:
    if not is_link_token(token):
        raise NotFound("Invitation not found", code="invitation_not_found")
    return token


@links_bp.get("/<token:str>")
@doc(
    summary="What an organization invitation is for (public): the organization's name, role "
    "and status",
    tag=TAG,
    ok={200: OrgInvitationPreviewOut},
    errors=(404,),
    auth=False,
)
async def preview(request: Request, token: str, clients: Clients) -> HTTPResponse:
    org, invitation = await service.by_token(clients.engine, _token(token))
    body = OrgInvitationPreviewOut(
        orgName=org.name,
        role=invitation.role,
        status=service.invitation_status(invitation, utcnow()),
        expiresAt=invitation.expires_at,
    )
    return json(dump(body))


@links_bp.post("/<token:str>/accept")
@doc(
    summary="Accept: become a member with the invited role (a seat-taking role needs a seat)",
    tag=TAG,
    ok={200: OrgEnvelope},
    errors=(403, 404, 409, 410),
)
async def accept(
    request: Request, token: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return _org(await service.accept(clients, _token(token), viewer), viewer)


# --- a candidate's data


@bp.delete("/<org_id:str>/candidates")
@doc(
    summary="Delete a candidate's data from the organization's sessions (owners, admins): "
    "invitations, seats, chat, runs, code and emails go, and notes, scorecards and webhook "
    "payloads lose their name and email; the audit log says what",
    tag=TAG,
    query=CandidateQuery,
    ok={200: CandidateErasedOut},
    errors=(403, 404, 409),
)
async def erase_candidate(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, CandidateQuery)
    erasure = await service.erase_candidate(clients, org_id, viewer, query.email)
    body = CandidateErasedOut(sessions=len(erasure.session_ids), removed=dict(erasure.removed))
    return json(dump(body))


# --- audit


def _cursor(at: datetime, key: str) -> str:
    return f"{int(at.timestamp() * 1000):013d}_{key}"


def _position(cursor: str) -> tuple[datetime, str]:
    millis, key = cursor.split("_", 1)
    return datetime.fromtimestamp(int(millis) / 1000, UTC), key


@bp.get("/<org_id:str>/audit")
@doc(
    summary="The audit log, newest first, cursor-paged; by actor, type and time (owners, admins)",
    tag=TAG,
    query=AuditQuery,
    ok={200: AuditPage},
    errors=(403, 404),
)
async def audit_log(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, AuditQuery)
    org = await service.org_for(clients.engine, org_id, viewer, Action.AUDIT_READ)
    records, more = await audit.read_page(
        clients,
        org,
        actor=ObjectId(query.actor) if query.actor else None,
        type_=query.type,
        since=query.since,
        until=query.until,
        after=_position(query.after) if query.after else None,
        limit=query.limit,
    )
    cursor = _cursor(records[-1].at, records[-1].key) if more and records else None
    return json(dump(AuditPage(entries=[AuditOut.of(r) for r in records], nextCursor=cursor)))
