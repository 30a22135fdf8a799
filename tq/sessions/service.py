"""Interview sessions: one state machine, atomic seat handling, and a Stream channel that follows
the database (which is the authority)."""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from pymongo import ReturnDocument
from redis.asyncio import Redis

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from tq.core.locks import document_lock
from tq.core.stream import StreamError, StreamNotConfigured
from tq.core.time import utcnow
from tq.jobs.registry import SYNC_SESSION_CHANNEL
from tq.sessions.events import SessionDeleted
from tq.sessions.jobs import sync_session_channel
from tq.sessions.models import FINAL_STATUSES, OPEN_STATUSES, Session, Status, channel_id_for
from tq.sessions.schemas import CreateSessionIn, ListSessionsQuery, UpdateSessionIn
from tq.users.models import User
from tq.users.service import get_users

log = logging.getLogger("tq.sessions")

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
    session = await engine.find_one(Session, Session.id == oid) if oid else None
    if session is None:
        raise NotFound("Session not found", code="session_not_found")
    return session


def is_member(session: Session, user: User) -> bool:
    return user.id in session.members


def is_joinable(session: Session) -> bool:
    return session.status in OPEN_STATUSES and session.seats_left > 0


async def session_for_viewer(engine: AIOEngine, session_id: str, viewer: User) -> Session:
    """Members see the session; others only a joinable one; anything else is 404."""
    session = await load_session(engine, session_id)
    if not is_member(session, viewer) and not is_joinable(session):
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
    cursor = _collection(engine).find({"status": "active"}).sort(SORTS["-createdAt"]).limit(limit)
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


async def create_session(clients: Clients, host: User, data: CreateSessionIn) -> Session:
    now = utcnow()
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
        start_time=data.startTime if starts_later and data.startTime else now,
        duration=data.duration,
        created_at=now,
        updated_at=now,
    )
    await clients.engine.save(session)  # the database first: it is the authority
    return await sync_channel_now(clients, session)


async def conditional_update(
    engine: AIOEngine, redis: Redis, filter_: dict[str, Any], update: dict[str, Any]
) -> Session | None:
    """The one way a session document changes: a conditional update (under the session's write
    lock, see tq.core.locks); None when the filter no longer matches."""
    update.setdefault("$set", {})["updatedAt"] = utcnow()
    async with document_lock(redis, f"session:{filter_['_id']}"):
        doc = await _collection(engine).find_one_and_update(
            filter_, update, return_document=ReturnDocument.AFTER
        )
    return _from_doc(doc) if doc else None


async def transition(
    engine: AIOEngine,
    redis: Redis,
    session: Session,
    to: Status,
    extra: dict[str, Any] | None = None,
) -> Session:
    """Move `session` to `to` with one conditional update on its current status, so concurrent
    requests (and the expiry job) can never both win."""
    if (session.status, to) not in TRANSITIONS:
        raise Conflict(f"A {session.status} session cannot become {to}", code="invalid_transition")
    updated = await conditional_update(
        engine,
        redis,
        {"_id": session.id, "status": session.status},
        {"$set": {"status": to, **(extra or {})}},
    )
    if updated is None:
        current = await load_session(engine, str(session.id))
        raise Conflict(
            f"The session is {current.status} now; it cannot become {to}",
            code="invalid_transition",
        )
    return updated


