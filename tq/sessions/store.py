"""The session document's one owner: every read and write of the `sessions` collection goes
through this module (tests/unit/sessions/test_store_owner.py fails when another module reaches
the collection), and so does the session's write lock (`lock_key`). The rules (who may do what,
the state machine) are the service's; this module knows the queries, the indexes they use
(tq/query_catalogue.py) and how a change is written: one conditional update that carries the
change's events (`update`). The move of those events to the log (tq.sessions.log) works on
any document with an outbox; for a session, only `flush_events` here starts it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from pymongo import ReturnDocument

from tq.core.clients import Clients
from tq.core.db import Document, parse_object_id
from tq.core.errors import NotFound
from tq.core.locks import WriteLocks
from tq.core.time import utcnow
from tq.sessions.log import move_events_to_log
from tq.sessions.models import FINAL_STATUSES, OPEN_STATUSES, Session, SessionEvent

Sort = list[tuple[str, int]]


def lock_key(session_id: object) -> str:
    """The write lock of one session document (see tq.core.locks for why there is one)."""
    return f"session:{session_id}"


def _collection(engine: AIOEngine) -> Any:
    return engine.get_collection(Session)


def _from_doc(doc: dict[str, Any]) -> Session:
    return Session.model_validate_doc(doc)


# --- reading one


async def find(engine: AIOEngine, session_id: ObjectId) -> Session | None:
    # A plain find (ODMantic's own reads are aggregation pipelines).
    doc = await _collection(engine).find_one({"_id": session_id})
    return _from_doc(doc) if doc else None


async def load(engine: AIOEngine, session_id: str) -> Session:
    """The session, or 404 (malformed ids are just not found: nothing to probe)."""
    oid = parse_object_id(session_id)
    session = await find(engine, oid) if oid else None
    if session is None:
        raise NotFound("Session not found", code="session_not_found")
    return session


async def load_fields(
    engine: AIOEngine,
    session_id: str,
    fields: dict[str, int],
    where: dict[str, Any] | None = None,
) -> Document:
    """`fields` of the session, if it also matches `where` (who may see it), or 404 (as
    `load`): one projected read, for routes that need a few fields, not the whole session."""
    oid = parse_object_id(session_id)
    found = oid and await _collection(engine).find_one({"_id": oid, **(where or {})}, fields)
    if not found:
        raise NotFound("Session not found", code="session_not_found")
    return dict(found)


async def find_by_channel(engine: AIOEngine, channel_id: str) -> Session | None:
    doc = await _collection(engine).find_one({"streamChannelId": channel_id})
    return _from_doc(doc) if doc else None


async def find_by_invite_token(engine: AIOEngine, hashed: str) -> Session | None:
    doc = await _collection(engine).find_one({"inviteTokens": hashed})
    return _from_doc(doc) if doc else None


# --- reading many


# The lists answer straight from documents (SessionOut.of_doc), with only the fields shown.


async def page(
    engine: AIOEngine,
    filter_: dict[str, Any],
    sort: Sort,
    skip: int,
    limit: int,
    fields: dict[str, int],
) -> tuple[list[Document], int]:
    """One page of the documents matching `filter_` (`fields` of each), and how many match."""
    collection = _collection(engine)
    total = await collection.count_documents(filter_)
    cursor = collection.find(filter_, fields).sort(sort).skip(skip).limit(limit)
    return list(await cursor.to_list(length=limit)), total


async def first(
    engine: AIOEngine, filter_: dict[str, Any], sort: Sort, limit: int, fields: dict[str, int]
) -> list[Document]:
    cursor = _collection(engine).find(filter_, fields).sort(sort).limit(limit)
    return list(await cursor.to_list(length=limit))


async def _each(cursor: Any) -> AsyncIterator[Session]:
    async for doc in cursor:
        yield _from_doc(doc)


def hosted_open(engine: AIOEngine, host_id: ObjectId) -> AsyncIterator[Session]:
    """The scheduled and active sessions `host_id` hosts (host_status)."""
    return _each(
        _collection(engine).find({"createdBy": host_id, "status": {"$in": list(OPEN_STATUSES)}})
    )


def hosted_in_org(engine: AIOEngine, org_id: ObjectId, host_id: ObjectId) -> AsyncIterator[Session]:
    """Every session of an organization `host_id` hosts, past ones too (org_host_status)."""
    return _each(_collection(engine).find({"orgId": org_id, "createdBy": host_id}))


def on_panels_in_org(
    engine: AIOEngine, org_id: ObjectId, user_id: ObjectId
) -> AsyncIterator[Session]:
    """The organization's sessions whose panel `user_id` sits on."""
    return _each(_collection(engine).find({"orgId": org_id, "interviewers": user_id}))


def with_candidate(
    engine: AIOEngine,
    org_id: ObjectId,
    user_id: ObjectId | None,
    email: str,
    also: list[ObjectId],
) -> AsyncIterator[Session]:
    """The organization's sessions where this person was invited, takes part, or took part
    (`also`: the sessions whose log names them, a candidate who left among them)."""
    present: list[dict[str, Any]] = [{"invitations.email": email}]
    if user_id is not None:
        present.append({"participants": user_id})
    if also:
        present.append({"_id": {"$in": also}})
    return _each(_collection(engine).find({"orgId": org_id, "$or": present}))


