"""Changing sessions: one state machine, atomic seat handling, and a Stream channel that follows
the database (which is the authority). Reading is tq.sessions.queries'; the document itself is
written by tq.sessions.store."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from config import Settings
from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.erasure import Erasure
from tq.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from tq.core.stream import StreamError, StreamNotConfigured
from tq.core.time import utcnow
from tq.jobs.registry import NOTIFY_SESSION, SYNC_SESSION_CHANNEL
from tq.problems import service as problems
from tq.scorecard_templates import service as templates
from tq.sessions import store
from tq.sessions.channel import push_channel
from tq.sessions.events import SessionDeleted
from tq.sessions.invitations import rewrite_invitations
from tq.sessions.log import anonymise_in_log, session_event, sessions_naming
from tq.sessions.models import (
    DEFAULT_CRITERIA,
    FINAL_STATUSES,
    OPEN_STATUSES,
    Session,
    SessionEvent,
    Status,
    channel_id_for,
)
from tq.sessions.queries import JOINABLE, check_room_open, host_session, is_member, org_grants
from tq.sessions.schemas import CreateSessionIn, UpdateSessionIn
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


class CriteriaLocked(Conflict):
    code, message = "criteria_locked", "A scorecard was submitted: the criteria are fixed"


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


async def create_session(
    clients: Clients,
    host: User,
    data: CreateSessionIn,
    org_id: ObjectId | None = None,
    default_criteria: list[str] | None = None,
) -> SessionView:
    """A new session of `org_id` (already checked by the caller), else of the host's personal
    organization (whose id is the host's)."""
    now = utcnow()
    check_start_time(clients.settings, data.startTime, now)
    starts_later = data.startTime is not None and data.startTime > now
    pinned = (
        await problems.pin(clients, org_id or host.id, data.problemId) if data.problemId else None
    )
    template = await templates.pin(clients.engine, org_id or host.id, data.scorecardTemplate)
    session_id = ObjectId()
    session = Session(
        id=session_id,
        title=data.title or f"{data.problem} Session",
        description=data.description,
        problem_id=pinned.slug if pinned else None,
        problem_version=pinned.version if pinned else None,
        problem_version_id=pinned.version_id if pinned else None,
        problem=data.problem,
        difficulty=data.difficulty,
        language=data.language,
        created_by=host.id,
        org_id=org_id or host.id,
        criteria=template.criteria if template else list(default_criteria or DEFAULT_CRITERIA),
        scorecard_template=template.slug if template else None,
        scorecard_template_version=template.version if template else None,
        scorecard_template_version_id=template.version_id if template else None,
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
    # The database first: it is the authority.
    await store.insert(clients.engine, session)
    return await after_write(clients, session)


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
    move = [session_event(MOVE_EVENTS[to], host.id)]
    updated = await store.update(clients, filter_, _host_move(to, now, pipeline), move)
    if updated is None:
        current = await store.load(clients.engine, session_id)
        if current.created_by != host.id:
            # Not the host: an organization role that manages sessions may (else 403/404).
            await host_session(clients.engine, session_id, host)
            filter_["createdBy"] = current.created_by
            updated = await store.update(clients, filter_, _host_move(to, now, pipeline), move)
    if updated is None:
        current = await store.load(clients.engine, session_id)
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
            await store.update(
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
    joined = await store.update(
        clients,
        {
            "_id": oid,
            **JOINABLE,
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
        current = await store.load(clients.engine, session_id)
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
        opened = await store.update(
            clients,
            {"_id": oid, "status": "scheduled"},
            {"$set": {"status": "active", "startTime": utcnow()}},
            [session_event("started", user.id)],
        )
        joined = opened or await store.load(clients.engine, session_id)
    return await after_write(clients, joined)


async def leave_session(clients: Clients, session_id: str, user: User) -> SessionView:
    oid = parse_object_id(session_id)
    if oid is None:
        raise NotFound("Session not found", code="session_not_found")
    left = await store.update(
        clients,
        {"_id": oid, "participants": user.id, "status": {"$in": list(OPEN_STATUSES)}},
        {"$pull": {"participants": user.id, "members": user.id}, "$inc": {"seatsLeft": 1}},
        [session_event("member.left", user.id, userId=str(user.id), role="candidate")],
    )
    if left is None:
        # An interviewer leaves the panel (no seat to give back).
        left = await store.update(
            clients,
            {"_id": oid, "interviewers": user.id, "status": {"$in": list(OPEN_STATUSES)}},
            {"$pull": {"interviewers": user.id, "members": user.id}},
            [session_event("member.left", user.id, userId=str(user.id), role="interviewer")],
        )
    if left is None:
        current = await store.load(clients.engine, session_id)
        if not is_member(current, user):
            await org_grants(clients.engine, current.org_id, user, None)
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


async def update_session(
    clients: Clients, session: Session, data: UpdateSessionIn, actor: User
) -> SessionView:
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
    if "problemId" in changes:
        # Pinned again, at the bank's current version (or the one named): runs from now on
        # are judged against it.
        pinned = (
            await problems.pin(clients, session.org_id or session.created_by, data.problemId)
            if data.problemId
            else None
        )
        update["$set"] |= {
            "problemId": pinned.slug if pinned else None,
            "problemVersion": pinned.version if pinned else None,
            "problemVersionId": pinned.version_id if pinned else None,
        }
    if "criteria" in changes:
        if session.criteria_locked:
            raise CriteriaLocked()
        # Criteria set by hand are no longer the template's.
        update["$set"] |= {
            "scorecardTemplate": None,
            "scorecardTemplateVersion": None,
            "scorecardTemplateVersionId": None,
        }
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
    events = [session_event("updated", actor.id, fields=sorted(changes))]
    if notice == "reschedule":
        events.append(
            session_event(
                "rescheduled",
                actor.id,
                startTime=update["$set"].get("startTime", session.start_time),
                duration=update["$set"].get("duration", session.duration),
            )
        )
    if target is not None and target != session.status:
        events.append(session_event(MOVE_EVENTS[target], actor.id))
    updated = await store.update(clients, filter_, update, events)
    if updated is None:
        current = await store.load(clients.engine, str(session.id))
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
    await store.delete(clients.engine, session.id)
    # What other domains keep of it (chat history, code runs) goes too: see tq.reactions.
    await clients.events.publish(SessionDeleted(session.id))
    # The job finds no session and removes the channel: one code path for every change.
    await clients.queue.enqueue(SYNC_SESSION_CHANNEL, str(session.id))


async def release_closing_account(clients: Clients, user_id: ObjectId) -> None:
    """Account deletion (the AccountClosing reaction): hosted open sessions are cancelled,
    joined seats are freed."""
    touched: list[ObjectId] = []
    async for session in store.hosted_open(clients.engine, user_id):
        cancelled = await store.update(
            clients,
            {"_id": session.id, "status": {"$in": list(OPEN_STATUSES)}},
            {"$set": {"status": "cancelled", "endTime": utcnow()}},
            [session_event("cancelled", None, reason="host_account_deleted")],
        )
        if cancelled:
            touched.append(session.id)
    for session_id in await store.ids_with_member_in(clients.engine, user_id, "participants"):
        freed = await store.update(
            clients,
            {"_id": session_id, "participants": user_id},
            {"$pull": {"participants": user_id, "members": user_id}, "$inc": {"seatsLeft": 1}},
            [session_event("member.removed", None, userId=None, reason="account_deleted")],
        )
        if freed:
            touched.append(session_id)
    for session_id in await store.ids_with_member_in(clients.engine, user_id, "interviewers"):
        freed = await store.update(
            clients,
            {"_id": session_id, "interviewers": user_id},
            {"$pull": {"interviewers": user_id, "members": user_id}},
            [session_event("member.removed", None, userId=None, reason="account_deleted")],
        )
        if freed:
            touched.append(session_id)
    await clients.queue.enqueue_many(SYNC_SESSION_CHANNEL, [[str(sid)] for sid in touched])


async def hand_over(
    clients: Clients, org_id: ObjectId, leaving: ObjectId, successor: ObjectId
) -> int:
    """A member leaving an organization (the MemberLeaving reaction): every session of it they
    host, past ones too, gets `successor` as its host, who takes their place among the
    members (and leaves the panel if on it), so nothing of the organization stays theirs to
    change or read; they also leave the panels they sat on. The session's log says so."""

    def to_successor(session: Session) -> tuple[dict[str, Any], SessionEvent]:
        members = dict.fromkeys(successor if uid == leaving else uid for uid in session.members)
        panel = [uid for uid in session.interviewers if uid != successor]
        change = {"$set": {"createdBy": successor, "members": list(members), "interviewers": panel}}
        event = session_event(
            "host.changed",
            None,
            fromUserId=str(leaving),
            toUserId=str(successor),
            reason="left_organization",
        )
        return change, event

    def off_panel(session: Session) -> tuple[dict[str, Any], SessionEvent]:
        change = {
            "$set": {
                "members": [uid for uid in session.members if uid != leaving],
                "interviewers": [uid for uid in session.interviewers if uid != leaving],
            }
        }
        event = session_event(
            "member.removed",
            None,
            userId=str(leaving),
            role="interviewer",
            reason="left_organization",
        )
        return change, event

    handed = 0
    async for session in store.hosted_in_org(clients.engine, org_id, leaving):
        handed += await _rewrite(clients, session, to_successor, {"createdBy": leaving})
    async for session in store.on_panels_in_org(clients.engine, org_id, leaving):
        await _rewrite(clients, session, off_panel, {"interviewers": leaving})
    return handed


async def _rewrite(
    clients: Clients,
    session: Session,
    compute: Callable[[Session], tuple[dict[str, Any], SessionEvent]],
    still: dict[str, Any],
) -> bool:
    """The change `compute` makes of the session as read, if it has not changed since (and
    still matches `still`); else computed again from it as it now is, a few times."""
    for _ in range(5):
        change, event = compute(session)
        filter_ = {"_id": session.id, "updatedAt": session.updated_at, **still}
        if await store.update(clients, filter_, change, [event]) is not None:
            await clients.queue.enqueue(SYNC_SESSION_CHANNEL, str(session.id))
            return True
        reread = await store.find(clients.engine, session.id)
        if reread is None:
            return False
        session = reread
    return False


async def erase_candidate(clients: Clients, org_id: ObjectId, erasure: Erasure) -> None:
    """The CandidateErasing reaction, first of all: the organization's sessions where the
    person took part or was invited lose their invitations and their seat (given back while
    the session is open), and the log of those sessions no longer names their account."""
    email, uid = erasure.email, erasure.user_id
    named = await sessions_naming(clients, uid) if uid is not None else []
    async for found in store.with_candidate(clients.engine, org_id, uid, email, named):
        session: Session | None = found
        for _ in range(8):
            if session is None:
                break
            mine = [inv for inv in session.invitations if inv.email == email]
            erasure.names.update(inv.name for inv in mine if inv.name)
            keep = [inv for inv in session.invitations if inv.email != email]
            update: dict[str, Any] = {}
            still: dict[str, Any] = {}
            if uid is not None and uid in session.members:
                update["$pull"] = {"participants": uid, "interviewers": uid, "members": uid}
                if uid in session.participants and session.status in OPEN_STATUSES:
                    # The seat goes back once: only while they still hold it.
                    update["$inc"] = {"seatsLeft": 1}
                    still["participants"] = uid
            written = await rewrite_invitations(
                clients, session, keep, update=update, filter_=still
            )
            if written is not None:
                erasure.removed["invitations"] += len(mine)
                erasure.removed["memberships"] += 1 if "$pull" in update else 0
                erasure.session_ids.append(session.id)
                await store.flush_events(clients, written)
                break
            session = await store.find(clients.engine, session.id)
    if uid is not None and erasure.session_ids:
        erasure.removed["log_entries_anonymised"] += await anonymise_in_log(
            clients, erasure.session_ids, uid
        )
    await clients.queue.enqueue_many(
        SYNC_SESSION_CHANNEL, [[str(sid)] for sid in erasure.session_ids]
    )


async def adopt_into_org(clients: Clients, host_id: ObjectId, org_id: ObjectId) -> int:
    return await store.adopt_into_org(clients.engine, host_id, org_id)


async def move_org_sessions(clients: Clients, from_org: ObjectId, to_org: ObjectId) -> int:
    return await store.move_to_org(clients.engine, from_org, to_org)


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
        marked = await store.update(
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
