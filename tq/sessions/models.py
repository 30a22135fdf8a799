from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from bson import ObjectId
from odmantic import EmbeddedModel, Field, Index, Model
from odmantic.query import desc
from pydantic import BaseModel

from tq.core.time import utcnow

Status = Literal["scheduled", "active", "completed", "cancelled"]
SessionDifficulty = Literal["easy", "medium", "hard"]
SyncState = Literal["ok", "pending"]
Visibility = Literal["open", "invite_only"]
SessionRole = Literal["host", "interviewer", "candidate"]
InvitedRole = Literal["candidate", "interviewer"]
# What is stored; `expired` is derived when read (past expiresAt, or the session is final).
StoredInvitationStatus = Literal["pending", "accepted", "revoked"]
InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]
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
# What a scorecard rates unless the host changes it (before the first submit).
DEFAULT_CRITERIA: tuple[str, ...] = ("problem_solving", "code_quality", "communication", "testing")
FINAL_STATUSES: tuple[Status, ...] = ("completed", "cancelled")


class Invitation(EmbeddedModel):
    """One person invited to a session, kept inside the session document: accepting, revoking
    and resending are then one conditional update of one document, atomic on every engine.
    The link's token is never stored: it is an HMAC of `nonce` under the server secret, and
    only its SHA-256 (`tokenHash`, also in the session's indexed `inviteTokens`) is kept."""

    id: ObjectId = Field(default_factory=ObjectId)
    email: str  # lower-cased
    name: str | None = None
    role: InvitedRole
    timezone: str | None = None
    nonce: str
    token_hash: str = Field(key_name="tokenHash")
    status: StoredInvitationStatus = "pending"
    invited_by: ObjectId = Field(key_name="invitedBy")
    expires_at: datetime = Field(key_name="expiresAt")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    sent_at: datetime | None = Field(default=None, key_name="sentAt")  # the last link's email
    sends: int = 1  # links issued: the first and each resend (names the email sent)
    accepted_at: datetime | None = Field(default=None, key_name="acceptedAt")
    accepted_by: ObjectId | None = Field(default=None, key_name="acceptedBy")
    revoked_at: datetime | None = Field(default=None, key_name="revokedAt")


class SessionEvent(EmbeddedModel):
    """One entry of a session's event log, first written inside the session document by the
    very update that makes the change (`outboxEvents`), then moved to `session_events`: a
    change never exists without its event, on any engine, without transactions."""

    id: str  # unique within its session
    type: str
    actor_id: ObjectId | None = Field(default=None, key_name="actorId")  # None: a job
    at: datetime
    data: dict[str, Any] = Field(default={})


class SessionEventRecord(Model):
    """The append-only log (`session_events`): nothing updates or deletes an entry, except
    account deletion (actorId → null) and the deletion of the session itself."""

    key: str = Field(primary_field=True)  # "<session id>:<event id>": a re-flush is a no-op
    session_id: ObjectId = Field(key_name="sessionId")
    type: str
    actor_id: ObjectId | None = Field(default=None, key_name="actorId")
    at: datetime
    data: dict[str, Any] = Field(default={})
    # Turned into outbound webhook deliveries yet (tq.integrations)?
    dispatched: bool = False

    model_config = {
        "collection": "session_events",
        "indexes": lambda: [
            # a session's log, oldest first, cursor-paged
            Index(
                SessionEventRecord.session_id,
                SessionEventRecord.at,
                SessionEventRecord.key,
                name="session_at_key",
            ),
            # account deletion: the actor's entries
            Index(SessionEventRecord.actor_id, name="actor"),
            # the webhook dispatcher: entries not dispatched yet, oldest first
            Index(SessionEventRecord.dispatched, SessionEventRecord.at, name="dispatched_at"),
        ],
    }


class SessionFacts(BaseModel):
    """What an email about a session says of it, as it was when the email was queued: a
    reschedule sent after a cancellation still announces the reschedule, with its own
    SEQUENCE, not the cancelled state."""

    title: str
    description: str | None = None
    start_time: datetime
    duration: int | None = None
    status: str
    calendar_sequence: int


