from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from tq.auth.dependencies import CurrentUser
from tq.core.clients import Clients
from tq.core.openapi import doc
from tq.notifications.service import calendar_for
from tq.orgs.permissions import Action
from tq.sessions.queries import member_session
from tq.users.service import get_users

bp = Blueprint("calendar", url_prefix="/api/sessions")


@bp.get("/<session_id:str>/calendar.ics")
@doc(
    summary="The session's current calendar event (members, and its organization's): same UID "
    "and SEQUENCE as the emailed invites",
    tag="sessions",
    ok={200: "text/calendar"},
    errors=(404,),
)
async def calendar(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    session = await member_session(clients.engine, session_id, viewer, Action.SESSIONS_READ)
    host = (await get_users(clients.engine, [session.created_by])).get(session.created_by)
    return raw(
        calendar_for(session, host, clients.settings, viewer.email),
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="session-{session.id}.ics"'},
    )
