from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple

from bson import ObjectId
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from tq.core.schemas import (
    NON_BLANK,
    PLAIN_LINE_CHECK,
    Body,
    Criteria,
    Query,
    UtcDatetime,
    plain_line_schema,
)
from tq.scorecard_templates.schemas import TemplateRef
from tq.sessions.models import (
    Language,
    Session,
    SessionDifficulty,
    SessionRole,
    Status,
    SyncState,
    Visibility,
)
from tq.users.models import User, UserCard
from tq.users.schemas import PublicUserOut

# One visible line: a title goes into email subjects and calendar lines.
Title = Annotated[
    str,
    PLAIN_LINE_CHECK,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    plain_line_schema(200),
]
Description = Annotated[str, StringConstraints(max_length=5000)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100)]
# A problem of the organization's bank or the public library; `@n` pins version n.
ProblemRef = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:@[1-9][0-9]{0,8})?$", max_length=110),
]
ProblemTitle = Title
Duration = Annotated[int, Field(ge=5, le=480, description="minutes")]
Seats = Annotated[int, Field(ge=1, le=10, description="seats besides the host")]


class CreateSessionIn(Body):
    """Either the README's `{title, ...}` or the frontend's `{problem, difficulty}`."""

    model_config = ConfigDict(
        json_schema_extra={
            # Exactly one shape matches any accepted body: a title (the README's), or a problem
            # and no title (the frontend's; the session is named after the problem).
            "oneOf": [
                {"required": ["title"], "properties": {"title": {"type": "string"}}},
                {
                    "required": ["problem"],
                    "properties": {"problem": {"type": "string"}},
                    "not": {"required": ["title"], "properties": {"title": {"type": "string"}}},
                },
            ]
        }
    )

    title: Title | None = None
    description: Description | None = None
    problemId: ProblemRef | None = Field(
        default=None,
        description="a problem of the organization's bank (pinned at its current version, or "
        "`slug@n`), else of the public library",
    )
    scorecardTemplate: TemplateRef | None = Field(
        default=None,
        description="a scorecard template of the organization (its current version, or "
        "`slug@n`); default: the organization's default template, else its default criteria",
    )
    problem: ProblemTitle | None = None
    difficulty: SessionDifficulty | None = None
    language: Language = "javascript"
    startTime: UtcDatetime | None = None
    duration: Duration | None = None
    maxParticipants: Seats = 1
    visibility: Visibility = Field(
        default="open",
        description="open: listed and joinable first-come; invite_only: members and invitees only",
    )

    @model_validator(mode="after")
    def needs_title_or_problem(self) -> CreateSessionIn:
        if self.title is None and self.problem is None:
            raise ValueError("give a title, or a problem to name the session after")
        return self


class UpdateSessionIn(Body):
    """Only the fields sent change. `null` clears the optional ones; the others cannot be null
    (`SkipJsonSchema[None]`: absent is allowed, null is not, and the spec says so)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    title: Title | SkipJsonSchema[None] = None
    description: Description | None = None
    problemId: ProblemRef | None = None
    problem: ProblemTitle | None = None
    difficulty: SessionDifficulty | None = None
    language: Language | SkipJsonSchema[None] = None
    startTime: UtcDatetime | SkipJsonSchema[None] = Field(
        default=None, description="a time already past means now"
    )
    duration: Duration | None = None
    maxParticipants: Seats | SkipJsonSchema[None] = None
    status: Status | SkipJsonSchema[None] = None
    visibility: Visibility | SkipJsonSchema[None] = None
    criteria: Criteria | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def not_empty(self) -> UpdateSessionIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for required in (
            "title",
            "language",
            "maxParticipants",
            "status",
            "startTime",
            "visibility",
            "criteria",
        ):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        if self.criteria is not None and len(set(self.criteria)) != len(self.criteria):
            raise ValueError("criteria must be unique")
        return self


def _comma_list(value: object) -> object:
    """`status=a,b` (the frontend's) and `status=a&status=b` (the spec's array) alike."""
    parts = value if isinstance(value, list) else [value] if isinstance(value, str) else None
    if parts is None:
        return value
    return [
        p.strip() for part in parts if isinstance(part, str) for p in part.split(",") if p.strip()
    ]


class ListSessionsQuery(Query):
    scope: Literal["mine", "open"] = "mine"
    status: Annotated[
        list[Status] | SkipJsonSchema[None],
        BeforeValidator(_comma_list),
        Field(description="statuses: repeated, or comma-separated"),
    ] = None
    difficulty: SessionDifficulty | SkipJsonSchema[None] = None
    language: Language | SkipJsonSchema[None] = None
    q: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=1, max_length=100, pattern=NON_BLANK
            ),
        ]
        | SkipJsonSchema[None]
    ) = None
    from_: Annotated[UtcDatetime | SkipJsonSchema[None], Field(alias="from")] = None
    to: UtcDatetime | SkipJsonSchema[None] = None
    sort: Literal["-createdAt", "createdAt", "startTime", "-startTime"] = "-createdAt"
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class LimitQuery(Query):
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class SessionUserOut(PublicUserOut):
    email: Annotated[str | None, Field(description="only for the user themself or the host")] = None
    sessionRole: SessionRole = Field(description="this person's role in this session")

    @classmethod
    def of_member(
        cls,
        session: Session,
        users: Mapping[ObjectId, UserCard],
        viewer: User,
        user_id: ObjectId | None,
    ) -> SessionUserOut | None:
        """One person of the session as the session JSON shows them (notes' and scorecards'
        authors); None for a deleted account's entries."""
        if user_id is None:
            return None
        role = session_role(session, user_id) or "interviewer"  # a former panel member
        show_email = viewer.id == session.created_by or user_id == viewer.id
        return _person(users.get(user_id), user_id, show_email, role)


class SessionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    title: str
    description: str | None
    problemId: str | None
    problem: str | None
    difficulty: SessionDifficulty | Literal[""] = Field(
        description='"" when not set: the frontend calls .toLowerCase() on it'
    )
    language: Language
    createdBy: str
    participants: list[str] = Field(
        description="user ids of the members besides the host: interviewers, then candidates"
    )
    participantsInfo: list[SessionUserOut] = Field(
        description="participants, populated, each with its sessionRole"
    )
    maxParticipants: int = Field(description="candidate seats (interviewers take none)")
    seatsLeft: int
    status: Status
    visibility: Visibility
    opensAt: datetime = Field(
        description="when the room opens (JOIN_WINDOW_MINUTES before startTime); before it the "
        "Stream ids are null and joining, starting and chat answer 409 too_early"
    )
    streamChannelId: str | None = Field(
        description="null unless the viewer is a member and the room is open"
    )
    callId: str | None = Field(
        description="Stream call id = chat channel id; members only, once the room is open"
    )
    streamSync: SyncState
    startTime: datetime
    endTime: datetime | None
    duration: int | None
    createdAt: datetime
    updatedAt: datetime
    host: SessionUserOut
    participant: SessionUserOut | None = Field(description="first candidate, or null")

    @classmethod
    def of(
        cls,
        session: Session,
        users: Mapping[ObjectId, UserCard],
        viewer: User,
        *,
        join_window_minutes: int,
        now: datetime,
    ) -> SessionOut:
        """The JSON of a session for `viewer`: members see the Stream ids once the room is open;
        emails only for the viewer themself or when the viewer is the host."""
        return cls._shown(
            _SessionFacts(
                session.id,
                session.title,
                session.description,
                session.problem_id,
                session.problem,
                session.difficulty,
                session.language,
                session.created_by,
                session.participants,
                session.interviewers,
                session.members,
                session.max_participants,
                session.seats_left,
                session.status,
                session.visibility,
                session.stream_channel_id,
                session.stream_sync,
                session.start_time,
                session.end_time,
                session.duration,
                session.created_at,
                session.updated_at,
            ),
            users,
            viewer,
            join_window_minutes,
            now,
        )

    @classmethod
    def of_doc(
        cls,
        doc: Mapping[str, Any],
        users: Mapping[ObjectId, UserCard],
        viewer: User,
        *,
        join_window_minutes: int,
        now: datetime,
    ) -> SessionOut:
        """`of` for a stored document (SHOWN_FIELDS of it), without building the ODMantic model
        first: the lists' way (bench-compare: the web process's CPU per list request fell 20-27 %).
        A missing field takes the model's default; tests/unit/sessions/test_schemas.py holds the
        two equal on generated documents."""
        return cls._shown(
            _SessionFacts(
                doc["_id"],
                doc["title"],
                doc.get("description"),
                doc.get("problemId"),
                doc.get("problem"),
                doc.get("difficulty"),
                doc.get("language", "javascript"),
                doc["createdBy"],
                doc.get("participants", []),
                doc.get("interviewers", []),
                doc.get("members", []),
                doc.get("maxParticipants", 1),
                doc.get("seatsLeft", 1),
                doc["status"],
                doc.get("visibility", "open"),
                doc["streamChannelId"],
                doc.get("streamSync", "pending"),
                doc["startTime"],
                doc.get("endTime"),
                doc.get("duration"),
                # Always stored (default factories); a document without them is "now".
                doc.get("createdAt") or now,
                doc.get("updatedAt") or now,
            ),
            users,
            viewer,
            join_window_minutes,
            now,
        )

    @classmethod
    def _shown(
        cls,
        session: _SessionFacts,
        users: Mapping[ObjectId, UserCard],
        viewer: User,
        join_window_minutes: int,
        now: datetime,
    ) -> SessionOut:
        member = viewer.id in session.members
        viewer_is_host = viewer.id == session.created_by
        opening = session.start_time - timedelta(minutes=join_window_minutes)
        room_open = member and (session.status != "scheduled" or now >= opening)

        def person(user_id: ObjectId, role: SessionRole) -> SessionUserOut:
            show_email = member and (viewer_is_host or user_id == viewer.id)
            return _person(users.get(user_id), user_id, show_email, role)

        candidates = [person(uid, "candidate") for uid in session.participants]
        panel = [person(uid, "interviewer") for uid in session.interviewers]
        # Built from values the server itself stored and typed: no validation to repeat.
        return cls.model_construct(
            id=str(session.id),
            title=session.title,
            description=session.description,
            problemId=session.problem_id,
            problem=session.problem,
            difficulty=session.difficulty or "",
            language=session.language,
            createdBy=str(session.created_by),
            participants=[str(uid) for uid in [*session.interviewers, *session.participants]],
            participantsInfo=panel + candidates,
            maxParticipants=session.max_participants,
            seatsLeft=session.seats_left,
            status=session.status,
            visibility=session.visibility,
            opensAt=opening,
            streamChannelId=session.stream_channel_id if room_open else None,
            callId=session.stream_channel_id if room_open else None,
            streamSync=session.stream_sync,
            startTime=session.start_time,
            endTime=session.end_time,
            duration=session.duration,
            createdAt=session.created_at,
            updatedAt=session.updated_at,
            host=person(session.created_by, "host"),
            participant=candidates[0] if candidates else None,
        )


