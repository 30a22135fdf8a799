from __future__ import annotations

import math
from collections.abc import Iterable

from bson import ObjectId
from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import authenticated, current_user
from tq.core.clients import Clients
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.core.time import utcnow
from tq.sessions import queries, service
from tq.sessions.models import Session
from tq.sessions.schemas import (
    CreateSessionIn,
    EndSessionOut,
    LimitQuery,
    ListSessionsQuery,
    Pagination,
    SessionEnvelope,
    SessionList,
    SessionOut,
    SessionPage,
    UpdateSessionIn,
    render_session,
)
from tq.users.models import User, UserCard
from tq.users.service import get_users

bp = Blueprint("sessions", url_prefix="/api/sessions")
TAG = "sessions"


async def rendered(
    request: Request, clients: Clients, sessions: Iterable[Session]
) -> list[dict[str, object]]:
    """Sessions as JSON for the caller; their users come from one extra query in all."""
    sessions = list(sessions)
    viewer = current_user(request)
    ids = {uid for session in sessions for uid in session.members}
    users = await get_users(clients.engine, ids)
    return [dump(show(clients, session, users, viewer)) for session in sessions]


def show(
    clients: Clients, session: Session, users: dict[ObjectId, UserCard], viewer: User
) -> SessionOut:
    return render_session(
        session,
        users,
        viewer,
        join_window_minutes=clients.settings.join_window_minutes,
        now=utcnow(),
    )


async def one(
    request: Request, clients: Clients, session: Session, status: int = 200
) -> HTTPResponse:
    return json({"session": (await rendered(request, clients, [session]))[0]}, status=status)


def written(
    request: Request, clients: Clients, view: service.SessionView, status: int = 200
) -> HTTPResponse:
    """A session just written: its users came with it (no further read)."""
    body = show(clients, view.session, view.users, current_user(request))
    return json({"session": dump(body)}, status=status)


async def page(
    request: Request,
    clients: Clients,
    sessions: list[Session],
    total: int,
    query: ListSessionsQuery,
) -> HTTPResponse:
    pagination = Pagination(
        page=query.page, limit=query.limit, total=total, pages=math.ceil(total / query.limit)
    )
    return json(
        {
            "sessions": await rendered(request, clients, sessions),
            "pagination": pagination.model_dump(),
        }
    )


@bp.post("/")
@doc(
    summary="Create a session (the frontend's body, or the README's)",
    tag=TAG,
    body=CreateSessionIn,
    ok={201: SessionEnvelope},
    errors=(413,),
)
@authenticated()
async def create_session(request: Request, clients: Clients) -> HTTPResponse:
    return await _create(request, clients)


async def _create(request: Request, clients: Clients) -> HTTPResponse:
    data = parse_body(request, CreateSessionIn)
    view = await service.create_session(clients, current_user(request), data)
    return written(request, clients, view, 201)


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
@authenticated()
async def create_session_readme(request: Request, clients: Clients) -> HTTPResponse:
    return await _create(request, clients)


@bp.get("/")
@doc(
    summary="My sessions, or with scope=open the joinable sessions of others",
    tag=TAG,
    query=ListSessionsQuery,
    ok={200: SessionPage},
)
@authenticated()
async def list_sessions(request: Request, clients: Clients) -> HTTPResponse:
    query = parse_query(request, ListSessionsQuery)
    sessions, total = await queries.list_sessions(clients.engine, current_user(request), query)
    return await page(request, clients, sessions, total, query)


@bp.get("/active")
@doc(
    summary="Active sessions for the lobby, newest first",
    tag=TAG,
    query=LimitQuery,
    ok={200: SessionList},
)
@authenticated()
async def active_sessions(request: Request, clients: Clients) -> HTTPResponse:
    query = parse_query(request, LimitQuery)
    sessions = await queries.active_sessions(clients.engine, query.limit)
    return json({"sessions": await rendered(request, clients, sessions)})


