"""The chat record: channels on demand, saved messages, history pages, and Stream webhooks that
neither lose nor duplicate anything."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from odmantic.exceptions import DuplicateKeyError
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tq.chat import archive
from tq.chat.models import ChatMessage, Source, WebhookEvent
from tq.chat.schemas import HistoryQuery, SaveMessageIn
from tq.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unauthorized
from tq.core.locks import document_lock
from tq.core.stream import StreamError, StreamGateway, StreamNotConfigured
from tq.core.time import utcnow
from tq.jobs.queue import JobQueue
from tq.sessions.models import FINAL_STATUSES, Session
from tq.sessions.service import SYNC_JOB, is_member, load_session
from tq.sessions.tasks import sync_session_channel
from tq.users.models import User
from tq.users.service import get_users

log = logging.getLogger("tq.chat")
MESSAGE_EVENTS = {"message.new", "message.updated", "message.deleted"}
WEBHOOK_SEEN_TTL_S = 7 * 24 * 3600  # longer than Stream keeps retrying a delivery
MAX_TEXT = 5000


@dataclass
class ChatContext:
    engine: AIOEngine
    redis: Redis
    stream: StreamGateway
    queue: JobQueue


async def member_session(engine: AIOEngine, session_id: str, user: User) -> Session:
    """The session if `user` is a member; 404 otherwise (ids cannot be probed)."""
    session = await load_session(engine, session_id)
    if not is_member(session, user):
        raise NotFound("Session not found", code="session_not_found")
    return session


# --- channel


async def ensure_channel(ctx: ChatContext, session: Session) -> list[str]:
    """Run the session's channel sync now; 503 (with the repair queued) if Stream is away."""
    if not ctx.stream.configured:
        raise StreamNotConfigured()
    try:
        await sync_session_channel(ctx.engine, ctx.redis, ctx.stream, str(session.id))
    except StreamError:
        await ctx.queue.enqueue(SYNC_JOB, str(session.id))
        raise ServiceUnavailable(
            "Stream is unreachable; the channel will be repaired shortly",
            code="stream_unavailable",
        ) from None
    users = await get_users(ctx.engine, session.members)
    return [users[uid].stream_id for uid in session.members if uid in users]


# --- messages


async def save_message(
    ctx: ChatContext, user: User, data: SaveMessageIn
) -> tuple[ChatMessage, bool]:
    """(message, created). A Stream message id already stored returns the stored message."""
    session = await member_session(ctx.engine, data.sessionId, user)
    if data.messageId:
        existing = await ctx.engine.find_one(ChatMessage, ChatMessage.key == data.messageId)
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
        await ctx.engine.save(message)
    except DuplicateKeyError:
        # The same Stream message arrived at the same time (another save or a webhook).
        stored = await ctx.engine.find_one(ChatMessage, ChatMessage.key == message.key)
        if stored is None:
            raise
        return stored, False
    return message, True


def encode_cursor(message: ChatMessage) -> str:
    raw = f"{int(message.created_at.timestamp() * 1000)}:{message.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        millis, oid = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        return datetime.fromtimestamp(int(millis) / 1000, UTC), ObjectId(oid)
    except (ValueError, binascii.Error, UnicodeDecodeError, TypeError):
        raise BadRequest("Malformed cursor", code="validation_error") from None


def _position_filter(moment: datetime, oid: ObjectId, op: str) -> dict[str, Any]:
    """Strictly before (op=$lt) or after ($gt) a (createdAt, _id) position."""
    return {"$or": [{"createdAt": {op: moment}}, {"createdAt": moment, "_id": {op: oid}}]}


def _position(message: ChatMessage) -> tuple[datetime, ObjectId]:
    return (message.created_at, message.id)


async def history(
    engine: AIOEngine, session: Session, query: HistoryQuery
) -> tuple[list[ChatMessage], str | None]:
    """A page of one session's messages, oldest first within the page, hot and archived alike.

    No cursor: the newest `limit`. `before`: the page before a cursor. `after`: messages newer
    than a message id, for catching up (nextCursor is then null). Archived messages are older
    than every hot one (archiving runs oldest first), so a page reads hot messages first and
    continues into the archive chunks; copies in both (a run killed between writing a chunk and
    deleting its hot copies) are counted once."""
    if query.before and query.after:
        raise BadRequest("Use either before or after, not both", code="validation_error")
    if query.after:
        return await _history_after(engine, session, ObjectId(query.after), query.limit), None
    bound = decode_cursor(query.before) if query.before else None
    filter_: dict[str, Any] = {"sessionId": session.id}
    if bound:
        filter_.update(_position_filter(bound[0], bound[1], "$lt"))
    cursor = (
        engine.get_collection(ChatMessage)
        .find(filter_)
        .sort([("createdAt", -1), ("_id", -1)])
        .limit(query.limit + 1)
    )
    newest_first = [ChatMessage.model_validate_doc(doc) async for doc in cursor]
    if len(newest_first) <= query.limit:
        oldest_hot = _position(newest_first[-1]) if newest_first else bound
        seen = {m.id for m in newest_first}
        async for chunk in archive.chunks_before(engine, session.id, oldest_hot):
            older = [
                m
                for m in reversed(archive.unpack(chunk))
                if (oldest_hot is None or _position(m) < oldest_hot) and m.id not in seen
            ]
            newest_first += older
            seen.update(m.id for m in older)
            if len(newest_first) > query.limit:
                break
    has_more = len(newest_first) > query.limit
    page = list(reversed(newest_first[: query.limit]))
    return page, encode_cursor(page[0]) if has_more and page else None


