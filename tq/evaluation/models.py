from __future__ import annotations

from datetime import datetime
from typing import Literal

from bson import ObjectId
from odmantic import Field, Index, Model

from tq.core.time import utcnow
from tq.sessions.models import SessionEvent

NoteVisibility = Literal["private", "panel"]
Recommendation = Literal["strong_no", "no", "yes", "strong_yes"]
RECOMMENDATIONS: tuple[Recommendation, ...] = ("strong_no", "no", "yes", "strong_yes")
ScorecardStatus = Literal["draft", "submitted"]


class Note(Model):
    """An interviewer's note on a session: `private` (its author only) or `panel` (the host and
    the interviewers). Candidates never see notes. The `note.created` event rides in the note
    document itself (`outboxEvents`) until it is moved to the session's log."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    session_id: ObjectId = Field(key_name="sessionId")
    author_id: ObjectId | None = Field(key_name="authorId")  # None once the account is gone
    body: str
    visibility: NoteVisibility
    at: int | None = None  # seconds into the session
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")
    outbox_events: list[SessionEvent] = Field(default=[], key_name="outboxEvents")
    events_pending: bool = Field(default=False, key_name="eventsPending")

    model_config = {
        "collection": "session_notes",
        "indexes": lambda: [
            # a session's notes, oldest first (the visibility filter narrows that range)
            Index(Note.session_id, Note.created_at, Note.id, name="session_created_id"),
            Index(Note.author_id, name="author"),
            Index(Note.events_pending, name="events_pending"),
        ],
    }


class Scorecard(Model):
    """One interviewer's scorecard of a session (`_id` = "<session>:<author>": one each). A
    draft until submitted; then immutable."""

    key: str = Field(primary_field=True)
    session_id: ObjectId = Field(key_name="sessionId")
    author_id: ObjectId | None = Field(key_name="authorId")
    ratings: dict[str, int] = Field(default={})
    recommendation: Recommendation | None = None
    summary: str = ""
    status: ScorecardStatus = "draft"
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")
    submitted_at: datetime | None = Field(default=None, key_name="submittedAt")
    outbox_events: list[SessionEvent] = Field(default=[], key_name="outboxEvents")
    events_pending: bool = Field(default=False, key_name="eventsPending")

    model_config = {
        "collection": "scorecards",
        "indexes": lambda: [
            # a session's submitted scorecards, in submission order
            Index(
                Scorecard.session_id,
                Scorecard.status,
                Scorecard.submitted_at,
                name="session_status_submitted",
            ),
            Index(Scorecard.author_id, name="author"),
            Index(Scorecard.events_pending, name="events_pending"),
        ],
    }


def scorecard_key(session_id: ObjectId, author_id: ObjectId) -> str:
    return f"{session_id}:{author_id}"