@bp.get("/my-recent")
@doc(
    summary="My completed sessions, newest first", tag=TAG, query=LimitQuery, ok={200: SessionList}
)
@authenticated()
async def my_recent(request: Request, clients: Clients) -> HTTPResponse:
    query = parse_query(request, LimitQuery)
    sessions = await queries.recent_sessions(clients.engine, current_user(request), query.limit)
    return json({"sessions": await rendered(request, clients, sessions)})


@bp.get("/user/<user_id:str>")
@doc(
    summary="A user's sessions (another user's: only those shared with me)",
    tag=TAG,
    query=ListSessionsQuery,
    ok={200: SessionPage},
    errors=(404,),
)
@authenticated()
async def sessions_of_user(request: Request, user_id: str, clients: Clients) -> HTTPResponse:
    query = parse_query(request, ListSessionsQuery)
    sessions, total = await queries.sessions_of_user(
        clients.engine, current_user(request), user_id, query
    )
    return await page(request, clients, sessions, total, query)


@bp.get("/<session_id:str>")
@doc(
    summary="One session (members; others only while it is joinable)",
    tag=TAG,
    ok={200: SessionEnvelope},
    errors=(404,),
)
@authenticated()
async def get_session(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    session = await queries.session_for_viewer(clients.engine, session_id, current_user(request))
    return await one(request, clients, session)


@bp.patch("/<session_id:str>")
@doc(
    summary="Change a session (host only)",
    tag=TAG,
    body=UpdateSessionIn,
    ok={200: SessionEnvelope},
    errors=(403, 404, 409, 413),
)
@authenticated()
async def update_session(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    return await _update(request, session_id, clients)


async def _update(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    data = parse_body(request, UpdateSessionIn)
    session = await queries.host_session(clients.engine, session_id, current_user(request))
    return written(request, clients, await service.update_session(clients, session, data))


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
@authenticated()
async def replace_session(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    return await _update(request, session_id, clients)


@bp.delete("/<session_id:str>")
@doc(
    summary="Delete a session and its chat history (host only)",
    tag=TAG,
    ok={204: None},
    errors=(403, 404),
)
@authenticated()
async def delete_session(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    session = await queries.host_session(clients.engine, session_id, current_user(request))
    await service.delete_session(clients, session)
    return empty()


@bp.post("/<session_id:str>/join")
@doc(summary="Take a seat", tag=TAG, ok={200: SessionEnvelope}, errors=(404, 409))
@authenticated()
async def join(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    return written(
        request, clients, await service.join_session(clients, session_id, current_user(request))
    )


@bp.post("/<session_id:str>/leave")
@doc(summary="Give up a seat (participants)", tag=TAG, ok={200: SessionEnvelope}, errors=(404, 409))
@authenticated()
async def leave(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    view = await service.leave_session(clients, session_id, current_user(request))
    return written(request, clients, view)


@bp.post("/<session_id:str>/start")
@doc(
    summary="Start a scheduled session (host)",
    tag=TAG,
    ok={200: SessionEnvelope},
    errors=(403, 404, 409),
)
@authenticated()
async def start(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    view = await service.host_action(clients, session_id, current_user(request), "active")
    return written(request, clients, view)


@bp.post("/<session_id:str>/end")
@doc(
    summary="End an active session (host)", tag=TAG, ok={200: EndSessionOut}, errors=(403, 404, 409)
)
@authenticated()
async def end(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    view = await service.host_action(clients, session_id, current_user(request), "completed")
    body = show(clients, view.session, view.users, current_user(request))
    return json({"session": dump(body), "message": "Session ended successfully"})


@bp.post("/<session_id:str>/cancel")
@doc(
    summary="Cancel a scheduled or active session (host)",
    tag=TAG,
    ok={200: SessionEnvelope},
    errors=(403, 404, 409),
)
@authenticated()
async def cancel(request: Request, session_id: str, clients: Clients) -> HTTPResponse:
    view = await service.host_action(clients, session_id, current_user(request), "cancelled")
    return written(request, clients, view)
