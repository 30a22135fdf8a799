from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from tq.chat.schemas import MessageOut
from tq.collab.history import Signal, SignalKind
from tq.collab.schemas import AuthorOut, CheckpointOut, ClientSignalOut
from tq.core.schemas import NON_BLANK, Body, Query
from tq.evaluation.models import Note, NoteVisibility, Recommendation, Scorecard, ScorecardStatus
from tq.evaluation.results import CodeHistory, RunCode
from tq.runner.models import CodeRunStatus
from tq.runner.schemas import RunOut, Verdict
from tq.scorecard_templates.schemas import RubricOut
from tq.sessions.models import Session, SessionEventRecord
from tq.sessions.schemas import SessionOut, SessionUserOut
from tq.users.models import User, UserCard

NoteBody = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20_000, pattern=NON_BLANK),
    Field(description="Markdown"),
]
Offset = Annotated[int, Field(ge=0, le=7 * 24 * 3600, description="seconds into the session")]
Rating = Annotated[int, Field(ge=1, le=4)]
Summary = Annotated[str, StringConstraints(max_length=10_000)]

# A page position in a session's log: the event's time (ms since the epoch) and its id.
EVENT_CURSOR = r"^-?[0-9]{1,13}_[A-Za-z0-9_-]{1,64}$"
NOTE_CURSOR = r"^[0-9a-f]{24}$"


class NoteIn(Body):
    body: NoteBody
    visibility: NoteVisibility = "private"
    at: Offset | None = None


class NoteUpdateIn(Body):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    body: NoteBody | SkipJsonSchema[None] = None
    visibility: NoteVisibility | SkipJsonSchema[None] = None
    at: Offset | None = None

    @model_validator(mode="after")
    def not_empty(self) -> NoteUpdateIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for required in ("body", "visibility"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        return self


class NotesQuery(Query):
    limit: Annotated[int, Field(ge=1, le=200)] = 100
    after: Annotated[
        Annotated[str, StringConstraints(pattern=NOTE_CURSOR)] | SkipJsonSchema[None],
        Field(description="the nextCursor of the page before"),
    ] = None


class NoteOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    sessionId: str
    authorId: str | None
    author: SessionUserOut | None
    body: str
    visibility: NoteVisibility
    at: int | None
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def for_viewer(
        cls, note: Note, session: Session, users: Mapping[ObjectId, UserCard], viewer: User
    ) -> NoteOut:
        """The note as `viewer` sees it (its author's email only for the host or themself)."""
        return cls.of(note, SessionUserOut.of_member(session, users, viewer, note.author_id))

    @classmethod
    def of(cls, note: Note, author: SessionUserOut | None) -> NoteOut:
        return cls(
            _id=str(note.id),
            sessionId=str(note.session_id),
            authorId=str(note.author_id) if note.author_id else None,
            author=author,
            body=note.body,
            visibility=note.visibility,
            at=note.at,
            createdAt=note.created_at,
            updatedAt=note.updated_at,
        )


class NoteEnvelope(BaseModel):
    note: NoteOut


class NotePage(BaseModel):
    notes: list[NoteOut] = Field(description="the notes the caller may see, oldest first")
    nextCursor: str | None


class ScorecardIn(Body):
    ratings: Annotated[
        dict[str, Rating],
        Field(
            description="criterion → 1..4, for the session's criteria only ({} for none yet; "
            "another name is 400 unknown_criteria)"
        ),
    ]
    recommendation: Recommendation | None = None
    summary: Summary = ""


class ScorecardOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    sessionId: str
    authorId: str | None
    author: SessionUserOut | None
    ratings: dict[str, int]
    recommendation: Recommendation | None
    summary: str
    status: ScorecardStatus
    createdAt: datetime
    updatedAt: datetime
    submittedAt: datetime | None

    @classmethod
    def for_viewer(
        cls, card: Scorecard, session: Session, users: Mapping[ObjectId, UserCard], viewer: User
    ) -> ScorecardOut:
        """The scorecard as `viewer` sees it (its author's email only for the host or themself)."""
        return cls.of(card, SessionUserOut.of_member(session, users, viewer, card.author_id))

    @classmethod
    def of(cls, card: Scorecard, author: SessionUserOut | None) -> ScorecardOut:
        return cls(
            sessionId=str(card.session_id),
            authorId=str(card.author_id) if card.author_id else None,
            author=author,
            ratings=card.ratings,
            recommendation=card.recommendation,
            summary=card.summary,
            status=card.status,
            createdAt=card.created_at,
            updatedAt=card.updated_at,
            submittedAt=card.submitted_at,
        )


class MyScorecardOut(BaseModel):
    scorecard: ScorecardOut | None = Field(description="null until the caller saves a draft")
    criteria: list[str]
    rubric: RubricOut | None = Field(
        default=None,
        description="the scorecard template version the session pinned: what each criterion "
        "and rating means (null: no template)",
    )


class CriterionSummary(BaseModel):
    mean: float | None
    count: int


class RecommendationTally(BaseModel):
    strong_no: int
    no: int
    yes: int
    strong_yes: int


class ScoreSummary(BaseModel):
    submitted: int
    criteria: dict[str, CriterionSummary]
    recommendations: RecommendationTally


class ScorecardList(BaseModel):
    scorecards: list[ScorecardOut] = Field(description="submitted scorecards only")
    summary: ScoreSummary


# What an event may say to every panel member. A scorecard's content never: logs written
# before this rule carried the recommendation, so it is left out on the way out too.
EVENT_DATA_SHOWN: dict[str, frozenset[str]] = {"scorecard.submitted": frozenset({"authorId"})}


def shown_event_data(record: SessionEventRecord) -> dict[str, Any]:
    allowed = EVENT_DATA_SHOWN.get(record.type)
    if allowed is None:
        return record.data
    return {key: value for key, value in record.data.items() if key in allowed}


class EventOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    sessionId: str
    type: str
    actorId: str | None = Field(description="null for jobs, and once the account is deleted")
    at: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, record: SessionEventRecord) -> EventOut:
        return cls(
            _id=record.key,
            sessionId=str(record.session_id),
            type=record.type,
            actorId=str(record.actor_id) if record.actor_id else None,
            at=record.at,
            data=shown_event_data(record),
        )