async def move_to_org(engine: AIOEngine, from_org: ObjectId, to_org: ObjectId) -> int:
    """Every session of `from_org` now belongs to `to_org` (a deleted organization's)."""
    result = await _collection(engine).update_many({"orgId": from_org}, {"$set": {"orgId": to_org}})
    return int(result.modified_count)


async def adopt_into_org(engine: AIOEngine, host_id: ObjectId, org_id: ObjectId) -> int:
    """The migration: sessions `host_id` hosts that belong to no organization yet join
    `org_id` (their personal one). Conditional, so a second run changes nothing."""
    result = await _collection(engine).update_many(
        {"createdBy": host_id, "orgId": None}, {"$set": {"orgId": org_id}}
    )
    return int(result.modified_count)


async def ids_with_member_in(engine: AIOEngine, user_id: ObjectId, role_field: str) -> list[Any]:
    """Ids of the sessions where `user_id` is in `role_field` (participants or interviewers):
    `members` (indexed) narrows to the user's sessions first."""
    cursor = _collection(engine).find({"members": user_id, role_field: user_id}, {"_id": 1})
    return [doc["_id"] async for doc in cursor]


def reminders_due(engine: AIOEngine, now: datetime, within: timedelta, limit: int) -> Any:
    """Scheduled sessions starting within `within` that were not reminded."""
    return _each(
        _collection(engine)
        .find(
            {
                "status": "scheduled",
                "remindedAt": None,
                "startTime": {"$gt": now, "$lte": now + within},
            }
        )
        .limit(limit)
    )


def records_to_announce(engine: AIOEngine, limit: int) -> AsyncIterator[Session]:
    """Completed sessions whose record was not announced (status_record_ready)."""
    return _each(
        _collection(engine).find({"status": "completed", "recordReadyAt": None}).limit(limit)
    )


def finished_unarchived(engine: AIOEngine, ended_before: datetime) -> AsyncIterator[Session]:
    """Final sessions ended before `ended_before` whose chat is not archived, oldest ending
    first (status_archived_end_id)."""
    filter_ = {
        "status": {"$in": list(FINAL_STATUSES)},
        "endTime": {"$lt": ended_before},
        "archivedAt": None,
    }
    return _each(_collection(engine).find(filter_).sort([("endTime", 1), ("_id", 1)]))


def with_pending_events(engine: AIOEngine, limit: int) -> AsyncIterator[Session]:
    """Sessions whose outbox still holds events (events_pending)."""
    return _each(_collection(engine).find({"eventsPending": True}).limit(limit))


async def out_of_step_ids(engine: AIOEngine, older_than_s: float, limit: int) -> list[str]:
    """Sessions still `streamSync: "pending"` a while after their last change (stream_sync)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    stale = (
        _collection(engine)
        .find({"streamSync": "pending", "updatedAt": {"$lt": cutoff}}, {"_id": 1})
        .limit(limit)
    )
    return [str(doc["_id"]) async for doc in stale]


# --- writing


async def insert(engine: AIOEngine, session: Session) -> None:
    # A plain insert: ODMantic's save is an upsert.
    await _collection(engine).insert_one(session.model_dump_doc())


async def delete(engine: AIOEngine, session_id: ObjectId) -> None:
    await _collection(engine).delete_one({"_id": session_id})


async def update(
    clients: Clients,
    filter_: dict[str, Any],
    change: dict[str, Any] | list[dict[str, Any]],
    events: list[SessionEvent] | None = None,
) -> Session | None:
    """The one way a session document changes: one conditional `find_one_and_update` that
    returns the new document (None when the filter no longer matches). A pipeline update (a
    list) sets `updatedAt` in its own first stage. `events` are written by the same update
    into the document's outbox (moved to the log by `flush_events`)."""
    if events:
        docs = [event.model_dump_doc() for event in events]
        if isinstance(change, dict):
            change.setdefault("$push", {})["outboxEvents"] = {"$each": docs}
            change.setdefault("$set", {})["eventsPending"] = True
        else:
            queued = {"$concatArrays": [{"$ifNull": ["$outboxEvents", []]}, {"$literal": docs}]}
            change = [*change, {"$set": {"outboxEvents": queued, "eventsPending": True}}]
    if isinstance(change, dict):
        change.setdefault("$set", {})["updatedAt"] = utcnow()
    async with clients.locks.hold(lock_key(filter_["_id"])):
        doc = await _collection(clients.engine).find_one_and_update(
            filter_, change, return_document=ReturnDocument.AFTER
        )
    return _from_doc(doc) if doc else None


async def mark_in_step(clients: Clients, session: Session) -> bool:
    """`streamSync: ok` unless the session changed since `session` was read (that change
    queued its own sync). Not a change of the session: `updatedAt` stays."""
    async with clients.locks.hold(lock_key(session.id)):
        marked = await _collection(clients.engine).update_one(
            {"_id": session.id, "updatedAt": session.updated_at, "streamSync": {"$ne": "ok"}},
            {"$set": {"streamSync": "ok"}},
        )
    return bool(marked.modified_count)


