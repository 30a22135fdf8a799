from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

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
        return cls.of_doc(message.model_dump_doc())

    @classmethod
    def of_doc(cls, doc: Mapping[str, Any]) -> MessageOut:
        """A stored message as the API shows it, from its document: history pages and the
        record read documents, not a model per message. Built from values the server stored
        and typed, so nothing is validated again; a missing field takes the model's default.
        tests/unit/chat/test_schemas.py holds the JSON equal to a validated MessageOut."""
        user_id = doc.get("userId")
        deleted_at = doc.get("deletedAt")
        return cls.model_construct(
            id=str(doc["_id"]),
            sessionId=str(doc["sessionId"]),
            streamMessageId=doc.get("streamMessageId"),
            userId=str(user_id) if user_id else None,
            streamUserId=doc.get("streamUserId"),
            text="" if deleted_at else doc.get("text", ""),
            type=doc.get("type", "regular"),
            source=doc.get("source", "api"),
            deleted=deleted_at is not None,
            createdAt=doc["createdAt"],
            updatedAt=doc["updatedAt"],
            deletedAt=deleted_at,
        )


# What MessageOut shows of a message's document (with `_id`): history pages read only these.
SHOWN_MESSAGE_FIELDS = {
    name: 1
    for name in [
        "sessionId",
        "streamMessageId",
        "userId",
        "streamUserId",
        "text",
        "type",
        "source",
        "createdAt",
        "updatedAt",
        "deletedAt",
    ]
}


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