async def _history_after(
    engine: AIOEngine, session: Session, anchor_id: ObjectId, limit: int
) -> list[ChatMessage]:
    anchor = await engine.find_one(
        ChatMessage, ChatMessage.id == anchor_id, ChatMessage.session_id == session.id
    ) or await archive.find_archived(engine, session.id, anchor_id)
    if anchor is None:
        raise BadRequest("No such message in this session", code="validation_error")
    bound = _position(anchor)
    newer: list[ChatMessage] = []
    async for chunk in archive.chunks_after(engine, session.id, bound):
        newer += [m for m in archive.unpack(chunk) if _position(m) > bound]
        if len(newer) >= limit:
            return newer[:limit]
    seen = {m.id for m in newer}
    filter_ = {"sessionId": session.id, **_position_filter(bound[0], bound[1], "$gt")}
    cursor = (
        engine.get_collection(ChatMessage)
        .find(filter_)
        .sort([("createdAt", 1), ("_id", 1)])
        .limit(limit + len(newer))
    )
    async for doc in cursor:
        message = ChatMessage.model_validate_doc(doc)
        if message.id not in seen:
            newer.append(message)
    return newer[:limit]


async def purge_webhook_events(engine: AIOEngine, retention_days: int) -> int:
    """Applied webhook deliveries older than the retention are no longer needed."""
    cutoff = utcnow() - timedelta(days=retention_days)
    result = await engine.get_collection(WebhookEvent).delete_many({"processedAt": {"$lt": cutoff}})
    return int(result.deleted_count)


async def delete_session_chat(engine: AIOEngine, session_id: ObjectId) -> None:
    await engine.get_collection(ChatMessage).delete_many({"sessionId": session_id})


# --- webhooks


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _channel_id(event: dict[str, Any]) -> str | None:
    channel_id = event.get("channel_id")
    if isinstance(channel_id, str):
        return channel_id
    cid = event.get("cid")
    if isinstance(cid, str) and ":" in cid:
        return cid.split(":", 1)[1]
    return None


async def receive_webhook(
    ctx: ChatContext,
    body: bytes,
    signature: str | None,
    api_key: str | None,
    webhook_id: str | None,
) -> bool:
    """Verify, store durably, apply. Returns True for a delivery seen before.

    The stored event is the commit point: only once it is in MongoDB is the delivery
    acknowledged (a database failure propagates as 503 and Stream retries)."""
    if not ctx.stream.configured:
        raise StreamNotConfigured()
    if not ctx.stream.verify_webhook(body, signature, api_key):
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
        if await ctx.redis.exists(seen_key):
            return True
    except RedisError:
        pass  # the unique index on the stored event still de-duplicates
    stored = WebhookEvent(key=key, type=event["type"], payload=event)
    try:
        await ctx.engine.save(stored)
    except DuplicateKeyError:
        return True
    with contextlib.suppress(RedisError):
        await ctx.redis.set(seen_key, "1", ex=WEBHOOK_SEEN_TTL_S)
    try:
        await process_event(ctx.engine, ctx.redis, stored)
    except (PyMongoError, RedisError, ServiceUnavailable) as exc:
        # Stored but not applied: a job applies it (idempotently) when things recover.
        log.warning("webhook %s stored, applying later (%s)", event["type"], type(exc).__name__)
        await ctx.queue.enqueue("process_webhook_event", key)
    return False


async def process_event(engine: AIOEngine, redis: Redis, stored: WebhookEvent) -> str:
    outcome = await apply_event(engine, redis, stored.payload)
    stored.processed_at = utcnow()
    stored.attempts += 1
    stored.error = None
    await engine.save(stored)
    return outcome


async def process_stored_event(engine: AIOEngine, redis: Redis, key: str) -> str:
    stored = await engine.find_one(WebhookEvent, WebhookEvent.key == key)
    if stored is None:
        return "missing"
    if stored.processed_at is not None:
        return "already_processed"
    return await process_event(engine, redis, stored)


async def apply_event(engine: AIOEngine, redis: Redis, event: dict[str, Any]) -> str:
    """Apply one Stream event to the chat record."""
    kind = event.get("type")
    if kind not in MESSAGE_EVENTS:
        return "ignored"
    channel_id = _channel_id(event)
    message = event.get("message")
    if not channel_id or not isinstance(message, dict) or not isinstance(message.get("id"), str):
        return "ignored"
    session = await engine.find_one(Session, Session.stream_channel_id == channel_id)
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