class EventsQuery(Query):
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    after: Annotated[
        Annotated[str, StringConstraints(pattern=EVENT_CURSOR)] | SkipJsonSchema[None],
        Field(description="the nextCursor of the page before"),
    ] = None


class EventPage(BaseModel):
    events: list[EventOut] = Field(description="oldest first")
    nextCursor: str | None = Field(description="null on the last page")


class BlindScorecards(BaseModel):
    visible: bool = Field(description="false until the caller submitted their own scorecard")
    scorecards: list[ScorecardOut]
    summary: ScoreSummary | None


class RecordOut(BaseModel):
    session: SessionOut
    events: list[EventOut]
    transcript: list[MessageOut] = Field(description="the chat, hot and archived, in order")
    runs: list[RunOut] = Field(description="code runs, oldest first, with their output")
    notes: list[NoteOut] = Field(description="the notes the caller may see")
    scorecards: BlindScorecards
    code: RecordCode


class CodeFrameOut(CheckpointOut):
    """One checkpoint of the playback, with the change from the previous frame's code:
    code = previous[:editStart] + editInserted + previous[editStart + editDeleted:]."""

    editStart: int
    editDeleted: int
    editInserted: str


class RunCodeOut(BaseModel):
    runId: str
    userId: str
    at: datetime = Field(description="when the run was asked for")
    language: str
    status: CodeRunStatus
    verdict: Verdict | None
    position: int | None = Field(
        description="the log position of the document state it ran (GET …/code?position=); "
        "null when the code was sent with the run"
    )
    source: str = Field(description="the code it ran")
    diffToPrevious: str = Field(
        description="a unified diff from the previous run's code (the whole code for the first)"
    )

    @classmethod
    def of(cls, placed: RunCode) -> RunCodeOut:
        return cls(
            runId=str(placed.run.id),
            userId=str(placed.run.user_id),
            at=placed.run.created_at,
            language=placed.run.language,
            status=placed.run.status,
            verdict=placed.run.verdict,  # type: ignore[arg-type]
            position=placed.position,
            source=placed.run.source,
            diffToPrevious=placed.diff,
        )


class CodeSummaryOut(BaseModel):
    updates: int = Field(description="updates in the log")
    checkpoints: int
    startedAt: datetime | None
    endedAt: datetime | None


