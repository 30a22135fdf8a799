"""The chat record's shared core: storing a Stream message version (webhooks, saves and the
archive's import use the same rule), and reading the compressed archive chunks."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from odmantic import AIOEngine
from redis.asyncio import Redis

from tq.chat.models import ChatArchiveChunk, ChatMessage, Source, StreamEvent
from tq.core.db import Document
from tq.core.erasure import REMOVED
from tq.core.locks import document_lock
from tq.core.stream import StreamGateway
from tq.core.time import to_millis, utcnow
from tq.sessions import store as sessions_store
from tq.sessions.models import Session
from tq.users.models import User

MESSAGE_EVENTS = {"message.new", "message.updated", "message.deleted"}
MAX_TEXT = 5000
TZ_AWARE: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


# --- Stream message versions


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return to_millis(moment)


def channel_of(event: dict[str, Any]) -> str | None:
    channel_id = event.get("channel_id")
    if isinstance(channel_id, str):
        return channel_id
    cid = event.get("cid")
    if isinstance(cid, str) and ":" in cid:
        return cid.split(":", 1)[1]
    return None


async def process_event(engine: AIOEngine, redis: Redis, stored: StreamEvent) -> str:
    outcome = await apply_event(engine, redis, stored.payload)
    stored.processed_at = utcnow()
    stored.attempts += 1
    stored.error = None
    await engine.save(stored)
    return outcome


async def process_stored_event(engine: AIOEngine, redis: Redis, key: str) -> str:
    stored = await engine.find_one(StreamEvent, StreamEvent.key == key)
    if stored is None:
        return "missing"
    if stored.processed_at is not None:
        return "already_processed"
    return await process_event(engine, redis, stored)


async def purge_applied_events(engine: AIOEngine, older_than_days: float) -> int:
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = await engine.get_collection(StreamEvent).delete_many({"processedAt": {"$lt": cutoff}})
    return int(result.deleted_count)


async def apply_event(engine: AIOEngine, redis: Redis, event: dict[str, Any]) -> str:
    """Apply one Stream event to the chat record."""
    kind = event.get("type")
    if kind not in MESSAGE_EVENTS:
        return "ignored"
    channel_id = channel_of(event)
    message = event.get("message")
    if not channel_id or not isinstance(message, dict) or not isinstance(message.get("id"), str):
        return "ignored"
    session = await sessions_store.find_by_channel(engine, channel_id)
    if session is None:
        return "no_session"
    if session.archived_at is not None:
        # Final sessions' channels are frozen; a late delivery must not split the archive.
        return "archived"
    return await upsert_stream_message(engine, redis, session, message, str(kind), "webhook")


async def upsert_stream_message(
    engine: AIOEngine,
    redis: Redis,
    session: Session,
    message: dict[str, Any],
    kind: str,
    source: Source,
) -> str:
    """Store one Stream message version. Idempotent and order-proof: each message keeps the
    Stream `updated_at` of the version it holds, and older versions are ignored."""
    message_key = str(message["id"])
    created_at = _parse_time(message.get("created_at")) or utcnow()
    version = _parse_time(message.get("updated_at")) or created_at
    deleted_at = _parse_time(message.get("deleted_at"))
    deleting = kind == "message.deleted" or deleted_at is not None
    if deleting:
        version = max(version, deleted_at or version)
    sender = message.get("user") if isinstance(message.get("user"), dict) else None
    stream_user_id = sender.get("id") if sender else None
    async with document_lock(redis, f"chat:{message_key}"):
        existing = await engine.find_one(ChatMessage, ChatMessage.key == message_key)
        if existing and existing.stream_updated_at and version < existing.stream_updated_at:
            return "stale"
        if existing and existing.deleted_at and not deleting:
            return "stale"  # a deleted message is not brought back by a late delivery
        user = None
        if isinstance(stream_user_id, str):
            user = await engine.find_one(User, User.stream_id == stream_user_id)
        record = existing or ChatMessage(
            session_id=session.id, key=message_key, created_at=created_at, source=source
        )
        record.stream_message_id = message_key
        record.stream_user_id = stream_user_id if isinstance(stream_user_id, str) else None
        record.user_id = user.id if user else record.user_id
        record.type = str(message.get("type") or "regular")[:50]
        record.stream_updated_at = version
        record.updated_at = utcnow()
        if deleting:
            record.text = ""
            record.deleted_at = deleted_at or utcnow()
        else:
            record.text = str(message.get("text") or "")[:MAX_TEXT]
        await engine.save(record)
    return "updated" if existing else "created"


# --- archive chunks


def pack(messages: list[ChatMessage]) -> bytes:
    # BSON keeps ObjectIds and datetimes exactly; gzip makes text-heavy chunks small.
    return gzip.compress(bson.encode({"m": [m.model_dump_doc() for m in messages]}), 6)


def chunk_docs(chunk: ChatArchiveChunk) -> list[Document]:
    """The chunk's messages as documents, as the hot collection holds them."""
    docs: list[Document] = bson.decode(gzip.decompress(chunk.data), codec_options=TZ_AWARE)["m"]
    return docs