class Session(Model):
    """An interview session. `members` (host + participants) and `seatsLeft` are kept in the same
    atomic updates as `participants`: one index serves "my sessions", and a join is a single
    conditional update on `seatsLeft > 0` (FerretDB has no $expr to compare two fields)."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    title: str
    description: str | None = None
    problem_id: str | None = Field(default=None, key_name="problemId")
    # The bank version pinned at creation (tq.problems): what the candidate sees and runs
    # are judged by, whatever the bank's problem becomes. None: the public library's.
    problem_version: int | None = Field(default=None, key_name="problemVersion")
    problem_version_id: ObjectId | None = Field(default=None, key_name="problemVersionId")
    problem: str | None = None
    difficulty: SessionDifficulty | None = None
    language: Language = "javascript"
    created_by: ObjectId = Field(key_name="createdBy")
    # The organization it belongs to (tq.orgs): the host's personal one unless created in
    # another. None only on sessions the migration has not reached yet.
    org_id: ObjectId | None = Field(default=None, key_name="orgId")
    # Candidates: they take the seats (maxParticipants, seatsLeft).
    participants: list[ObjectId] = Field(default_factory=list)
    # The panel: interviewers invited by the host; they take no seat.
    interviewers: list[ObjectId] = Field(default=[])
    # host + interviewers + participants
    members: list[ObjectId] = Field(default_factory=list)
    visibility: Visibility = "open"
    invitations: list[Invitation] = Field(default=[])
    # The tokenHash of every pending invitation (indexed: a link finds its session).
    invite_tokens: list[str] = Field(default=[], key_name="inviteTokens")
    # Bumped by every change of `invitations`: their writes are conditional on it.
    invites_version: int = Field(default=0, key_name="invitesVersion")
    # The calendar event's SEQUENCE: raised by every reschedule and by the cancellation.
    calendar_sequence: int = Field(default=0, key_name="calendarSequence")
    # Scorecard criteria; locked by the first submitted scorecard.
    criteria: list[str] = Field(default=list(DEFAULT_CRITERIA))
    criteria_locked: bool = Field(default=False, key_name="criteriaLocked")
    # The scorecard template version its criteria came from (tq.scorecard_templates); None:
    # the default criteria, or criteria set by hand.
    scorecard_template: str | None = Field(default=None, key_name="scorecardTemplate")
    scorecard_template_version: int | None = Field(
        default=None, key_name="scorecardTemplateVersion"
    )
    scorecard_template_version_id: ObjectId | None = Field(
        default=None, key_name="scorecardTemplateVersionId"
    )
    # Set once `record.ready` was announced (the completed session's record is final).
    record_ready_at: datetime | None = Field(default=None, key_name="recordReadyAt")
    # Events written with the change that caused them, until moved to `session_events`.
    outbox_events: list[SessionEvent] = Field(default=[], key_name="outboxEvents")
    events_pending: bool = Field(default=False, key_name="eventsPending")
    # Set once the reminder emails were queued (the reminder job claims a session by it).
    reminded_at: datetime | None = Field(default=None, key_name="remindedAt")
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

    def facts(self) -> SessionFacts:
        """What an email or calendar event announcing this state says."""
        return SessionFacts(
            title=self.title,
            description=self.description,
            start_time=self.start_time,
            duration=self.duration,
            status=self.status,
            calendar_sequence=self.calendar_sequence,
        )

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
            # lobby (/active) and scope=open (open sessions only), by creation or by start
            Index(
                Session.visibility,
                Session.status,
                desc(Session.created_at),
                desc(Session.id),
                name="visibility_status_created_id",
            ),
            Index(
                Session.visibility,
                Session.status,
                Session.start_time,
                Session.id,
                name="visibility_status_start_id",
            ),
            # the expiry job
            Index(Session.status, Session.start_time, Session.id, name="status_start_id"),
            # the reminder job: scheduled sessions not reminded yet, by start
            Index(
                Session.status,
                Session.reminded_at,
                Session.start_time,
                name="status_reminded_start",
            ),
            # an invitation link finds its session
            Index(Session.invite_tokens, name="invite_tokens"),
            # sessions whose events still wait in the document (the flush job)
            Index(Session.events_pending, name="events_pending"),
            # completed sessions whose record was not announced yet
            Index(Session.status, Session.record_ready_at, name="status_record_ready"),
            # a leaving account's hosted sessions
            Index(Session.created_by, Session.status, name="host_status"),
            # an organization's sessions, newest first; a leaving member's upcoming ones
            Index(
                Session.org_id,
                desc(Session.created_at),
                desc(Session.id),
                name="org_created_id",
            ),
            Index(Session.org_id, Session.start_time, Session.id, name="org_start_id"),
            Index(Session.org_id, Session.created_by, Session.status, name="org_host_status"),
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
