from __future__ import annotations

import math

from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentUser
from tq.core.clients import Clients
from tq.core.db import Document
from tq.core.errors import NotFound
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.orgs.permissions import Action
from tq.orgs.service import org_for, personal_default_criteria
from tq.problems import service as problems
from tq.problems.schemas import PinnedProblemEnvelope
from tq.sessions import queries, service
from tq.sessions.schemas import (
    CreateSessionIn,
    EndSessionOut,
    LimitQuery,
    ListSessionsQuery,
    Pagination,
    SessionEnvelope,
    SessionList,
    SessionPage,
    UpdateSessionIn,
)
from tq.users.models import User

bp = Blueprint("sessions", url_prefix="/api/sessions")
# An organization's sessions: the organization is the path's (README "Organizations").
org_sessions_bp = Blueprint("org_sessions", url_prefix="/api/orgs")
TAG = "sessions"


def written(
    clients: Clients, view: service.SessionView, viewer: User, status: int = 200
) -> HTTPResponse:
    """A session just written: its users came with it (no further read)."""
    body = SessionEnvelope(session=queries.shown(clients, view.session, view.users, viewer))
    return json(dump(body), status=status)


async def page(
    clients: Clients,
    sessions: list[Document],
    total: int,
    query: ListSessionsQuery,
    viewer: User,
) -> HTTPResponse:
    pagination = Pagination(
        page=query.page, limit=query.limit, total=total, pages=math.ceil(total / query.limit)
    )
    shown = await queries.shown_many(clients, sessions, viewer)
    return json(dump(SessionPage(sessions=shown, pagination=pagination)))


