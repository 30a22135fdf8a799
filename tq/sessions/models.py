from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from bson import ObjectId
from odmantic import Field, Index, Model
from odmantic.query import desc

from tq.core.time import utcnow

Status = Literal["scheduled", "active", "completed", "cancelled"]
Difficulty = Literal["easy", "medium", "hard"]
SyncState = Literal["ok", "pending"]
Language = Literal[
    "javascript",
    "typescript",
    "python",
    "java",
    "cpp",
    "c",
    "csharp",
    "go",
    "rust",
    "ruby",
    "kotlin",
    "swift",
    "php",
    "sql",
]
LANGUAGES: tuple[str, ...] = get_args(Language)
OPEN_STATUSES: tuple[Status, ...] = ("scheduled", "active")
FINAL_STATUSES: tuple[Status, ...] = ("completed", "cancelled")


class Session(Model):
    """An interview session. `members` (host + participants) and `seatsLeft` are kept in the same
    atomic updates as `participants`: one index serves "my sessions", and a join is a single
    conditional update on `seatsLeft > 0` (FerretDB has no $expr to compare two fields)."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    title: str
    description: str | None = None
    problem_id: str | None = Field(default=None, key_name="problemId")
    problem: str | None = None
    difficulty: Difficulty | None = None
    language: Language = "javascript"
    created_by: ObjectId = Field(key_name="createdBy")
    participants: list[ObjectId] = Field(default_factory=list)
    members: list[ObjectId] = Field(default_factory=list)
    max_participants: int = Field(default=1, key_name="maxParticipants")
    seats_left: int = Field(default=1, key_name="seatsLeft")
    status: Status
    stream_channel_id: str = Field(key_name="streamChannelId", unique=True)
    stream_sync: SyncState = Field(default="pending", key_name="streamSync")
    start_time: datetime = Field(key_name="startTime")
    end_time: datetime | None = Field(default=None, key_name="endTime")
    duration: int | None = None
    # Set once the chat history has moved to the compressed archive.
    archived_at: datetime | None = Field(default=None, key_name="archivedAt")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {
        "collection": "sessions",
        # Every query on sessions is catalogued in tq/query_catalogue.py against these, in
        # equality-sort-range order with the _id tie-break of the pages' sort. (Names changed
        # with their keys: MongoDB refuses a known name with other keys. The earlier
        # members_status_created, members_created, status_created, status_end can be dropped.)
        "indexes": lambda: [
            # my sessions, my-recent, shared with another user: by creation or by start
            Index(
                Session.members,
                Session.status,
                desc(Session.created_at),
                desc(Session.id),
                name="members_status_created_id",
            ),
            Index(
                Session.members,
                desc(Session.created_at),
                desc(Session.id),
                name="members_created_id",
            ),
            Index(Session.members, Session.start_time, Session.id, name="members_start_id"),
            Index(
                Session.members,
                Session.status,
                Session.start_time,
                Session.id,
                name="members_status_start_id",
            ),
            # lobby (/active) and scope=open, by creation or by start; the expiry job
            Index(
                Session.status, desc(Session.created_at), desc(Session.id), name="status_created_id"
            ),
            Index(Session.status, Session.start_time, Session.id, name="status_start_id"),
            # a leaving account's hosted sessions
            Index(Session.created_by, Session.status, name="host_status"),
            # the chat archive: final sessions not archived yet, oldest ending first
            Index(
                Session.status,
                Session.archived_at,
                Session.end_time,
                Session.id,
                name="status_archived_end_id",
            ),
            Index(Session.stream_sync, Session.updated_at, name="stream_sync"),
        ],
    }


def channel_id_for(session_id: ObjectId) -> str:
    return f"session-{session_id}"
