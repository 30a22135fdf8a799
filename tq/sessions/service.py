"""Interview sessions: one state machine, atomic seat handling, and a Stream channel that follows
the database (which is the authority)."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from pymongo import ReturnDocument

from config import Settings
from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from tq.core.stream import StreamError, StreamNotConfigured
from tq.core.time import utcnow
from tq.jobs.registry import NOTIFY_SESSION, SYNC_SESSION_CHANNEL
from tq.sessions.channel import push_channel
from tq.sessions.events import SessionDeleted
from tq.sessions.log import session_event
from tq.sessions.models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Invitation,
    InvitationStatus,
    Session,
    SessionEvent,
    Status,
    channel_id_for,
)
from tq.sessions.schemas import CreateSessionIn, ListSessionsQuery, UpdateSessionIn, opens_at
from tq.users.models import User, UserCard
from tq.users.service import get_users

log = logging.getLogger("tq.sessions")


@dataclass
class SessionView:
    """A session as just written, with the users its response shows (read once)."""

    session: Session
    users: dict[ObjectId, UserCard]


# (from, to) pairs the state machine allows; everything else is 409 invalid_transition.
TRANSITIONS: set[tuple[Status, Status]] = {
    ("scheduled", "active"),
    ("scheduled", "cancelled"),
    ("active", "cancelled"),
    ("active", "completed"),
}


def _collection(engine: AIOEngine) -> Any:
    return engine.get_collection(Session)


def _from_doc(doc: dict[str, Any]) -> Session:
    return Session.model_validate_doc(doc)


# --- reading


async def load_session(engine: AIOEngine, session_id: str) -> Session:
    """The session, or 404 (malformed ids are just not found: nothing to probe)."""
    oid = parse_object_id(session_id)
    # A plain find (ODMantic's own reads are aggregation pipelines).
    doc = await _collection(engine).find_one({"_id": oid}) if oid else None
    if doc is None:
        raise NotFound("Session not found", code="session_not_found")
    return _from_doc(doc)


def is_member(session: Session, user: User) -> bool:
    return user.id in session.members


def is_joinable(session: Session) -> bool:
    """Open to a first-come seat: listed, not over, and a seat left."""
    return (
        session.visibility == "open" and session.status in OPEN_STATUSES and session.seats_left > 0
    )


class CriteriaLocked(Conflict):
    code, message = "criteria_locked", "A scorecard was submitted: the criteria are fixed"


class TooEarly(Conflict):
    code = "too_early"

    def __init__(self, opening: datetime) -> None:
        super().__init__(
            f"The room opens at {opening.isoformat().replace('+00:00', 'Z')}",
            extra={"opensAt": opening.isoformat().replace("+00:00", "Z")},
            headers={"Retry-After": str(max(1, math.ceil((opening - utcnow()).total_seconds())))},
        )


def check_room_open(session: Session, join_window_minutes: int, now: datetime) -> None:
    """A scheduled session's room (join, start, chat) opens the join window before its start."""
    opening = opens_at(session, join_window_minutes)
    if session.status == "scheduled" and now < opening:
        raise TooEarly(opening)


async def session_for_viewer(engine: AIOEngine, session_id: str, viewer: User) -> Session:
    """Members see the session; others only a joinable one; anything else is 404."""
    session = await load_session(engine, session_id)
    if not is_member(session, viewer) and not is_joinable(session):
        raise NotFound("Session not found", code="session_not_found")
    return session


async def open_member_session(clients: Clients, session_id: str, user: User) -> Session:
    """A member's session whose room is open (chat, the session's Stream token)."""
    session = await member_session(clients.engine, session_id, user)
    check_room_open(session, clients.settings.join_window_minutes, utcnow())
    return session


def panel_role(session: Session, user: User) -> bool:
    """Host or interviewer: who reads notes, scorecards, the log and the record."""
    return user.id == session.created_by or user.id in session.interviewers


async def panel_session(engine: AIOEngine, session_id: str, user: User) -> Session:
    """The session for its host and interviewers; 404 for everyone else, candidates included
    (they must not learn that notes or scores exist)."""
    session = await load_session(engine, session_id)
    if not panel_role(session, user):
        raise NotFound("Session not found", code="session_not_found")
    return session