@bp.post("/")
@doc(
    summary="Create a session (the frontend's body, or the README's)",
    tag=TAG,
    body=CreateSessionIn,
    ok={201: SessionEnvelope},
    errors=(413,),
)
async def create_session(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    return await _create(request, clients, viewer)


async def _create(request: Request, clients: Clients, viewer: User) -> HTTPResponse:
    data = parse_body(request, CreateSessionIn)
    # In the caller's personal organization, with its default criteria if it has set some.
    criteria = await personal_default_criteria(clients.engine, viewer)
    view = await service.create_session(clients, viewer, data, None, criteria)
    return written(clients, view, viewer, 201)


# The README's route for the same operation: a handler of its own, so each path gets its own
# operationId in the spec.
@bp.post("/create")
@doc(
    summary="Create a session (the README's route; same body as POST /api/sessions)",
    tag=TAG,
    body=CreateSessionIn,
    ok={201: SessionEnvelope},
    errors=(413,),
)
async def create_session_readme(
    request: Request, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return await _create(request, clients, viewer)


@bp.get("/")
@doc(
    summary="My sessions, or with scope=open the joinable sessions of others",
    tag=TAG,
    query=ListSessionsQuery,
    ok={200: SessionPage},
)
async def list_sessions(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    query = parse_query(request, ListSessionsQuery)
    sessions, total = await queries.list_sessions(clients.engine, viewer, query)
    return await page(clients, sessions, total, query, viewer)


@bp.get("/active")
@doc(
    summary="Active sessions for the lobby, newest first",
    tag=TAG,
    query=LimitQuery,
    ok={200: SessionList},
)
async def active_sessions(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    query = parse_query(request, LimitQuery)
    sessions = await queries.active_sessions(clients.engine, query.limit)
    return json(dump(SessionList(sessions=await queries.shown_many(clients, sessions, viewer))))


@bp.get("/my-recent")
@doc(
    summary="My completed sessions, newest first", tag=TAG, query=LimitQuery, ok={200: SessionList}
)
async def my_recent(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    query = parse_query(request, LimitQuery)
    sessions = await queries.recent_sessions(clients.engine, viewer, query.limit)
    return json(dump(SessionList(sessions=await queries.shown_many(clients, sessions, viewer))))


@bp.get("/user/<user_id:str>")
@doc(
    summary="A user's sessions (another user's: only those shared with me)",
    tag=TAG,
    query=ListSessionsQuery,
    ok={200: SessionPage},
    errors=(404,),
)
async def sessions_of_user(
    request: Request, user_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, ListSessionsQuery)
    sessions, total = await queries.sessions_of_user(clients.engine, viewer, user_id, query)
    return await page(clients, sessions, total, query, viewer)


@bp.get("/<session_id:str>")
@doc(
    summary="One session (members; others only while it is joinable)",
    tag=TAG,
    ok={200: SessionEnvelope},
    errors=(404,),
)
async def get_session(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    shown = await queries.session_for_viewer(clients, session_id, viewer)
    return json(dump(SessionEnvelope.model_construct(session=shown)))


@bp.get("/<session_id:str>/problem")
@doc(
    summary="The session's problem as pinned when it was set: samples only, for everyone in it",
    tag=TAG,
    ok={200: PinnedProblemEnvelope},
    errors=(403, 404),
    description="The candidate reads the version the session pinned, never a later edit, "
    "and never a hidden test, the checker or the solutions. 404 problem_not_set: none set.",
)
async def get_session_problem(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    session = await queries.member_session(clients.engine, session_id, viewer, Action.SESSIONS_READ)
    shown = await problems.pinned_view(clients, session.problem_id, session.problem_version_id)
    if shown is None:
        raise NotFound("The session has no problem", code="problem_not_set")
    return json(dump(PinnedProblemEnvelope(problem=shown)))


@bp.patch("/<session_id:str>")
@doc(
    summary="Change a session (host only)",
    tag=TAG,
    body=UpdateSessionIn,
    ok={200: SessionEnvelope},
    errors=(403, 404, 409, 413),
)
async def update_session(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return await _update(request, session_id, clients, viewer)


async def _update(
    request: Request, session_id: str, clients: Clients, viewer: User
) -> HTTPResponse:
    data = parse_body(request, UpdateSessionIn)
    session = await queries.host_session(clients.engine, session_id, viewer)
    return written(clients, await service.update_session(clients, session, data, viewer), viewer)


# PUT takes the same partial body as PATCH (the README documents both); its own handler gives
# it its own operationId in the spec.
@bp.put("/<session_id:str>")
@doc(
    summary="Change a session (host only; same as PATCH)",
    tag=TAG,
    body=UpdateSessionIn,
    ok={200: SessionEnvelope},
    errors=(403, 404, 409, 413),
)
async def replace_session(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return await _update(request, session_id, clients, viewer)


@bp.delete("/<session_id:str>")
@doc(
    summary="Delete a session and its chat history (host only)",
    tag=TAG,
    ok={204: None},
    errors=(403, 404),
)
async def delete_session(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    session = await queries.host_session(clients.engine, session_id, viewer)
    await service.delete_session(clients, session)
    return empty()


@bp.post("/<session_id:str>/join")
@doc(summary="Take a seat", tag=TAG, ok={200: SessionEnvelope}, errors=(404, 409))
async def join(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    return written(clients, await service.join_session(clients, session_id, viewer), viewer)


@bp.post("/<session_id:str>/leave")
@doc(
    summary="Give up a seat (participants)",
    tag=TAG,
    ok={200: SessionEnvelope},
    errors=(403, 404, 409),
)
async def leave(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    view = await service.leave_session(clients, session_id, viewer)
    return written(clients, view, viewer)


@bp.post("/<session_id:str>/start")
@doc(
    summary="Start a scheduled session (host)",
    tag=TAG,
    ok={200: SessionEnvelope},
    errors=(403, 404, 409),
)
async def start(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    view = await service.host_action(clients, session_id, viewer, "active")
    return written(clients, view, viewer)


@bp.post("/<session_id:str>/end")
@doc(
    summary="End an active session (host)", tag=TAG, ok={200: EndSessionOut}, errors=(403, 404, 409)
)
async def end(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    view = await service.host_action(clients, session_id, viewer, "completed")
    body = EndSessionOut(
        session=queries.shown(clients, view.session, view.users, viewer),
        message="Session ended successfully",
    )
    return json(dump(body))


@bp.post("/<session_id:str>/cancel")
@doc(
    summary="Cancel a scheduled or active session (host)",
    tag=TAG,
    ok={200: SessionEnvelope},
    errors=(403, 404, 409),
)
async def cancel(
    request: Request, session_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    view = await service.host_action(clients, session_id, viewer, "cancelled")
    return written(clients, view, viewer)


@org_sessions_bp.post("/<org_id:str>/sessions")
@doc(
    summary="Create a session in an organization (its default scorecard criteria apply)",
    tag=TAG,
    body=CreateSessionIn,
    ok={201: SessionEnvelope},
    errors=(403, 404, 413),
)
async def create_org_session(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, CreateSessionIn)
    org = await org_for(clients.engine, org_id, viewer, Action.SESSIONS_CREATE)
    view = await service.create_session(clients, viewer, data, org.id, org.default_criteria)
    return written(clients, view, viewer, 201)


@org_sessions_bp.get("/<org_id:str>/sessions")
@doc(
    summary="An organization's sessions (its members); the same filters as GET /api/sessions",
    tag=TAG,
    query=ListSessionsQuery,
    ok={200: SessionPage},
    errors=(403, 404),
)
async def org_sessions(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, ListSessionsQuery)
    org = await org_for(clients.engine, org_id, viewer, Action.SESSIONS_READ)
    sessions, total = await queries.org_sessions(clients.engine, org.id, viewer, query)
    return await page(clients, sessions, total, query, viewer)