async def mark_archived(engine: AIOEngine, locks: WriteLocks, session_id: ObjectId) -> None:
    async with locks.hold(lock_key(session_id)):
        await _collection(engine).update_one(
            {"_id": session_id, "archivedAt": None}, {"$set": {"archivedAt": utcnow()}}
        )


async def flush_events(clients: Clients, session: Session) -> int:
    """Move the events waiting in `session`'s document into the log."""
    return await move_events_to_log(
        clients, Session, session.id, session.id, session.outbox_events, lock_key(session.id)
    )


async def backfill_fields(engine: AIOEngine) -> int:
    """Sessions written before visibility existed are open (the lobby's filter names it)."""
    result = await _collection(engine).update_many(
        {"visibility": None}, {"$set": {"visibility": "open"}}
    )
    return int(result.modified_count)


async def close_overdue(
    engine: AIOEngine,
    locks: WriteLocks,
    *,
    grace_minutes: int,
    max_session_minutes: int,
    batch_size: int = 10_000,
    now: datetime | None = None,
) -> tuple[dict[str, int], list[ObjectId]]:
    """Close what time has passed by, in bulk: scheduled sessions nobody joined whose start is
    more than the grace ago → cancelled; active sessions past start + duration (or the maximum)
    + grace → completed (endTime set; a duration nobody gave stays unset, as nobody ended the
    session). Returns the counts this run changed and the ids whose channel to freeze.

    Three statements whatever the number of sessions: one read of the candidates and one
    conditional update_many per target status, expressed by the same filters as the candidates
    (one `$or` clause per distinct duration). MongoDB serves them from the (status, startTime)
    index; a backend that scans (the embedded FerretDB) scans three times. Every candidate's
    write lock is taken first and sessions whose lock is held elsewhere (a host ending it right
    now) are left out, so the host's own conditional update decides them.

    The ids to sync are the candidates this run tried to close: a few may have been ended by
    their host between the read and the lock, and syncing those again is harmless (the sync
    reads current state). Every closed session is also marked `streamSync: "pending"`, so
    repair_session_sync freezes its channel should the sync never be queued (a worker killed
    right after the update, whose retry finds nothing left to close)."""
    now = now or utcnow()
    grace = timedelta(minutes=grace_minutes)
    collection = _collection(engine)
    stamp = {"endTime": now, "updatedAt": now, "streamSync": "pending", "eventsPending": True}

    def expired(to: str) -> dict[str, Any]:
        # The event rides in the same update_many (its id is unique within each session).
        event = SessionEvent(
            id=f"expired-{to}-{int(now.timestamp() * 1000)}",
            type="expired",
            actor_id=None,
            at=now,
            data={"status": to},
        )
        return {"outboxEvents": event.model_dump_doc()}

    lonely_filter = {
        "status": "scheduled",
        "participants.0": {"$exists": False},
        "startTime": {"$lt": now - grace},
    }
    # The shortest allowed duration bounds the active candidates; each one's own deadline decides.
    active_filter = {"status": "active", "startTime": {"$lt": now - grace - timedelta(minutes=5)}}
    lonely: list[ObjectId] = []
    due: dict[ObjectId, int | None] = {}
    async for doc in collection.find(
        {"$or": [lonely_filter, active_filter]},
        {"_id": 1, "status": 1, "startTime": 1, "duration": 1},
    ):
        if doc["status"] == "scheduled":
            lonely.append(doc["_id"])
            continue
        minutes = doc.get("duration")
        if now > doc["startTime"] + timedelta(minutes=minutes or max_session_minutes) + grace:
            due[doc["_id"]] = minutes

    candidates = lonely + list(due)
    counts = {"cancelled": 0, "completed": 0}
    async with contextlib.AsyncExitStack() as stack:
        held: set[str] = set()
        for start in range(0, len(candidates), batch_size):
            keys = [lock_key(sid) for sid in candidates[start : start + batch_size]]
            held.update(await stack.enter_async_context(locks.hold_many(keys)))
        busy = [sid for sid in candidates if lock_key(sid) not in held]
        not_busy = {"_id": {"$nin": busy}} if busy else {}
        if lonely:
            cancelled = await collection.update_many(
                {**lonely_filter, **not_busy},
                {"$set": {"status": "cancelled", **stamp}, "$push": expired("cancelled")},
            )
            counts["cancelled"] = cancelled.modified_count
        if due:
            deadlines = [
                {
                    "duration": minutes,
                    "startTime": {
                        "$lt": now - grace - timedelta(minutes=minutes or max_session_minutes)
                    },
                }
                for minutes in sorted({*due.values()}, key=lambda m: m or 0)
            ]
            completed = await collection.update_many(
                {"status": "active", "$or": deadlines, **not_busy},
                {"$set": {"status": "completed", **stamp}, "$push": expired("completed")},
            )
            counts["completed"] = completed.modified_count
    skipped = set(busy)
    return counts, [sid for sid in candidates if sid not in skipped]