async def member_session(engine: AIOEngine, session_id: str, user: User) -> Session:
    """The session if `user` is a member; 404 otherwise (ids cannot be probed)."""
    session = await load_session(engine, session_id)
    if not is_member(session, user):
        raise NotFound("Session not found", code="session_not_found")
    return session


async def host_session(engine: AIOEngine, session_id: str, viewer: User) -> Session:
    """For host-only actions: non-members get 404, other members 403."""
    session = await load_session(engine, session_id)
    if not is_member(session, viewer):
        raise NotFound("Session not found", code="session_not_found")
    if session.created_by != viewer.id:
        raise Forbidden("Only the host may do this", code="not_host")
    return session


def list_filter(viewer: User, query: ListSessionsQuery) -> dict[str, Any]:
    if query.scope == "open":
        filter_: dict[str, Any] = {
            "visibility": "open",
            "members": {"$ne": viewer.id},
            "status": {"$in": list(OPEN_STATUSES)},
            "seatsLeft": {"$gt": 0},
        }
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
) -> tuple[list[Session], int]:
    """One page of sessions matching `filter_`, and how many match in all."""
    collection = _collection(engine)
    total = await collection.count_documents(filter_)
    cursor = (
        collection.find(filter_)
        .sort(SORTS[query.sort])
        .skip((query.page - 1) * query.limit)
        .limit(query.limit)
    )
    return [_from_doc(doc) async for doc in cursor], total


async def list_sessions(
    engine: AIOEngine, viewer: User, query: ListSessionsQuery
) -> tuple[list[Session], int]:
    return await _page(engine, list_filter(viewer, query), query)


async def active_sessions(engine: AIOEngine, limit: int) -> list[Session]:
    # The lobby lists open sessions only: invite-only ones are never listed to non-members.
    cursor = (
        _collection(engine)
        .find({"visibility": "open", "status": "active"})
        .sort(SORTS["-createdAt"])
        .limit(limit)
    )
    return [_from_doc(doc) async for doc in cursor]


async def recent_sessions(engine: AIOEngine, viewer: User, limit: int) -> list[Session]:
    cursor = (
        _collection(engine)
        .find({"members": viewer.id, "status": "completed"})
        .sort(SORTS["-createdAt"])
        .limit(limit)
    )
    return [_from_doc(doc) async for doc in cursor]


async def sessions_of_user(
    engine: AIOEngine, viewer: User, user_id: str, query: ListSessionsQuery
) -> tuple[list[Session], int]:
    """All of one's own sessions; of another user, only those the viewer shares with them."""
    other = parse_object_id(user_id)
    if other is None:
        raise NotFound("User not found", code="user_not_found")
    if other == viewer.id:
        return await list_sessions(engine, viewer, query.model_copy(update={"scope": "mine"}))
    filter_ = list_filter(viewer, query.model_copy(update={"scope": "mine"}))
    filter_["members"] = {"$all": [viewer.id, other]}
    return await _page(engine, filter_, query)


# --- writing


def check_start_time(settings: Settings, start: datetime | None, now: datetime) -> None:
    """A start within MAX_SCHEDULE_AHEAD_DAYS: every date shown in an email or calendar
    (in any zone) stays well inside what dates can hold."""
    ahead = timedelta(days=settings.max_schedule_ahead_days)
    if start is not None and start > now + ahead:
        raise BadRequest(
            f"startTime is more than {settings.max_schedule_ahead_days} days ahead",
            code="start_time_out_of_range",
            details=[{"field": "startTime", "problem": "too far ahead"}],
        )


async def create_session(clients: Clients, host: User, data: CreateSessionIn) -> SessionView:
    now = utcnow()
    check_start_time(clients.settings, data.startTime, now)
    starts_later = data.startTime is not None and data.startTime > now
    session_id = ObjectId()
    session = Session(
        id=session_id,
        title=data.title or f"{data.problem} Session",
        description=data.description,
        problem_id=data.problemId,
        problem=data.problem,
        difficulty=data.difficulty,
        language=data.language,
        created_by=host.id,
        participants=[],
        members=[host.id],
        max_participants=data.maxParticipants,
        seats_left=data.maxParticipants,
        status="scheduled" if starts_later else "active",
        stream_channel_id=channel_id_for(session_id),
        visibility=data.visibility,
        start_time=data.startTime if starts_later and data.startTime else now,
        duration=data.duration,
        created_at=now,
        updated_at=now,
        outbox_events=[
            session_event(
                "created",
                host.id,
                title=data.title or f"{data.problem} Session",
                status="scheduled" if starts_later else "active",
                visibility=data.visibility,
            ),
            session_event(
                "scheduled" if starts_later else "started",
                host.id,
                startTime=data.startTime if starts_later else now,
                duration=data.duration,
            ),
        ],
        events_pending=True,
    )
    # The database first: it is the authority. A plain insert: ODMantic's save is an upsert.
    await _collection(clients.engine).insert_one(session.model_dump_doc())
    return await after_write(clients, session)


