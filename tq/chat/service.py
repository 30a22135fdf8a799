"""The chat record: channels on demand, saved messages, history pages, and Stream events that
neither lose nor duplicate anything."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from datetime import UTC, datetime

from bson import ObjectId
from odmantic import AIOEngine
from odmantic.exceptions import DuplicateKeyError
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from tq.chat import store
from tq.chat.models import ChatArchiveChunk, ChatMessage, StreamEvent
from tq.chat.schemas import CURSOR_RE, SHOWN_MESSAGE_FIELDS, HistoryQuery, SaveMessageIn
from tq.core.clients import Clients
from tq.core.db import Document, keyset_docs, position_filter
from tq.core.erasure import Erasure
from tq.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unauthorized
from tq.core.stream import StreamNotConfigured
from tq.core.time import utcnow
from tq.jobs.registry import PROCESS_STREAM_EVENT
from tq.sessions.models import FINAL_STATUSES, Status, channel_id_for
from tq.sessions.queries import member_session
from tq.users.models import User

log = logging.getLogger("tq.chat")
STREAM_EVENT_SEEN_TTL_S = 7 * 24 * 3600  # longer than Stream keeps retrying a delivery


# --- messages


async def save_message(
    clients: Clients, user: User, data: SaveMessageIn
) -> tuple[ChatMessage, bool]:
    """(message, created). A Stream message id already stored returns the stored message."""
    session = await member_session(clients.engine, data.sessionId, user)
    if data.messageId:
        existing = await clients.engine.find_one(ChatMessage, ChatMessage.key == data.messageId)
        if existing is not None:
            if existing.session_id != session.id:
                raise Conflict("That message belongs to another session", code="message_conflict")
            return existing, False
    if session.status in FINAL_STATUSES:
        raise Conflict("This session has ended; its chat is read-only", code="session_closed")
    message_id = ObjectId()
    now = utcnow()
    message = ChatMessage(
        id=message_id,
        session_id=session.id,
        key=data.messageId or f"tq-{message_id}",
        stream_message_id=data.messageId,
        user_id=user.id,
        stream_user_id=user.stream_id,
        text=data.text,
        source="api",
        created_at=data.createdAt or now,
        updated_at=now,
    )
    try:
        await clients.engine.save(message)
    except DuplicateKeyError:
        # The same Stream message arrived at the same time (another save or a webhook).
        stored = await clients.engine.find_one(ChatMessage, ChatMessage.key == message.key)
        if stored is None:
            raise
        return stored, False
    return message, True


def encode_cursor(position: tuple[datetime, ObjectId]) -> str:
    """`<createdAt in ms>_<id>`: the position a page ends at (tq.chat.schemas.CURSOR)."""
    return f"{int(position[0].timestamp() * 1000)}_{position[1]}"


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    # Exactly what CURSOR describes, so the spec and the server agree on every string.
    if not CURSOR_RE.fullmatch(cursor):
        raise BadRequest("Malformed cursor", code="validation_error")
    millis, oid = cursor.split("_")
    return datetime.fromtimestamp(int(millis) / 1000, UTC), ObjectId(oid)


NEWEST_FIRST = [("createdAt", -1), ("_id", -1)]
OLDEST_FIRST = [("createdAt", 1), ("_id", 1)]


def position(message: Document) -> tuple[datetime, ObjectId]:
    return (message["createdAt"], message["_id"])


async def history(
    engine: AIOEngine, session_id: ObjectId, status: Status, query: HistoryQuery
) -> tuple[list[Document], str | None]:
    """A page of one session's messages as stored documents (MessageOut.of_doc shows them),
    oldest first within the page, hot and archived alike.

    No cursor: the newest `limit`. `before`: the page before a cursor. `after`: messages newer
    than a message id, for catching up (nextCursor is then null). Archived messages are older
    than every hot one (archiving runs oldest first), so a page reads hot messages first and
    continues into the archive chunks; copies in both (a run killed between writing a chunk and
    deleting its hot copies) are counted once. Only final sessions are ever archived: an open
    one has no chunks to read."""
    archived = status in FINAL_STATUSES
    if query.after:
        newer = await _history_after(
            engine, session_id, archived, ObjectId(query.after), query.limit
        )
        if query.before is not None:
            # Both: the messages between the two positions (ascending, so a prefix).
            until = decode_cursor(query.before)
            newer = [m for m in newer if position(m) < until]
        return newer, None
    bound = decode_cursor(query.before) if query.before is not None else None
    newest_first, more = await keyset_docs(
        engine.get_collection(ChatMessage),
        {"sessionId": session_id},
        NEWEST_FIRST,
        bound,
        query.limit,
        SHOWN_MESSAGE_FIELDS,
    )
    if not more and archived:
        oldest_hot = position(newest_first[-1]) if newest_first else bound
        seen = {m["_id"] for m in newest_first}
        async for chunk in store.chunks_before(engine, session_id, oldest_hot):
            older = [
                m
                for m in reversed(store.chunk_docs(chunk))
                if (oldest_hot is None or position(m) < oldest_hot) and m["_id"] not in seen
            ]
            newest_first += older
            seen.update(m["_id"] for m in older)
            if len(newest_first) > query.limit:
                break
    has_more = more or len(newest_first) > query.limit
    page = list(reversed(newest_first[: query.limit]))
    return page, encode_cursor(position(page[0])) if has_more and page else None


async def _history_after(
    engine: AIOEngine, session_id: ObjectId, archived: bool, anchor_id: ObjectId, limit: int
) -> list[Document]:
    anchor = await engine.get_collection(ChatMessage).find_one(
        {"_id": anchor_id, "sessionId": session_id}
    )
    if anchor is None and archived:
        anchor = await store.find_archived(engine, session_id, anchor_id)
    if anchor is None:
        raise NotFound("No such message in this session", code="message_not_found")
    bound = position(anchor)
    newer: list[Document] = []
    if archived:
        async for chunk in store.chunks_after(engine, session_id, bound):
            newer += [m for m in store.chunk_docs(chunk) if position(m) > bound]
            if len(newer) >= limit:
                return newer[:limit]
    seen = {m["_id"] for m in newer}
    filter_ = {"sessionId": session_id, **position_filter(OLDEST_FIRST, bound)}
    cursor = (
        engine.get_collection(ChatMessage)
        .find(filter_, SHOWN_MESSAGE_FIELDS)
        .sort(OLDEST_FIRST)
        .limit(limit + len(newer))
    )
    async for doc in cursor:
        if doc["_id"] not in seen:
            newer.append(doc)
    return newer[:limit]


async def forget_session_chat(engine: AIOEngine, session_id: ObjectId) -> None:
    """A deleted session's history goes with it, hot and archived."""
    await engine.get_collection(ChatMessage).delete_many({"sessionId": session_id})
    await engine.get_collection(ChatArchiveChunk).delete_many({"sessionId": session_id})