class RecordCode(BaseModel):
    code: str = Field(description="the final code")
    language: str | None
    position: int
    summary: CodeSummaryOut
    timeline: list[CodeFrameOut] = Field(description="the playback's frames, oldest first")
    timelineTruncated: bool = Field(description="more checkpoints than RECORD_MAX_CODE_FRAMES")
    runs: list[RunCodeOut] = Field(description="oldest first")
    signalsVisible: bool = Field(
        description="false for an interviewer before their own scorecard is in (blind rule)"
    )
    signals: list[CodeSignalOut] = Field(description="empty while not visible")
    clientSignals: list[ClientSignalOut] = Field(description="empty while not visible")

    @classmethod
    def of(cls, code: CodeHistory, users: Mapping[ObjectId, UserCard]) -> RecordCode:
        frames = []
        for checkpoint in code.checkpoints:
            start, deleted, inserted = code.edits.get(checkpoint.last.position, (0, 0, ""))
            frames.append(
                CodeFrameOut(
                    **CheckpointOut.of(checkpoint, users).model_dump(),
                    editStart=start,
                    editDeleted=deleted,
                    editInserted=inserted,
                )
            )
        every = code.checkpoints
        return cls(
            code=code.final.code,
            language=code.final.language,
            position=code.final.position,
            summary=CodeSummaryOut(
                updates=code.updates,
                checkpoints=len(every),
                startedAt=every[0].first.at if every else None,
                endedAt=every[-1].last.at if every else None,
            ),
            timeline=frames,
            timelineTruncated=code.truncated,
            runs=[RunCodeOut.of(placed) for placed in code.runs],
            signalsVisible=code.signals_visible,
            signals=[CodeSignalOut.of(signal, users) for signal in code.signals],
            clientSignals=[ClientSignalOut.of(claim) for claim in code.claims],
        )


class CodeSignalOut(BaseModel):
    kind: SignalKind
    source: Literal["server"] = Field(description="computed by the server from the update log")
    at: datetime
    author: AuthorOut | None
    position: int = Field(description="the update's position in the log: GET …/code?position=")
    inserted: int = Field(description="characters the update inserted")
    deleted: int = Field(description="characters the update deleted")
    previousLength: int = Field(description="the document's length before it")
    length: int = Field(description="the document's length after it")
    preview: str = Field(description="the start of what it inserted (80 characters at most)")
    idleSeconds: float | None = Field(description="idle_then_burst: the pause before it")

    @classmethod
    def of(cls, signal: Signal, users: Mapping[ObjectId, UserCard]) -> CodeSignalOut:
        return cls(
            kind=signal.kind,
            source="server",
            at=signal.step.at,
            author=AuthorOut.of(signal.step.author_id, users),
            position=signal.step.position,
            inserted=signal.step.inserted,
            deleted=signal.step.deleted,
            previousLength=signal.previous_length,
            length=signal.step.length,
            preview=signal.step.preview,
            idleSeconds=signal.idle_s,
        )


class TimelineRunOut(BaseModel):
    runId: str
    userId: str
    at: datetime = Field(description="when the run was asked for")
    status: CodeRunStatus
    position: int | None = Field(
        description="the log position of the state it ran; null when its code came with it "
        "(then placed by time)"
    )

    @classmethod
    def of(cls, placed: RunCode) -> TimelineRunOut:
        return cls(
            runId=str(placed.run.id),
            userId=str(placed.run.user_id),
            at=placed.run.created_at,
            status=placed.run.status,
            position=placed.position,
        )


class TimelinePage(BaseModel):
    checkpoints: list[CheckpointOut] = Field(description="oldest first")
    runs: list[TimelineRunOut] = Field(description="the runs between this page's checkpoints")
    signalsVisible: bool = Field(
        description="false for an interviewer before their own scorecard is in (blind rule)"
    )
    signals: list[CodeSignalOut] = Field(description="the signals of this page's updates")
    clientSignals: list[ClientSignalOut] = Field(description="claims received in its time")
    nextCursor: int | None


class CodeSignals(BaseModel):
    signals: list[CodeSignalOut] = Field(description="oldest first; evidence, never a verdict")
    clientSignals: list[ClientSignalOut] = Field(
        description="what the candidate's editor reported, oldest first: its claims, unchecked"
    )
