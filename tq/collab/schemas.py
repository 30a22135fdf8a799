"""What the code history routes take and return."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from tq.collab.history import Checkpoint, CodeState
from tq.collab.models import ClientSignal, ClientSignalKind
from tq.core.schemas import Body, Query, UtcDatetime
from tq.users.models import UserCard


class TimelineQuery(Query):
    limit: Annotated[int, Field(ge=1, le=500)] = 200
    after: Annotated[
        Annotated[int, Field(ge=0)] | SkipJsonSchema[None],
        Field(description="the nextCursor of the page before (a position)"),
    ] = None


class CodeQuery(Query):
    at: Annotated[
        UtcDatetime | SkipJsonSchema[None],
        Field(description="the document as it was at this time (every update stored by then)"),
    ] = None
    position: Annotated[
        Annotated[int, Field(ge=0)] | SkipJsonSchema[None],
        Field(
            description="the document after this many updates of the log (with `at` too: "
            "whichever comes first)"
        ),
    ] = None


Moment = Annotated[
    Annotated[int, Field(ge=0)] | UtcDatetime,
    Field(description="a position in the log (a whole number) or an ISO-8601 time"),
]


class DiffQuery(Query):
    model_config = ConfigDict(populate_by_name=True)

    from_: Moment = Field(alias="from")
    to: Moment


class AuthorOut(BaseModel):
    id: str
    name: str | None = Field(description="null once the account is deleted")

    @classmethod
    def of(cls, author_id: ObjectId | None, users: Mapping[ObjectId, UserCard]) -> AuthorOut | None:
        """None for the server's own updates; a deleted account keeps its id, without a name."""
        if author_id is None:
            return None
        card = users.get(author_id)
        return cls(id=str(author_id), name=card.name if card else None)


class CheckpointOut(BaseModel):
    position: int = Field(description="the log position of its last update: GET …/code?position=")
    updateId: str
    startedAt: datetime
    at: datetime = Field(description="the time of its last update")
    author: AuthorOut | None = Field(description="null for the server's own updates")
    inserted: int = Field(description="characters inserted")
    deleted: int = Field(description="characters deleted")
    length: int = Field(description="the document's length after it, in characters")
    updates: int = Field(description="how many updates it groups")

    @classmethod
    def of(cls, checkpoint: Checkpoint, users: Mapping[ObjectId, UserCard]) -> CheckpointOut:
        return cls(
            position=checkpoint.last.position,
            updateId=str(checkpoint.last.update_id),
            startedAt=checkpoint.first.at,
            at=checkpoint.last.at,
            author=AuthorOut.of(checkpoint.first.author_id, users),
            inserted=checkpoint.inserted,
            deleted=checkpoint.deleted,
            length=checkpoint.last.length,
            updates=checkpoint.updates,
        )


class CodeOut(BaseModel):
    code: str
    language: str | None
    at: datetime | None = Field(description="the time of the last update it holds")
    position: int = Field(description="how many updates of the log it holds")
    updateId: str | None

    @classmethod
    def of(cls, state: CodeState) -> CodeOut:
        return cls(
            code=state.code,
            language=state.language,
            at=state.at,
            position=state.position,
            updateId=str(state.update_id) if state.update_id else None,
        )


class DiffOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    diff: str = Field(description="a unified diff, empty when nothing changed")
    from_: CodeOut = Field(alias="from")
    to: CodeOut


class ExportedUpdate(BaseModel):
    position: int
    id: str
    at: datetime
    authorId: str | None
    update: str = Field(description="the Yjs v1 update, base64")


class ExportOut(BaseModel):
    sessionId: str
    format: str = Field(description='"yjs-update-v1-base64"')
    updates: list[ExportedUpdate] = Field(description="in log order: apply them one by one")


class ClientSignalIn(Body):
    kind: ClientSignalKind = Field(
        description="what the editor saw: a paste, the page hidden or back"
    )
    length: Annotated[
        Annotated[int, Field(ge=0, le=10_000_000)] | SkipJsonSchema[None],
        Field(description="a paste's length in characters"),
    ] = None


class ClientSignalOut(BaseModel):
    id: str
    kind: ClientSignalKind
    source: Literal["client"] = Field(description="a claim of the candidate's client, unchecked")
    at: datetime = Field(description="when the server received it")
    authorId: str | None
    length: int | None

    @classmethod
    def of(cls, signal: ClientSignal) -> ClientSignalOut:
        return cls(
            id=str(signal.id),
            kind=signal.kind,
            source="client",
            at=signal.at,
            authorId=str(signal.author_id) if signal.author_id else None,
            length=signal.length,
        )


class ClientSignalEnvelope(BaseModel):
    signal: ClientSignalOut
