from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from odmantic import Field, Index, Model
from odmantic.query import desc

from tq.core.time import utcnow

Trigger = Literal["event", "schedule", "ops"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "retrying"]


class JobRun(Model):
    """One run of a job (Inngest's run log): keyed by the Celery task id, which retries keep.
    The run id is the document's `_id`, so every record update is an `_id` lookup."""

    run_id: str = Field(primary_field=True)
    job: str
    args: list[Any] = Field(default_factory=list)
    trigger: Trigger = "event"
    status: RunStatus = "queued"
    attempts: int = 0
    queued_at: datetime = Field(default_factory=utcnow, key_name="queuedAt")
    started_at: datetime | None = Field(default=None, key_name="startedAt")
    finished_at: datetime | None = Field(default=None, key_name="finishedAt")
    error: str | None = None
    retry_in_s: float | None = Field(default=None, key_name="retryInS")
    counts: dict[str, int] = Field(default_factory=dict)
    worker: str | None = None

    model_config = {
        "collection": "job_runs",
        "indexes": lambda: [
            Index(JobRun.job, desc(JobRun.queued_at), name="job_queued"),
            Index(JobRun.status, desc(JobRun.queued_at), name="status_queued"),
            Index(desc(JobRun.queued_at), name="queued"),
        ],
    }


class OutboxJob(Model):
    """A job that could not be handed to the broker yet."""

    task: str
    args: list[Any] = Field(default_factory=list)
    run_id: str = Field(key_name="runId")
    trigger: Trigger = "event"
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    attempts: int = 0
    last_error: str = Field(default="", key_name="lastError")

    model_config = {"collection": "job_outbox"}