async def conditional_update(
    clients: Clients,
    filter_: dict[str, Any],
    update: dict[str, Any] | list[dict[str, Any]],
    events: list[SessionEvent] | None = None,
) -> Session | None:
    """The one way a session document changes: one conditional `find_one_and_update` that
    returns the new document (None when the filter no longer matches). A pipeline update (a
    list) sets `updatedAt` in its own first stage. `events` are written by the same update
    into the document's outbox (moved to the log by `flush_events`)."""
    if events:
        docs = [event.model_dump_doc() for event in events]
        if isinstance(update, dict):
            update.setdefault("$push", {})["outboxEvents"] = {"$each": docs}
            update.setdefault("$set", {})["eventsPending"] = True
        else:
            queued = {"$concatArrays": [{"$ifNull": ["$outboxEvents", []]}, {"$literal": docs}]}
            update = [*update, {"$set": {"outboxEvents": queued, "eventsPending": True}}]
    if isinstance(update, dict):
        update.setdefault("$set", {})["updatedAt"] = utcnow()
    async with clients.locks.hold(f"session:{filter_['_id']}"):
        doc = await _collection(clients.engine).find_one_and_update(
            filter_, update, return_document=ReturnDocument.AFTER
        )
    return _from_doc(doc) if doc else None


def completion_fields(session: Session, now: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {"endTime": now}
    if session.duration is None:
        elapsed = (now - session.start_time).total_seconds() / 60
        fields["duration"] = max(1, math.ceil(elapsed))
    return fields


MOVE_EVENTS: dict[Status, str] = {
    "active": "started",
    "completed": "completed",
    "cancelled": "cancelled",
    "scheduled": "scheduled",
}

# Which statuses a host action may start from.
HOST_MOVES: dict[Status, list[Status]] = {
    "active": ["scheduled"],
    "completed": ["active"],
    "cancelled": ["scheduled", "active"],
}


def _host_move(to: Status, now: datetime, pipeline: bool) -> dict[str, Any] | list[dict[str, Any]]:
    fields: dict[str, Any] = {"status": to}
    if to == "active":
        fields["startTime"] = now
    else:
        fields["endTime"] = now
    if to == "cancelled":
        return {"$set": fields, "$inc": {"calendarSequence": 1}}
    if to == "completed" and pipeline:
        # A session nobody gave a duration gets the minutes it ran, in the same update.
        elapsed = {"$ceil": {"$divide": [{"$subtract": [now, "$startTime"]}, 60_000]}}
        fields["duration"] = {"$ifNull": ["$duration", {"$toInt": {"$max": [1, elapsed]}}]}
        return [{"$set": {**fields, "updatedAt": now}}]
    return {"$set": fields}


async def host_action(clients: Clients, session_id: str, host: User, to: Status) -> SessionView:
    """start (→ active), end (→ completed), cancel (→ cancelled): one conditional update on the
    session's id, host and current status, so concurrent requests and the expiry job never both
    win. Only when it does not match is the session read, to say why (404, 403 or 409)."""
    oid = parse_object_id(session_id)
    if oid is None:
        raise NotFound("Session not found", code="session_not_found")
    now = utcnow()
    window = timedelta(minutes=clients.settings.join_window_minutes)
    pipeline = clients.settings.pipeline_updates
    filter_: dict[str, Any] = {"_id": oid, "createdBy": host.id, "status": {"$in": HOST_MOVES[to]}}
    if to == "active":
        filter_["startTime"] = {"$lte": now + window}  # the room must be open
    updated = await conditional_update(
        clients, filter_, _host_move(to, now, pipeline), [session_event(MOVE_EVENTS[to], host.id)]
    )
    if updated is None:
        current = await load_session(clients.engine, session_id)
        if not is_member(current, host):
            raise NotFound("Session not found", code="session_not_found")
        if current.created_by != host.id:
            raise Forbidden("Only the host may do this", code="not_host")
        if to == "active" and current.status == "scheduled":
            check_room_open(current, clients.settings.join_window_minutes, now)
        raise Conflict(f"A {current.status} session cannot become {to}", code="invalid_transition")
    if to == "cancelled":
        # The calendar event is cancelled with the next SEQUENCE; members and invitees are told.
        await clients.queue.enqueue(
            NOTIFY_SESSION, str(oid), "cancellation", updated.facts().model_dump_json()
        )
    if to == "completed" and updated.duration is None:
        # The two-step form (FerretDB): the duration of the session just completed.
        fields = completion_fields(updated, now)
        updated = (
            await conditional_update(
                clients, {"_id": oid, "duration": None}, {"$set": {"duration": fields["duration"]}}
            )
            or updated
        )
    return await after_write(clients, updated)


async def join_session(clients: Clients, session_id: str, user: User) -> SessionView:
    """Take a seat with one conditional update (a seat is taken only if one is left); the
    session is read only when that does not match, to say why."""
    oid = parse_object_id(session_id)
    if oid is None:
        raise NotFound("Session not found", code="session_not_found")
    now = utcnow()
    window_minutes = clients.settings.join_window_minutes
    joined = await conditional_update(
        clients,
        {
            "_id": oid,
            "visibility": "open",
            "status": {"$in": list(OPEN_STATUSES)},
            "seatsLeft": {"$gt": 0},
            "members": {"$ne": user.id},
            # The room is open (a started session's startTime is past anyway).
            "startTime": {"$lte": now + timedelta(minutes=window_minutes)},
        },
        {
            "$addToSet": {"participants": user.id, "members": user.id},
            "$inc": {"seatsLeft": -1},
        },
        [session_event("member.joined", user.id, userId=str(user.id), role="candidate")],
    )
    if joined is None:
        current = await load_session(clients.engine, session_id)
        member = is_member(current, user)
        if not member and current.visibility != "open":
            # Invite-only: only an invitation makes a member; the session is not shown.
            raise NotFound("Session not found", code="session_not_found")
        if current.status in OPEN_STATUSES and (member or current.seats_left > 0):
            check_room_open(current, window_minutes, now)
        if member:
            # Joining twice changes nothing.
            return SessionView(current, await get_users(clients.engine, current.members))
        if current.status in FINAL_STATUSES:
            raise Conflict("This session has ended", code="session_closed")
        raise Conflict("This session is full", code="session_full")
    if joined.status == "scheduled" and utcnow() >= joined.start_time:
        # The first join at or after the start time opens the session.
        opened = await conditional_update(
            clients,
            {"_id": oid, "status": "scheduled"},
            {"$set": {"status": "active", "startTime": utcnow()}},
            [session_event("started", user.id)],
        )
        joined = opened or await load_session(clients.engine, session_id)
    return await after_write(clients, joined)


async def leave_session(clients: Clients, session_id: str, user: User) -> SessionView:
    oid = parse_object_id(session_id)
    if oid is None:
        raise NotFound("Session not found", code="session_not_found")
    left = await conditional_update(
        clients,
        {"_id": oid, "participants": user.id, "status": {"$in": list(OPEN_STATUSES)}},
        {"$pull": {"participants": user.id, "members": user.id}, "$inc": {"seatsLeft": 1}},
        [session_event("member.left", user.id, userId=str(user.id), role="candidate")],
    )
    if left is None:
        # An interviewer leaves the panel (no seat to give back).
        left = await conditional_update(
            clients,
            {"_id": oid, "interviewers": user.id, "status": {"$in": list(OPEN_STATUSES)}},
            {"$pull": {"interviewers": user.id, "members": user.id}},
            [session_event("member.left", user.id, userId=str(user.id), role="interviewer")],
        )
    if left is None:
        current = await load_session(clients.engine, session_id)
        if not is_member(current, user):
            raise NotFound("Session not found", code="session_not_found")
        if current.created_by == user.id:
            raise Conflict(
                "The host cannot leave; end or cancel the session", code="host_cannot_leave"
            )
        raise Conflict("This session has ended", code="session_closed")
    return await after_write(clients, left)


FIELD_KEYS = {
    "title": "title",
    "description": "description",
    "problemId": "problemId",
    "problem": "problem",
    "difficulty": "difficulty",
    "language": "language",
    "duration": "duration",
    "startTime": "startTime",
    "visibility": "visibility",
    "criteria": "criteria",
}


async def update_session(clients: Clients, session: Session, data: UpdateSessionIn) -> SessionView:
    changes = data.model_fields_set
    if session.status in FINAL_STATUSES:
        raise Conflict("A finished session cannot be changed", code="session_closed")
    update: dict[str, Any] = {
        "$set": {FIELD_KEYS[name]: getattr(data, name) for name in changes if name in FIELD_KEYS}
    }
    check_start_time(clients.settings, data.startTime, utcnow())
    if data.startTime is not None and data.startTime < utcnow():
        # As at creation: a start already past means now (the next join opens the session).
        update["$set"]["startTime"] = utcnow()
    filter_: dict[str, Any] = {"_id": session.id, "status": session.status}
    if "criteria" in changes:
        if session.criteria_locked:
            raise CriteriaLocked()
        filter_["criteriaLocked"] = {"$ne": True}  # no submit slipped in since we read
    if "startTime" in changes and session.status != "scheduled":
        raise Conflict("Only a scheduled session can be moved", code="not_scheduled")
    if "maxParticipants" in changes and data.maxParticipants is not None:
        seats = data.maxParticipants
        if seats < len(session.participants):
            raise Conflict(
                f"{len(session.participants)} participants already joined",
                code="below_participant_count",
            )
        update["$set"]["maxParticipants"] = seats
        update["$inc"] = {"seatsLeft": seats - session.max_participants}
        # Nobody may have joined since we read: the participant array must still be this size.
        filter_["maxParticipants"] = session.max_participants
        filter_[f"participants.{seats}"] = {"$exists": False}
    target = data.status if "status" in changes else None
    if target is not None and target != session.status:
        if target == "active" and session.status == "scheduled":
            check_room_open(session, clients.settings.join_window_minutes, utcnow())
        if (session.status, target) not in TRANSITIONS:
            raise Conflict(
                f"A {session.status} session cannot become {target}", code="invalid_transition"
            )
        update["$set"]["status"] = target
        now = utcnow()
        if target == "completed":
            update["$set"].update(completion_fields(session, now))
        elif target == "cancelled":
            update["$set"]["endTime"] = now
        elif target == "active" and "startTime" not in changes:
            update["$set"]["startTime"] = now
    notice = None
    moved = session.status == "scheduled" and any(
        name in changes and getattr(data, name) != current
        for name, current in (("startTime", session.start_time), ("duration", session.duration))
    )
    if target == "cancelled" and session.status != "cancelled":
        update["$inc"] = {**update.get("$inc", {}), "calendarSequence": 1}
        notice = "cancellation"
    elif moved and target in (None, "scheduled"):
        # A reschedule: the calendar event gets the next SEQUENCE, and the reminder is due
        # again for the new time.
        update["$inc"] = {**update.get("$inc", {}), "calendarSequence": 1}
        update["$set"]["remindedAt"] = None
        notice = "reschedule"
    actor = session.created_by
    events = [session_event("updated", actor, fields=sorted(changes))]
    if notice == "reschedule":
        events.append(
            session_event(
                "rescheduled",
                actor,
                startTime=update["$set"].get("startTime", session.start_time),
                duration=update["$set"].get("duration", session.duration),
            )
        )
    if target is not None and target != session.status:
        events.append(session_event(MOVE_EVENTS[target], actor))
    updated = await conditional_update(clients, filter_, update, events)
    if updated is None:
        current = await load_session(clients.engine, str(session.id))
        if "criteria" in changes and current.criteria_locked:
            raise CriteriaLocked()
        raise Conflict("The session changed meanwhile; reload and retry", code="conflict")
    if notice:
        # What the emails say is what this change made, even if another follows at once.
        await clients.queue.enqueue(
            NOTIFY_SESSION, str(updated.id), notice, updated.facts().model_dump_json()
        )
    return await after_write(clients, updated)


async def delete_session(clients: Clients, session: Session) -> None:
    await _collection(clients.engine).delete_one({"_id": session.id})
    # What other domains keep of it (chat history, code runs) goes too: see tq.reactions.
    await clients.events.publish(SessionDeleted(session.id))
    # The job finds no session and removes the channel: one code path for every change.
    await clients.queue.enqueue(SYNC_SESSION_CHANNEL, str(session.id))


async def release_closing_account(clients: Clients, user_id: ObjectId) -> None:
    """Account deletion (the AccountClosing reaction): hosted open sessions are cancelled,
    joined seats are freed."""
    collection = _collection(clients.engine)
    touched: list[ObjectId] = []
    hosted = collection.find({"createdBy": user_id, "status": {"$in": list(OPEN_STATUSES)}})
    async for doc in hosted:
        session = _from_doc(doc)
        cancelled = await conditional_update(
            clients,
            {"_id": session.id, "status": {"$in": list(OPEN_STATUSES)}},
            {"$set": {"status": "cancelled", "endTime": utcnow()}},
            [session_event("cancelled", None, reason="host_account_deleted")],
        )
        if cancelled:
            touched.append(session.id)
    # `members` (indexed) narrows to the user's sessions; `participants` leaves the hosted.
    async for doc in collection.find({"members": user_id, "participants": user_id}, {"_id": 1}):
        freed = await conditional_update(
            clients,
            {"_id": doc["_id"], "participants": user_id},
            {"$pull": {"participants": user_id, "members": user_id}, "$inc": {"seatsLeft": 1}},
            [session_event("member.removed", None, userId=None, reason="account_deleted")],
        )
        if freed:
            touched.append(doc["_id"])
    async for doc in collection.find({"members": user_id, "interviewers": user_id}, {"_id": 1}):
        freed = await conditional_update(
            clients,
            {"_id": doc["_id"], "interviewers": user_id},
            {"$pull": {"interviewers": user_id, "members": user_id}},
            [session_event("member.removed", None, userId=None, reason="account_deleted")],
        )
        if freed:
            touched.append(doc["_id"])
    await clients.queue.enqueue_many(SYNC_SESSION_CHANNEL, [[str(sid)] for sid in touched])


# --- invitations (kept inside the session document; see tq.invitations for the routes)


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
    return await conditional_update(
        clients,
        {"_id": session.id, "invitesVersion": session.invites_version, **(filter_ or {})},
        update,
        events,
    )


async def session_by_invite_token(engine: AIOEngine, hashed: str) -> Session | None:
    doc = await _collection(engine).find_one({"inviteTokens": hashed})
    return _from_doc(doc) if doc else None


async def backfill_fields(engine: AIOEngine) -> int:
    """Sessions written before visibility existed are open (the lobby's filter names it)."""
    result = await _collection(engine).update_many(
        {"visibility": None}, {"$set": {"visibility": "open"}}
    )
    return int(result.modified_count)


# --- Stream


async def after_write(clients: Clients, session: Session) -> SessionView:
    """After a change: the one users read the response needs anyway, then Stream brought in
    step right away from what was just written (no re-read). If Stream fails or is slow, the
    session is marked `pending` and the `sync_session_channel` job retries until it works.
    (The change's events wait in the document: reading the log moves them, see sessions.log.)"""
    users = await get_users(clients.engine, session.members)
    if not clients.stream.configured:
        return SessionView(session, users)
    try:
        session = await push_channel(clients, session, users)
    except StreamError as exc:
        log.warning("Stream channel of session %s out of step (%s); queued", session.id, exc)
        marked = await conditional_update(
            clients, {"_id": session.id}, {"$set": {"streamSync": "pending"}}
        )
        await clients.queue.enqueue(SYNC_SESSION_CHANNEL, str(session.id))
        session = marked or session
    return SessionView(session, users)


async def ensure_channel(clients: Clients, session: Session) -> list[str]:
    """Run the session's channel sync now and return the members' Stream ids; 503 (with the
    repair queued) if Stream is away."""
    if not clients.stream.configured:
        raise StreamNotConfigured()
    users = await get_users(clients.engine, session.members)
    try:
        await push_channel(clients, session, users)
    except StreamError:
        await clients.queue.enqueue(SYNC_SESSION_CHANNEL, str(session.id))
        raise ServiceUnavailable(
            "Stream is unreachable; the channel will be repaired shortly",
            code="stream_unavailable",
        ) from None
    return [users[uid].stream_id for uid in session.members if uid in users]
