from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from odmantic import Field, Index, Model
from odmantic.query import desc

from tq.core.time import utcnow
from tq.sessions.models import SessionEvent

CodeRunStatus = Literal["queued", "running", "completed", "failed"]
UNFINISHED: tuple[CodeRunStatus, ...] = ("queued", "running")


class CodeRun(Model):
    """One run of code in a session, by one member. The runner moves it queued → running →
    completed (the program ran, whatever its verdict) or failed (the runner could not run it:
    lost, or it gave up). Every move is a conditional update on the current state."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    session_id: ObjectId = Field(key_name="sessionId")
    user_id: ObjectId = Field(key_name="userId")
    language: str
    version: str
    source: str
    stdin: str = ""
    problem_id: str | None = Field(default=None, key_name="problemId")
    # The bank version it is judged against (None: the library's problem, or no problem).
    problem_version_id: ObjectId | None = Field(default=None, key_name="problemVersionId")
    status: CodeRunStatus = "queued"
    verdict: str | None = None
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = Field(default=None, key_name="exitCode")
    signal: str | None = None
    time_ms: int | None = Field(default=None, key_name="timeMs")
    memory_kb: int | None = Field(default=None, key_name="memoryKb")
    truncated: bool = False
    tests: list[dict[str, Any]] | None = None
    error: str | None = None  # why the runner failed it
    # A run of the shared document: the last update of the document state it ran.
    code_update_id: ObjectId | None = Field(default=None, key_name="codeUpdateId")
    attempts: int = 0  # deliveries to a runner so far
    worker: str | None = None  # host:pid of the runner process of the current attempt
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    started_at: datetime | None = Field(default=None, key_name="startedAt")
    finished_at: datetime | None = Field(default=None, key_name="finishedAt")
    # run.started / run.completed for the session's event log, written with the run itself.
    outbox_events: list[SessionEvent] = Field(default=[], key_name="outboxEvents")
    events_pending: bool = Field(default=False, key_name="eventsPending")

    model_config = {
        "collection": "code_runs",
        "indexes": lambda: [
            # a session's runs, newest first (the _id is the cursor)
            Index(CodeRun.session_id, desc(CodeRun.id), name="session_newest"),
            # the stale-run sweep: unfinished runs by age
            Index(CodeRun.status, CodeRun.created_at, name="status_created"),
            Index(CodeRun.events_pending, name="events_pending"),
        ],
    }