async def erase_candidate_chat(engine: AIOEngine, erasure: Erasure) -> None:
    """A candidate's erasure: in the sessions it covers, their messages go (in the archive,
    where chunks keep their shape, they are emptied and lose their author), the others'
    messages lose the candidate's name and email, and the stored Stream events of those
    channels go."""
    ids, uid, pattern = erasure.session_ids, erasure.user_id, erasure.pattern()
    if not ids:
        return
    messages = engine.get_collection(ChatMessage)
    if uid is not None:
        gone = await messages.delete_many({"sessionId": {"$in": ids}, "userId": uid})
        erasure.removed["chat_messages"] += int(gone.deleted_count)
    async for doc in messages.find(
        {"sessionId": {"$in": ids}, "text": {"$regex": pattern.pattern, "$options": "i"}}
    ):
        await messages.update_one(
            {"_id": doc["_id"]}, {"$set": {"text": erasure.scrub(doc["text"])}}
        )
        erasure.removed["chat_messages_scrubbed"] += 1
    erasure.removed["archived_messages_changed"] += await store.erase_in_archive(
        engine, ids, uid, erasure.scrub
    )
    channels = [channel_id_for(sid) for sid in ids]
    events = await engine.get_collection(StreamEvent).delete_many({"channelId": {"$in": channels}})
    erasure.removed["stream_events"] += int(events.deleted_count)


# --- webhooks


async def receive_stream_event(
    clients: Clients,
    body: bytes,
    signature: str | None,
    api_key: str | None,
    webhook_id: str | None,
) -> bool:
    """Verify, store durably, apply. Returns True for a delivery seen before.

    The stored event is the commit point: only once it is in MongoDB is the delivery
    acknowledged (a database failure propagates as 503 and Stream retries)."""
    if not clients.stream.configured:
        raise StreamNotConfigured()
    if not clients.stream.verify_webhook(body, signature, api_key):
        raise Unauthorized("Invalid webhook signature", code="invalid_signature")
    try:
        event = json.loads(body)
    except ValueError:
        raise BadRequest("The webhook body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise BadRequest("The webhook body is not a Stream event")
    key = (webhook_id or "").strip()[:200] or "sha256:" + hashlib.sha256(body).hexdigest()
    seen_key = f"webhook:seen:{key}"
    try:
        if await clients.redis.exists(seen_key):
            return True
    except RedisError:
        pass  # the unique index on the stored event still de-duplicates
    stored = StreamEvent(
        key=key, type=event["type"], payload=event, channel_id=store.channel_of(event)
    )
    try:
        await clients.engine.save(stored)
    except DuplicateKeyError:
        return True
    with contextlib.suppress(RedisError):
        await clients.redis.set(seen_key, "1", ex=STREAM_EVENT_SEEN_TTL_S)
    try:
        await store.process_event(clients.engine, clients.redis, stored)
    except (PyMongoError, RedisError, ServiceUnavailable) as exc:
        # Stored but not applied: a job applies it (idempotently) when things recover.
        log.warning("webhook %s stored, applying later (%s)", event["type"], type(exc).__name__)
        await clients.queue.enqueue(PROCESS_STREAM_EVENT, key)
    return False