class _SessionFacts(NamedTuple):
    """What a session's JSON is made of, from the model or straight from its document."""

    id: ObjectId
    title: str
    description: str | None
    problem_id: str | None
    problem: str | None
    difficulty: str | None
    language: str
    created_by: ObjectId
    participants: list[ObjectId]
    interviewers: list[ObjectId]
    members: list[ObjectId]
    max_participants: int
    seats_left: int
    status: str
    visibility: str
    stream_channel_id: str
    stream_sync: str
    start_time: datetime
    end_time: datetime | None
    duration: int | None
    created_at: datetime
    updated_at: datetime


# The fields of a stored session its JSON needs (the lists read only these).
SHOWN_FIELDS = {
    name: 1
    for name in [
        "title",
        "description",
        "problemId",
        "problem",
        "difficulty",
        "language",
        "createdBy",
        "participants",
        "interviewers",
        "members",
        "maxParticipants",
        "seatsLeft",
        "status",
        "visibility",
        "streamChannelId",
        "streamSync",
        "startTime",
        "endTime",
        "duration",
        "createdAt",
        "updatedAt",
    ]
}


class SessionEnvelope(BaseModel):
    session: SessionOut


class EndSessionOut(SessionEnvelope):
    message: str


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    pages: int


class SessionPage(BaseModel):
    sessions: list[SessionOut]
    pagination: Pagination


class SessionList(BaseModel):
    sessions: list[SessionOut]


def _person(
    user: UserCard | None, user_id: ObjectId, show_email: bool, role: SessionRole
) -> SessionUserOut:
    # Built from what the server stored: no validation to repeat (a user's fields were checked
    # when written).
    if user is None:  # the account was deleted since
        return SessionUserOut.model_construct(
            id=str(user_id),
            name="Deleted user",
            role="candidate",
            streamId="",
            avatar=None,
            profileImage=None,
            email=None,
            sessionRole=role,
        )
    return SessionUserOut.model_construct(
        id=str(user.id),
        name=user.name,
        role=user.role,
        streamId=user.stream_id,
        avatar=user.avatar,
        profileImage=user.avatar,
        email=user.email if show_email else None,
        sessionRole=role,
    )


def session_role(session: Session, user_id: ObjectId) -> SessionRole | None:
    if user_id == session.created_by:
        return "host"
    if user_id in session.interviewers:
        return "interviewer"
    if user_id in session.participants:
        return "candidate"
    return None


def opens_at(session: Session, join_window_minutes: int) -> datetime:
    """When the room opens: the join window before the start (a started session is open)."""
    return session.start_time - timedelta(minutes=join_window_minutes)
