from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from tq.chat.models import ChatMessage, Source
from tq.core.schemas import Body, Query, UtcDatetime

ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
MessageText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
]
StreamMessageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{1,255}$")]


class ChannelIn(Body):
    sessionId: ObjectIdStr


class ChatTokenQuery(Query):
    sessionId: ObjectIdStr | SkipJsonSchema[None] = None


class SaveMessageIn(Body):
    sessionId: ObjectIdStr
    text: MessageText
    messageId: StreamMessageId | None = None
    createdAt: UtcDatetime | None = None


# A page position: the createdAt (ms since the epoch, years 1653 to 2286) and the id of the
# message a page ends at.
CURSOR = r"^-?[0-9]{1,13}_[0-9a-f]{24}$"
CURSOR_RE = re.compile(CURSOR)


class HistoryQuery(Query):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    # The pattern is not enforced here: a malformed cursor gets its own message.
    before: Annotated[
        str | SkipJsonSchema[None],
        Field(
            json_schema_extra={"pattern": CURSOR},
            description="nextCursor of the previous page: older messages only",
        ),
    ] = None
    after: Annotated[
        ObjectIdStr | SkipJsonSchema[None],
        Field(description="a message id: newer messages (with before: those in between)"),
    ] = None


class ChannelOut(BaseModel):
    type: str
    id: str
    members: list[str]


class ChannelEnvelope(BaseModel):
    channel: ChannelOut


class MessageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    sessionId: str
    streamMessageId: str | None
    userId: str | None
    streamUserId: str | None
    text: str = Field(description='"" once deleted')
    type: str
    source: Source
    deleted: bool
    createdAt: datetime
    updatedAt: datetime
    deletedAt: datetime | None

    @classmethod
    def of(cls, message: ChatMessage) -> MessageOut:
        return cls(
            _id=str(message.id),
            sessionId=str(message.session_id),
            streamMessageId=message.stream_message_id,
            userId=str(message.user_id) if message.user_id else None,
            streamUserId=message.stream_user_id,
            text="" if message.deleted_at else message.text,
            type=message.type,
            source=message.source,
            deleted=message.deleted_at is not None,
            createdAt=message.created_at,
            updatedAt=message.updated_at,
            deletedAt=message.deleted_at,
        )


class MessageEnvelope(BaseModel):
    message: MessageOut


class HistoryOut(BaseModel):
    messages: list[MessageOut]
    nextCursor: str | None = Field(
        description="pass as `before` for the page before; null "
        "at the beginning of the conversation"
    )


class WebhookAck(BaseModel):
    ok: bool
    duplicate: bool = False
