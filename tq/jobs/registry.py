"""Every job by its stable name: arguments (for ops runs) and schedule (for beat)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config import Settings
from tq.jobs.queue import TRIGGER_HEADER


@dataclass(frozen=True)
class JobSpec:
    name: str
    args: tuple[str, ...]  # names of the JSON string arguments, in order
    summary: str


# User code runs only on this queue, consumed by the `runner` process (Procfile) alone.
RUNS_QUEUE = "runs"
RUN_CODE = "run_code"  # a Piston execute: no run record, its answer goes back through Redis
EXECUTE_SESSION_RUN = "execute_session_run"
ANNOUNCE_RUN = "announce_run"
FAIL_STALE_RUNS = "fail_stale_runs"
TASK_ROUTES: dict[str, dict[str, str]] = {
    RUN_CODE: {"queue": RUNS_QUEUE},
    EXECUTE_SESSION_RUN: {"queue": RUNS_QUEUE},
}

JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("sync_user", ("user_id",), "upsert a user to Stream"),
        JobSpec("delete_stream_user", ("stream_id",), "remove a deleted account from Stream"),
        JobSpec("sync_session_channel", ("session_id",), "make a session's channel match"),
        JobSpec("process_webhook_event", ("event_key",), "apply a stored Stream webhook"),
        JobSpec("expire_sessions", (), "cancel/complete sessions whose time passed"),
        JobSpec("archive_chat_history", (), "archive the chat of long-finished sessions"),
        JobSpec("purge_job_runs", (), "drop run records past retention"),
        JobSpec("repair_stream_sync", (), "re-queue Stream syncs still pending"),
        JobSpec(EXECUTE_SESSION_RUN, ("run_id",), "run a session's code (runs queue)"),
        JobSpec(ANNOUNCE_RUN, ("run_id",), "tell the session's Stream channel a run ended"),
        JobSpec(FAIL_STALE_RUNS, (), "fail code runs the runner lost or never took"),
    )
}


def schedules(settings: Settings) -> dict[str, float]:
    """Seconds between beat runs, per scheduled job."""
    return {
        "expire_sessions": settings.expire_sessions_every_s,
        "archive_chat_history": settings.archive_chat_every_s,
        "purge_job_runs": settings.purge_job_runs_every_s,
        "repair_stream_sync": settings.repair_stream_every_s,
        FAIL_STALE_RUNS: settings.fail_stale_runs_every_s,
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "task": name,
            "schedule": every,
            # Recorded as trigger=schedule; a run that outlives its period is not stacked up.
            "options": {"headers": {TRIGGER_HEADER: "schedule"}, "expires": every},
        }
        for name, every in schedules(settings).items()
    }
