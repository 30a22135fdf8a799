from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from odmantic import Field, Index, Model

from tq.core.time import utcnow

Source = Literal["api", "webhook", "import"]


class ChatMessage(Model):
    """One message of a session's conversation, kept after the session ends.

    `key` is Stream's message id when there is one, else `tq-<our id>`: always present, so one
    plain unique index de-duplicates (a unique index over an optional field would clash on
    nulls, and partial indexes are not served by every MongoDB-wire backend)."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    session_id: ObjectId = Field(key_name="sessionId")
    key: str = Field(unique=True)
    stream_message_id: str | None = Field(default=None, key_name="streamMessageId")
    user_id: ObjectId | None = Field(default=None, key_name="userId")
    stream_user_id: str | None = Field(default=None, key_name="streamUserId")
    text: str = ""
    type: str = "regular"
    source: Source = "api"
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")
    deleted_at: datetime | None = Field(default=None, key_name="deletedAt")
    # Stream's own updated_at of the version we hold: older deliveries never overwrite newer.
    stream_updated_at: datetime | None = Field(default=None, key_name="streamUpdatedAt")

    model_config = {
        "collection": "chat_messages",
        "indexes": lambda: [
            Index(
                ChatMessage.session_id, ChatMessage.created_at, ChatMessage.id, name="session_time"
            ),
        ],
    }


class StreamEvent(Model):
    """An event Stream pushed to us (Stream names the push a webhook: `POST /api/webhooks/stream`),
    stored before it is acknowledged. Our own outbound webhooks are tq.integrations'."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    key: str = Field(unique=True)  # X-Webhook-Id, or a digest of the body without one
    type: str
    payload: dict[str, Any]
    # The channel it is about (None: not about one), kept beside the payload so a channel's
    # events are found by an index (a candidate's erasure).
    channel_id: str | None = Field(default=None, key_name="channelId")
    received_at: datetime = Field(default_factory=utcnow, key_name="receivedAt")
    processed_at: datetime | None = Field(default=None, key_name="processedAt")
    attempts: int = 0
    error: str | None = None

    model_config = {
        "collection": "webhook_events",  # named before the split of words; stored, so kept
        # the retention purge: applied deliveries by age
        "indexes": lambda: [
            Index(StreamEvent.processed_at, name="processed"),
            Index(StreamEvent.channel_id, name="channel"),
        ],
    }


class ChatArchiveChunk(Model):
    """Up to CHAT_ARCHIVE_CHUNK_SIZE messages of one session, in (createdAt, _id) order, as
    gzip-compressed BSON. `seq` is unique per session, so a re-run cannot write a chunk twice."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    session_id: ObjectId = Field(key_name="sessionId")
    seq: int
    count: int
    first_created_at: datetime = Field(key_name="firstCreatedAt")
    first_id: ObjectId = Field(key_name="firstId")
    last_created_at: datetime = Field(key_name="lastCreatedAt")
    last_id: ObjectId = Field(key_name="lastId")
    message_ids: list[ObjectId] = Field(key_name="messageIds")
    data: bytes

    model_config = {
        "collection": "chat_archive",
        "indexes": lambda: [
            Index(
                ChatArchiveChunk.session_id, ChatArchiveChunk.seq, unique=True, name="session_seq"
            ),
            Index(
                ChatArchiveChunk.session_id,
                ChatArchiveChunk.message_ids,
                name="session_message_ids",
            ),
        ],
    }
