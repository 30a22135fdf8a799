"""Every job, declared once: its typed name, arguments, summary, queue and schedule.

A job's logic lives in the `jobs.py` of its domain, registered under its name with `@job(NAME)`;
enqueue calls and the beat schedule use the same constants. The Celery tasks are built from
`HANDLERS` by `workers`, and a test checks that the registry, the Celery app's tasks and the
beat schedule agree."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from config import Settings
from tq.core.queue import TRIGGER_HEADER, JobName

# --- names (the only place a job's name is spelled)
SYNC_USER = JobName("sync_user")
DELETE_STREAM_USER = JobName("delete_stream_user")
REPAIR_USER_SYNC = JobName("repair_user_sync")
SYNC_SESSION_CHANNEL = JobName("sync_session_channel")
EXPIRE_SESSIONS = JobName("expire_sessions")
REPAIR_SESSION_SYNC = JobName("repair_session_sync")
# Stream's inbound events (Stream calls them webhooks; ours are outbound, see integrations):
# the job names were first spelled so and are stored in job runs, so they stay.
PROCESS_STREAM_EVENT = JobName("process_webhook_event")
ARCHIVE_CHAT_HISTORY = JobName("archive_chat_history")
PURGE_STREAM_EVENTS = JobName("purge_webhook_events")
PURGE_JOB_RUNS = JobName("purge_job_runs")
EXECUTE_SESSION_RUN = JobName("execute_session_run")
ANNOUNCE_RUN = JobName("announce_run")
FAIL_STALE_RUNS = JobName("fail_stale_runs")
SEND_EMAIL = JobName("send_email")
NOTIFY_SESSION = JobName("notify_session")
SEND_REMINDERS = JobName("send_reminders")
FLUSH_SESSION_EVENTS = JobName("flush_session_events")
ANNOUNCE_RECORDS = JobName("announce_records")
DELIVER_WEBHOOK = JobName("deliver_webhook")
PUMP_WEBHOOKS = JobName("pump_webhooks")
COMPACT_CODE_LOG = JobName("compact_code_log")
MIGRATE_TO_ORGS = JobName("migrate_to_orgs")
PROVE_PACKAGE = JobName("prove_package")

# Raw Celery tasks that are not recorded jobs: a Piston execute answers through Redis, and the
# two pings check the wiring.
RUN_CODE = JobName("run_code")
PING = JobName("workers.tasks.ping")
DB_PING = JobName("workers.tasks.db_ping")

# User code runs only on this queue, consumed by the `runner` process (Procfile) alone.
RUNS_QUEUE = "runs"
# Every other job: Celery's default queue, served by the ordinary workers.
DEFAULT_QUEUE = "celery"

# The modules whose `@job` functions the workers register (imported by name: the web never
# imports them, so it never loads the sandbox).
JOB_MODULES = (
    "tq.users.jobs",
    "tq.sessions.jobs",
    "tq.chat.jobs",
    "tq.runner.jobs",
    "tq.notifications.jobs",
    "tq.evaluation.jobs",
    "tq.integrations.jobs",
    "tq.collab.jobs",
    "tq.orgs.jobs",
    "tq.jobs.jobs",
)


@dataclass(frozen=True)
class JobSpec:
    name: JobName
    args: tuple[str, ...]  # names of the JSON string arguments, in order
    summary: str
    # Scheduled jobs: the setting holding seconds between beat runs. They hold a Redis lock
    # while they run (for `lock_s` at most), so overlapping runs do not do the work twice.
    every: Callable[[Settings], float] | None = None
    lock_s: int = 600
    queue: str | None = None  # None: the default queue, served by the ordinary workers


JOBS: dict[JobName, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec(SYNC_USER, ("user_id",), "upsert a user to Stream"),
        JobSpec(DELETE_STREAM_USER, ("stream_id",), "remove a deleted account from Stream"),
        JobSpec(
            REPAIR_USER_SYNC,
            (),
            "re-queue user syncs still pending",
            every=lambda s: s.repair_stream_every_s,
        ),
        JobSpec(SYNC_SESSION_CHANNEL, ("session_id",), "make a session's channel match"),
        JobSpec(
            EXPIRE_SESSIONS,
            (),
            "cancel/complete sessions whose time passed",
            every=lambda s: s.expire_sessions_every_s,
        ),
        JobSpec(
            REPAIR_SESSION_SYNC,
            (),
            "re-queue session channel syncs still pending",
            every=lambda s: s.repair_stream_every_s,
        ),
        JobSpec(PROCESS_STREAM_EVENT, ("event_key",), "apply a stored Stream event"),
        JobSpec(
            ARCHIVE_CHAT_HISTORY,
            (),
            "archive the chat of long-finished sessions",
            every=lambda s: s.archive_chat_every_s,
            lock_s=3600,
        ),
        JobSpec(
            PURGE_STREAM_EVENTS,
            (),
            "drop applied Stream events past retention",
            every=lambda s: s.purge_job_runs_every_s,
        ),
        JobSpec(
            PURGE_JOB_RUNS,
            (),
            "drop run records past retention",
            every=lambda s: s.purge_job_runs_every_s,
        ),
        JobSpec(
            EXECUTE_SESSION_RUN,
            ("run_id",),
            "run a session's code (runs queue)",
            queue=RUNS_QUEUE,
        ),
        JobSpec(
            PROVE_PACKAGE,
            ("import_id",),
            "judge every submission of an imported problem package, then write the problem "
            "or the report of what failed (runs queue)",
            queue=RUNS_QUEUE,
        ),
        JobSpec(ANNOUNCE_RUN, ("run_id",), "tell the session's Stream channel a run ended"),
        JobSpec(
            FAIL_STALE_RUNS,
            (),
            "fail code runs the runner lost or never took",
            every=lambda s: s.fail_stale_runs_every_s,
        ),
        JobSpec(
            FLUSH_SESSION_EVENTS,
            (),
            "move session events left in their documents into the event log",
            every=lambda s: s.flush_session_events_every_s,
        ),
        JobSpec(
            ANNOUNCE_RECORDS,
            (),
            "record.ready for completed sessions, once their chat caught up with Stream",
            every=lambda s: s.announce_records_every_s,
        ),
        JobSpec(DELIVER_WEBHOOK, ("key",), "one attempt of one outbound webhook delivery"),
        JobSpec(
            PUMP_WEBHOOKS,
            (),
            "turn logged session events into webhook deliveries; send deliveries now due",
            every=lambda s: s.webhook_pump_every_s,
            lock_s=120,
        ),
        JobSpec(
            COMPACT_CODE_LOG,
            ("session_id",),
            "merge a session's shared-code updates into its snapshot (the updates stay)",
        ),
        JobSpec(SEND_EMAIL, ("key",), "send one queued email over SMTP"),
        JobSpec(
            MIGRATE_TO_ORGS,
            (),
            "give every account its personal organization and move what it owns into it "
            "(resumable; run again until it reports no stop at the budget)",
        ),
        JobSpec(
            NOTIFY_SESSION,
            ("session_id", "kind", "facts"),
            "email a session's members and invitees (reschedule, cancellation), as the change "
            "left the session (facts: its JSON)",
        ),
        JobSpec(
            SEND_REMINDERS,
            (),
            "queue reminders of sessions starting soon; re-send emails left queued",
            every=lambda s: s.send_reminders_every_s,
        ),
    )
}

TASK_ROUTES: dict[str, dict[str, str]] = {
    RUN_CODE: {"queue": RUNS_QUEUE},
    **{name: {"queue": spec.queue} for name, spec in JOBS.items() if spec.queue},
}

JobFn = Callable[..., Coroutine[Any, Any, dict[str, int]]]
F = TypeVar("F", bound=JobFn)
# Filled as the JOB_MODULES are imported: name -> `async def fn(clients, *args) -> counts`.
HANDLERS: dict[JobName, JobFn] = {}


def job(name: JobName) -> Callable[[F], F]:
    """Register `async def fn(clients: Clients, *args: str) -> dict[str, int]` as job `name`."""
    if name not in JOBS:
        raise KeyError(f"{name} is not declared in tq.jobs.registry.JOBS")

    def register(fn: F) -> F:
        if name in HANDLERS and HANDLERS[name] is not fn:
            raise ValueError(f"job {name} registered twice")
        HANDLERS[name] = fn
        return fn

    return register


def schedules(settings: Settings) -> dict[JobName, float]:
    """Seconds between beat runs, per scheduled job."""
    return {name: spec.every(settings) for name, spec in JOBS.items() if spec.every}


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