def unpack(chunk: ChatArchiveChunk) -> list[ChatMessage]:
    return [ChatMessage.model_validate_doc(doc) for doc in chunk_docs(chunk)]


async def erase_in_archive(
    engine: AIOEngine,
    session_ids: list[ObjectId],
    user_id: ObjectId | None,
    scrub: Callable[[str], str],
) -> int:
    """A candidate's erasure in archived chunks: their messages are emptied and lose their
    author, the others' texts are scrubbed; a chunk keeps its messages' ids and times (the
    archive's paging stands on them). Returns how many messages changed."""
    changed = 0
    async for doc in _chunks(engine).find({"sessionId": {"$in": session_ids}}):
        chunk = ChatArchiveChunk.model_validate_doc(doc)
        messages = unpack(chunk)
        touched = 0
        for message in messages:
            if user_id is not None and message.user_id == user_id:
                message.text, message.user_id, message.stream_user_id = REMOVED, None, None
                touched += 1
            else:
                text = scrub(message.text)
                if text != message.text:
                    message.text = text
                    touched += 1
        if touched:
            await _chunks(engine).update_one({"_id": chunk.id}, {"$set": {"data": pack(messages)}})
            changed += touched
    return changed


def _chunks(engine: AIOEngine) -> Any:
    return engine.get_collection(ChatArchiveChunk)


async def last_chunk(engine: AIOEngine, session_id: ObjectId) -> ChatArchiveChunk | None:
    doc = await _chunks(engine).find_one({"sessionId": session_id}, sort=[("seq", -1)])
    return ChatArchiveChunk.model_validate_doc(doc) if doc else None


async def chunks_before(
    engine: AIOEngine, session_id: ObjectId, bound: tuple[datetime, ObjectId] | None
) -> AsyncIterator[ChatArchiveChunk]:
    """Chunks holding messages before `bound` (all when None), newest chunk first."""
    filter_: dict[str, Any] = {"sessionId": session_id}
    if bound:
        filter_["$or"] = [
            {"firstCreatedAt": {"$lt": bound[0]}},
            {"firstCreatedAt": bound[0], "firstId": {"$lt": bound[1]}},
        ]
    async for doc in _chunks(engine).find(filter_).sort([("seq", -1)]):
        yield ChatArchiveChunk.model_validate_doc(doc)


async def chunks_after(
    engine: AIOEngine, session_id: ObjectId, bound: tuple[datetime, ObjectId]
) -> AsyncIterator[ChatArchiveChunk]:
    filter_ = {
        "sessionId": session_id,
        "$or": [
            {"lastCreatedAt": {"$gt": bound[0]}},
            {"lastCreatedAt": bound[0], "lastId": {"$gt": bound[1]}},
        ],
    }
    async for doc in _chunks(engine).find(filter_).sort([("seq", 1)]):
        yield ChatArchiveChunk.model_validate_doc(doc)


async def find_archived(
    engine: AIOEngine, session_id: ObjectId, message_id: ObjectId
) -> Document | None:
    doc = await _chunks(engine).find_one({"sessionId": session_id, "messageIds": message_id})
    if doc is None:
        return None
    for message in chunk_docs(ChatArchiveChunk.model_validate_doc(doc)):
        if message["_id"] == message_id:
            return message
    return None


# Messages asked of Stream per page when catching up with it.
STREAM_PAGE = 100


async def import_from_stream(
    engine: AIOEngine, redis: Redis, stream: StreamGateway, session: Session
) -> int:
    """Store every message Stream holds for the session's channel that we lack."""
    imported = 0
    before: str | None = None
    while True:
        page = await stream.channel_messages(session.stream_channel_id, before, STREAM_PAGE)
        for message in page:
            outcome = await upsert_stream_message(
                engine, redis, session, message, "message.new", source="import"
            )
            imported += outcome == "created"
        if len(page) < STREAM_PAGE:
            return imported
        before = page[0]["id"]  # pages come oldest first: continue before the oldest