def completion_fields(session: Session, now: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {"endTime": now}
    if session.duration is None:
        elapsed = (now - session.start_time).total_seconds() / 60
        fields["duration"] = max(1, math.ceil(elapsed))
    return fields


async def start_session(clients: Clients, session: Session) -> Session:
    updated = await transition(
        clients.engine, clients.redis, session, "active", {"startTime": utcnow()}
    )
    return await sync_channel_now(clients, updated)


async def end_session(clients: Clients, session: Session) -> Session:
    updated = await transition(
        clients.engine, clients.redis, session, "completed", completion_fields(session, utcnow())
    )
    return await sync_channel_now(clients, updated)


async def cancel_session(clients: Clients, session: Session) -> Session:
    updated = await transition(
        clients.engine, clients.redis, session, "cancelled", {"endTime": utcnow()}
    )
    return await sync_channel_now(clients, updated)


async def join_session(clients: Clients, session_id: str, user: User) -> Session:
    session = await load_session(clients.engine, session_id)
    if is_member(session, user):
        return session  # joining twice changes nothing
    if session.status in FINAL_STATUSES:
        raise Conflict("This session has ended", code="session_closed")
    # One atomic conditional update: a seat is taken only if one is left.
    joined = await conditional_update(
        clients.engine,
        clients.redis,
        {
            "_id": session.id,
            "status": {"$in": list(OPEN_STATUSES)},
            "seatsLeft": {"$gt": 0},
            "members": {"$ne": user.id},
        },
        {
            "$addToSet": {"participants": user.id, "members": user.id},
            "$inc": {"seatsLeft": -1},
        },
    )
    if joined is None:
        current = await load_session(clients.engine, session_id)
        if is_member(current, user):
            return current
        if current.status in FINAL_STATUSES:
            raise Conflict("This session has ended", code="session_closed")
        raise Conflict("This session is full", code="session_full")
    if joined.status == "scheduled" and utcnow() >= joined.start_time:
        # The first join at or after the start time opens the session.
        try:
            joined = await transition(
                clients.engine, clients.redis, joined, "active", {"startTime": utcnow()}
            )
        except Conflict:
            joined = await load_session(clients.engine, session_id)
    return await sync_channel_now(clients, joined)


async def leave_session(clients: Clients, session_id: str, user: User) -> Session:
    session = await load_session(clients.engine, session_id)
    if not is_member(session, user):
        raise NotFound("Session not found", code="session_not_found")
    if session.created_by == user.id:
        raise Conflict("The host cannot leave; end or cancel the session", code="host_cannot_leave")
    if session.status in FINAL_STATUSES:
        raise Conflict("This session has ended", code="session_closed")
    left = await conditional_update(
        clients.engine,
        clients.redis,
        {"_id": session.id, "participants": user.id, "status": {"$in": list(OPEN_STATUSES)}},
        {"$pull": {"participants": user.id, "members": user.id}, "$inc": {"seatsLeft": 1}},
    )
    if left is None:
        left = await load_session(clients.engine, session_id)
        if user.id in left.participants:
            raise Conflict("This session has ended", code="session_closed")
    return await sync_channel_now(clients, left)


FIELD_KEYS = {
    "title": "title",
    "description": "description",
    "problemId": "problemId",
    "problem": "problem",
    "difficulty": "difficulty",
    "language": "language",
    "duration": "duration",
    "startTime": "startTime",
}


async def update_session(clients: Clients, session: Session, data: UpdateSessionIn) -> Session:
    changes = data.model_fields_set
    if session.status in FINAL_STATUSES:
        raise Conflict("A finished session cannot be changed", code="session_closed")
    update: dict[str, Any] = {
        "$set": {FIELD_KEYS[name]: getattr(data, name) for name in changes if name in FIELD_KEYS}
    }
    if data.startTime is not None and data.startTime < utcnow():
        # As at creation: a start already past means now (the next join opens the session).
        update["$set"]["startTime"] = utcnow()
    filter_: dict[str, Any] = {"_id": session.id, "status": session.status}
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
    updated = await conditional_update(clients.engine, clients.redis, filter_, update)
    if updated is None:
        raise Conflict("The session changed meanwhile; reload and retry", code="conflict")
    return await sync_channel_now(clients, updated)


async def delete_session(clients: Clients, session: Session) -> None:
    await _collection(clients.engine).delete_one({"_id": session.id})
    # What other domains keep of it (chat history, code runs) goes too: see tq.reactions.
    await clients.events.publish(SessionDeleted(session.id))
    # The job finds no session and removes the channel: one code path for every change.
    await clients.queue.enqueue(SYNC_SESSION_CHANNEL, str(session.id))


async def release_closing_account(clients: Clients, user_id: ObjectId) -> None:
    """Account deletion (the AccountClosing reaction): hosted open sessions are cancelled,
    joined seats are freed."""
    engine, redis, queue = clients.engine, clients.redis, clients.queue
    collection = _collection(engine)
    touched: list[ObjectId] = []
    hosted = collection.find({"createdBy": user_id, "status": {"$in": list(OPEN_STATUSES)}})
    async for doc in hosted:
        session = _from_doc(doc)
        cancelled = await conditional_update(
            engine,
            redis,
            {"_id": session.id, "status": {"$in": list(OPEN_STATUSES)}},
            {"$set": {"status": "cancelled", "endTime": utcnow()}},
        )
        if cancelled:
            touched.append(session.id)
    async for doc in collection.find({"participants": user_id}, {"_id": 1}):
        freed = await conditional_update(
            engine,
            redis,
            {"_id": doc["_id"], "participants": user_id},
            {"$pull": {"participants": user_id, "members": user_id}, "$inc": {"seatsLeft": 1}},
        )
        if freed:
            touched.append(doc["_id"])
    for session_id in touched:
        await queue.enqueue(SYNC_SESSION_CHANNEL, str(session_id))


# --- Stream


async def sync_channel_now(clients: Clients, session: Session) -> Session:
    """Try to bring Stream in step right away; if Stream fails or is slow, mark the session
    `pending` and leave it to the `sync_session_channel` job, which retries until it works."""
    try:
        await sync_session_channel(clients, str(session.id))
    except StreamError as exc:
        log.warning("Stream channel of session %s out of step (%s); queued", session.id, exc)
        marked = await conditional_update(
            clients.engine, clients.redis, {"_id": session.id}, {"$set": {"streamSync": "pending"}}
        )
        await clients.queue.enqueue(SYNC_SESSION_CHANNEL, str(session.id))
        return marked or session
    return await load_session(clients.engine, str(session.id))


async def ensure_channel(clients: Clients, session: Session) -> list[str]:
    """Run the session's channel sync now and return the members' Stream ids; 503 (with the
    repair queued) if Stream is away."""
    if not clients.stream.configured:
        raise StreamNotConfigured()
    try:
        await sync_session_channel(clients, str(session.id))
    except StreamError:
        await clients.queue.enqueue(SYNC_SESSION_CHANNEL, str(session.id))
        raise ServiceUnavailable(
            "Stream is unreachable; the channel will be repaired shortly",
            code="stream_unavailable",
        ) from None
    users = await get_users(clients.engine, session.members)
    return [users[uid].stream_id for uid in session.members if uid in users]
