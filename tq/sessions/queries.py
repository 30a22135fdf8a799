"""Reading sessions: who may see a session (member, panel, host, a joinable stranger), when
its room opens, and the lists (mine, open to join, the lobby, recent, shared with a user).
The queries run in tq.sessions.store."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine

from tq.core.clients import Clients
from tq.core.db import Document, parse_object_id
from tq.core.errors import Conflict, Forbidden, NotFound
from tq.core.time import utcnow
from tq.orgs.permissions import Action
from tq.orgs.service import check, role_in
from tq.sessions import store
from tq.sessions.models import OPEN_STATUSES, Session, Status
from tq.sessions.schemas import SHOWN_FIELDS, ListSessionsQuery, SessionOut, opens_at
from tq.users.models import User, UserCard
from tq.users.service import get_users


def is_member(session: Session, user: User) -> bool:
    return user.id in session.members


def session_not_found() -> NotFound:
    return NotFound("Session not found", code="session_not_found")


async def org_grants(
    engine: AIOEngine, org_id: ObjectId | None, user: User, action: Action | None
) -> None:
    """For someone who is not one of the session's own people (or not in the role the action
    needs): what their role in the session's organization allows (tq.orgs.permissions). Not a
    member of it: 404, as for any session one cannot see; a member whose role does not allow
    `action` (None: only the session's own people may): 403. Read only on this path, so a
    session's own people never pay for it."""
    role = await role_in(engine, org_id, user)
    if role is not None and action is None:
        raise Forbidden("Only the session's own people may do this", code="not_a_participant")
    if action is None:
        raise session_not_found()
    check(role, action, session_not_found())


class TooEarly(Conflict):
    code = "too_early"

    def __init__(self, opening: datetime, now: datetime) -> None:
        super().__init__(
            f"The room opens at {opening.isoformat().replace('+00:00', 'Z')}",
            extra={"opensAt": opening.isoformat().replace("+00:00", "Z")},
            headers={"Retry-After": str(max(1, math.ceil((opening - now).total_seconds())))},
        )


def check_room_open(session: Session, join_window_minutes: int, now: datetime) -> None:
    """A scheduled session's room (join, start, chat) opens the join window before its start."""
    opening = opens_at(session, join_window_minutes)
    if session.status == "scheduled" and now < opening:
        raise TooEarly(opening, now)


# Open to a first-come seat: listed, not over, and a seat left. As a query (the open list and
# the join's conditional update) and for a document already read (`is_joinable`);
# tests/sessions/test_queries.py holds the two equal on the database.
JOINABLE: dict[str, Any] = {
    "visibility": "open",
    "status": {"$in": list(OPEN_STATUSES)},
    "seatsLeft": {"$gt": 0},
}


def is_joinable(doc: Mapping[str, Any]) -> bool:
    return (
        doc.get("visibility") == "open"
        and doc.get("status") in OPEN_STATUSES
        and doc.get("seatsLeft", 0) > 0
    )


async def session_for_viewer(clients: Clients, session_id: str, viewer: User) -> SessionOut:
    """One session as `viewer` sees it: members see it, others only a joinable one, anything
    else is 404. One read by `_id` of the fields shown (the rule is checked on them: an `$or`
    beside the `_id` made the embedded engines scan), and the JSON built from the document."""
    doc = await store.load_fields(clients.engine, session_id, SHOWN_FIELDS)
    if viewer.id not in doc.get("members", []) and not is_joinable(doc):
        org = await store.load_fields(clients.engine, session_id, {"orgId": 1})
        await org_grants(clients.engine, org.get("orgId"), viewer, Action.SESSIONS_READ)
    return (await shown_many(clients, [doc], viewer))[0]


async def open_member_session(clients: Clients, session_id: str, user: User) -> Session:
    """A member's session whose room is open (chat, the session's Stream token)."""
    session = await member_session(clients.engine, session_id, user)
    check_room_open(session, clients.settings.join_window_minutes, utcnow())
    return session


def panel_role(session: Session, user: User) -> bool:
    """Host or interviewer: who reads notes, scorecards, the log and the record."""
    return user.id == session.created_by or user.id in session.interviewers


async def panel_session(
    engine: AIOEngine, session_id: str, user: User, action: Action | None = None
) -> Session:
    """The session for its host and interviewers, and for members of its organization whose
    role allows `action`; 404 for everyone else, candidates included (they must not learn that
    notes or scores exist), 403 for the organization's other members."""
    session = await store.load(engine, session_id)
    if not panel_role(session, user):
        if is_member(session, user):  # the candidate
            raise session_not_found()
        await org_grants(engine, session.org_id, user, action)
    return session


async def member_session(
    engine: AIOEngine, session_id: str, user: User, action: Action | None = None
) -> Session:
    """The session if `user` is a member, or a member of its organization whose role allows
    `action`; 404 otherwise (ids cannot be probed), 403 for the organization's others."""
    session = await store.load(engine, session_id)
    if not is_member(session, user):
        await org_grants(engine, session.org_id, user, action)
    return session


async def member_session_status(
    engine: AIOEngine, session_id: str, user: User
) -> tuple[ObjectId, Status]:
    """`member_session` for reads that need only the session's id and status (the chat
    history): one projected read instead of the whole session."""
    try:
        doc = await store.load_fields(engine, session_id, {"status": 1}, {"members": user.id})
    except NotFound:
        org = await store.load_fields(engine, session_id, {"orgId": 1})
        await org_grants(engine, org.get("orgId"), user, None)
        raise
    return doc["_id"], doc["status"]


async def host_session(engine: AIOEngine, session_id: str, viewer: User) -> Session:
    """For host-only actions, which the organization's roles that manage sessions may take
    too: others of the session get 403, of its organization 403, everyone else 404."""
    session = await store.load(engine, session_id)
    if session.created_by == viewer.id:
        return session
    role = await role_in(engine, session.org_id, viewer)
    if role is None and not is_member(session, viewer):
        raise session_not_found()
    if role is None:
        raise Forbidden("Only the host may do this", code="not_host")
    check(role, Action.SESSIONS_MANAGE, session_not_found())
    return session


def list_filter(viewer: User, query: ListSessionsQuery) -> dict[str, Any]:
    if query.scope == "open":
        filter_: dict[str, Any] = {**JOINABLE, "members": {"$ne": viewer.id}}
        if query.status:
            filter_["status"] = {"$in": [s for s in query.status if s in OPEN_STATUSES]}
    else:
        filter_ = {"members": viewer.id}
        if query.status:
            filter_["status"] = {"$in": list(query.status)}
    if query.difficulty:
        filter_["difficulty"] = query.difficulty
    if query.language:
        filter_["language"] = query.language
    if query.q:
        filter_["title"] = {"$regex": re.escape(query.q), "$options": "i"}
    if query.from_ or query.to:
        window: dict[str, datetime] = {}
        if query.from_:
            window["$gte"] = query.from_
        if query.to:
            window["$lte"] = query.to
        filter_["startTime"] = window
    return filter_


SORTS = {
    "-createdAt": [("createdAt", -1), ("_id", -1)],
    "createdAt": [("createdAt", 1), ("_id", 1)],
    "startTime": [("startTime", 1), ("_id", 1)],
    "-startTime": [("startTime", -1), ("_id", -1)],
}


async def _page(
    engine: AIOEngine, filter_: dict[str, Any], query: ListSessionsQuery
) -> tuple[list[Document], int]:
    """One page of sessions matching `filter_`, and how many match in all."""
    skip = (query.page - 1) * query.limit
    return await store.page(engine, filter_, SORTS[query.sort], skip, query.limit, SHOWN_FIELDS)


async def list_sessions(
    engine: AIOEngine, viewer: User, query: ListSessionsQuery
) -> tuple[list[Document], int]:
    return await _page(engine, list_filter(viewer, query), query)


async def org_sessions(
    engine: AIOEngine, org_id: ObjectId, viewer: User, query: ListSessionsQuery
) -> tuple[list[Document], int]:
    """An organization's sessions, with the list's filters (`scope` does not apply)."""
    filter_ = list_filter(viewer, query.model_copy(update={"scope": "mine"}))
    del filter_["members"]
    return await _page(engine, {"orgId": org_id, **filter_}, query)


async def active_sessions(engine: AIOEngine, limit: int) -> list[Document]:
    # The lobby lists open sessions only: invite-only ones are never listed to non-members.
    return await store.first(
        engine, {"visibility": "open", "status": "active"}, SORTS["-createdAt"], limit, SHOWN_FIELDS
    )


async def recent_sessions(engine: AIOEngine, viewer: User, limit: int) -> list[Document]:
    return await store.first(
        engine,
        {"members": viewer.id, "status": "completed"},
        SORTS["-createdAt"],
        limit,
        SHOWN_FIELDS,
    )


async def sessions_of_user(
    engine: AIOEngine, viewer: User, user_id: str, query: ListSessionsQuery
) -> tuple[list[Document], int]:
    """All of one's own sessions; of another user, only those the viewer shares with them."""
    other = parse_object_id(user_id)
    if other is None:
        raise NotFound("User not found", code="user_not_found")
    if other == viewer.id:
        return await list_sessions(engine, viewer, query.model_copy(update={"scope": "mine"}))
    filter_ = list_filter(viewer, query.model_copy(update={"scope": "mine"}))
    filter_["members"] = {"$all": [viewer.id, other]}
    return await _page(engine, filter_, query)


# --- shown


def shown(
    clients: Clients, session: Session, users: dict[ObjectId, UserCard], viewer: User
) -> SessionOut:
    """`session` as `viewer` sees it now, its users given."""
    return SessionOut.of(
        session,
        users,
        viewer,
        join_window_minutes=clients.settings.join_window_minutes,
        now=utcnow(),
    )


async def shown_many(clients: Clients, docs: list[Document], viewer: User) -> list[SessionOut]:
    """Listed sessions (their documents) as `viewer` sees them; their users come from one extra
    query in all."""
    users = await get_users(clients.engine, {uid for doc in docs for uid in doc.get("members", [])})
    now = utcnow()
    window = clients.settings.join_window_minutes
    return [
        SessionOut.of_doc(doc, users, viewer, join_window_minutes=window, now=now) for doc in docs
    ]
