"""A session's event log: an event is written into the changed document by the update that
makes the change (see `tq.sessions.store.update`; notes, scorecards and runs carry theirs too), then
moved to `session_events`: a session's by the next read of its log (which moves first what
waits), the others right after their write, and whatever is left by the `flush_session_events`
beat. A write never pays for the log with extra round trips, and a crash loses nothing."""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from tq.core.clients import Clients
from tq.core.db import insert_new, keyset_page
from tq.core.time import utcnow
from tq.sessions.models import Session, SessionEvent, SessionEventRecord

log = logging.getLogger("tq.sessions.log")


def session_event(type_: str, actor: ObjectId | None, **data: Any) -> SessionEvent:
    return SessionEvent(id=str(ObjectId()), type=type_, actor_id=actor, at=utcnow(), data=data)


async def move_events_to_log(
    clients: Clients,
    model: Any,
    doc_id: Any,
    session_id: ObjectId,
    waiting: list[SessionEvent],
    lock_key: str,
) -> int:
    """Move `waiting` (the outbox of document `doc_id` of `model`: a session, a note, a
    scorecard) into `session_events` (a key already there is skipped, so a repeated flush is
    harmless), then drop them from the document. A failure leaves them waiting:
    `flush_session_events` (beat) or the next read of the log moves them."""
    if not waiting:
        return 0
    records = [
        # ODMantic declares `id` to type checkers even where another field is primary.
        SessionEventRecord(  # type: ignore[call-arg]
            key=f"{session_id}:{event.id}",
            session_id=session_id,
            type=event.type,
            actor_id=event.actor_id,
            at=event.at,
            data=event.data,
        ).model_dump_doc()
        for event in waiting
    ]
    try:
        await insert_new(clients.engine.get_collection(SessionEventRecord), records)
        collection = clients.engine.get_collection(model)
        moved = [event.model_dump_doc() for event in waiting]
        async with clients.locks.hold(lock_key):
            # Usually nothing was added meanwhile: empty the outbox in one update. Otherwise
            # take out just these (whole documents, as stored: what FerretDB v1 matches too)
            # and leave the flag for the newer ones' own move.
            emptied = await collection.update_one(
                {"_id": doc_id, "outboxEvents": moved},
                {"$set": {"outboxEvents": [], "eventsPending": False}},
            )
            if not emptied.matched_count:
                await collection.update_one({"_id": doc_id}, {"$pullAll": {"outboxEvents": moved}})
    except PyMongoError as exc:
        log.warning("events of %s %s left in its outbox (%s)", model.__name__, doc_id, exc)
        return 0
    return len(waiting)


async def forget_session_events(clients: Clients, session_id: ObjectId) -> None:
    """A deleted session's log goes with it."""
    await clients.engine.get_collection(SessionEventRecord).delete_many({"sessionId": session_id})


async def forget_actor(clients: Clients, user_id: ObjectId) -> int:
    """Account deletion: the log keeps what happened, not who did it."""
    result = await clients.engine.get_collection(SessionEventRecord).update_many(
        {"actorId": user_id}, {"$set": {"actorId": None}}
    )
    return int(result.modified_count)


async def sessions_naming(clients: Clients, user_id: ObjectId) -> list[ObjectId]:
    """The sessions whose log has entries by this account (the `actor` index)."""
    found = clients.engine.get_collection(SessionEventRecord).find(
        {"actorId": user_id}, {"sessionId": 1}
    )
    return list({doc["sessionId"] async for doc in found})


async def anonymise_in_log(clients: Clients, session_ids: list[ObjectId], user_id: ObjectId) -> int:
    """A candidate's erasure: these sessions' log keeps what happened, not whose account."""
    collection = clients.engine.get_collection(SessionEventRecord)
    where = {"sessionId": {"$in": session_ids}}
    by_actor = await collection.update_many(
        {**where, "actorId": user_id}, {"$set": {"actorId": None}}
    )
    named = await collection.update_many(
        {**where, "data.userId": str(user_id)}, {"$set": {"data.userId": None}}
    )
    return int(by_actor.modified_count) + int(named.modified_count)


async def read_events(
    clients: Clients, session: Session, after: tuple[Any, str] | None, limit: int
) -> tuple[list[SessionEventRecord], bool]:
    """One page of the log, oldest first, after the (at, key) position `after`. The caller
    moves what still waits in the document first (tq.sessions.store.flush_events), so the page
    is complete."""
    return await keyset_page(
        clients.engine.get_collection(SessionEventRecord),
        SessionEventRecord,
        {"sessionId": session.id},
        [("at", 1), ("_id", 1)],
        after,
        limit,
    )
