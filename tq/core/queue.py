"""The job queue: jobs enqueued after the write, with a run record, and the outbox that keeps them.

The web process never imports task code: it sends tasks by their stable names. Each enqueue
writes a `queued` run record first (the Celery task id is the run id), then hands the task to the
broker. A job that cannot be handed over (Redis down, timeout) is written to `job_outbox` and
sent later by `flush_outbox`, so nothing is lost between the database write and the queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal, NewType

from bson import ObjectId
from celery import Celery
from odmantic import AIOEngine, Field, Index, Model
from odmantic.query import desc
from pymongo.errors import PyMongoError

from tq.core.time import utcnow

log = logging.getLogger("tq.queue")
TRIGGER_HEADER = "tq_trigger"
# A job's stable name. Declared once, in tq.jobs.registry; a bare string is a type error.
JobName = NewType("JobName", str)
Trigger = Literal["event", "schedule", "ops"]
JobRunStatus = Literal["queued", "running", "succeeded", "failed", "retrying"]


class JobRun(Model):
    """One run of a job (Inngest's run log): keyed by the Celery task id, which retries keep.
    The run id is the document's `_id`, so every record update is an `_id` lookup."""

    run_id: str = Field(primary_field=True)
    job: str
    args: list[Any] = Field(default_factory=list)
    trigger: Trigger = "event"
    status: JobRunStatus = "queued"
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
            # the retention purge: finished runs by age
            Index(JobRun.status, JobRun.finished_at, name="status_finished"),
        ],
    }


class OutboxJob(Model):
    """A job that could not be handed to the broker yet."""

    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    task: str
    args: list[Any] = Field(default_factory=list)
    run_id: str = Field(key_name="runId")
    trigger: Trigger = "event"
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    attempts: int = 0
    last_error: str = Field(default="", key_name="lastError")

    model_config = {
        "collection": "job_outbox",
        # flushed oldest first
        "indexes": lambda: [Index(OutboxJob.created_at, name="created")],
    }


def send(
    celery: Celery,
    task: JobName,
    args: list[Any],
    run_id: str,
    trigger: Trigger,
    producer: Any = None,
) -> None:
    """Blocking hand-over to the broker (call it off the event loop). The run record is the
    result store, so Celery's own result is ignored: otherwise Celery subscribes the sending
    process to every task's result channel, which nothing here reads."""
    celery.send_task(
        task,
        args=args,
        task_id=run_id,
        headers={TRIGGER_HEADER: trigger},
        retry=False,
        ignore_result=True,
        producer=producer,
    )


def send_all(
    celery: Celery,
    task: JobName,
    runs: list[JobRun],
    trigger: Trigger,
    sent: list[str],
    stop: threading.Event,
) -> None:
    """Blocking hand-over of many runs on one connection, recording each run id once the broker
    took it; stops at the first failure (the broker is away: the rest would fail the same way)
    or when told to (the caller gave up waiting)."""
    with celery.producer_or_acquire() as producer:
        for run in runs:
            if stop.is_set():
                return
            send(celery, task, run.args, run.run_id, trigger, producer)
            sent.append(run.run_id)


class JobQueue:
    def __init__(self, celery: Celery, engine: AIOEngine, timeout_s: float = 2.0) -> None:
        self.celery = celery
        self.engine = engine
        self.timeout_s = timeout_s

    async def _send(self, task: JobName, args: list[Any], run_id: str, trigger: Trigger) -> None:
        # kombu's publish is blocking; keep it off the event loop and bounded in time.
        loop = asyncio.get_running_loop()
        call = partial(send, self.celery, task, args, run_id, trigger)
        await asyncio.wait_for(loop.run_in_executor(None, call), self.timeout_s)

    async def enqueue(self, task: JobName, *args: Any, trigger: Trigger = "event") -> bool:
        """Send `task(*args)`; True when the broker took it, False when it went to the outbox."""
        return await self.enqueue_many(task, [list(args)], trigger) == 1

    async def enqueue_many(
        self,
        task: JobName,
        arg_lists: list[list[Any]],
        trigger: Trigger = "event",
        batch: int = 500,
    ) -> int:
        """Send `task(*args)` for each args list: one insert of run records and one hand-over
        (on one broker connection, off the loop) per batch, not a round trip each. Runs the
        broker did not take go to the outbox. Returns how many the broker took."""
        taken = 0
        for start in range(0, len(arg_lists), batch):
            runs = [
                # ODMantic declares `id` to type checkers even where another field is primary.
                JobRun(run_id=uuid.uuid4().hex, job=task, args=list(args), trigger=trigger)  # type: ignore[call-arg]
                for args in arg_lists[start : start + batch]
            ]
            try:
                await self.engine.get_collection(JobRun).insert_many(
                    [run.model_dump_doc() for run in runs], ordered=False
                )
            except PyMongoError:
                log.warning("run records for %s not written (database unavailable)", task)
            sent: list[str] = []
            stop = threading.Event()
            loop = asyncio.get_running_loop()
            call = partial(send_all, self.celery, task, runs, trigger, sent, stop)
            reason = ""
            try:
                timeout = self.timeout_s + 0.05 * len(runs)
                await asyncio.wait_for(loop.run_in_executor(None, call), timeout)
            except Exception as exc:
                # A send in flight when we stop may land and also be kept: these jobs are
                # idempotent, so at worst one runs twice.
                stop.set()
                reason = type(exc).__name__
                log.warning("could not enqueue every %s run (%s); keeping the rest", task, reason)
            taken += len(sent)
            done = set(sent)
            left = [run for run in runs if run.run_id not in done]
            if left:
                await self._keep(task, left, trigger, reason or "BrokerUnavailable")
        return taken

    async def _keep(self, task: JobName, runs: list[JobRun], trigger: Trigger, reason: str) -> None:
        outbox = [
            OutboxJob(
                task=task, args=run.args, run_id=run.run_id, trigger=trigger, last_error=reason
            ).model_dump_doc()
            for run in runs
        ]
        try:
            await self.engine.get_collection(OutboxJob).insert_many(outbox, ordered=False)
        except PyMongoError:
            log.error("%d %s job(s) lost: neither broker nor database answered", len(runs), task)

    async def requeue_pending_syncs(
        self, model: type[Model], job: JobName, *, older_than_s: float, limit: int
    ) -> int:
        """Documents still `streamSync: "pending"` a while after their last change (their sync
        ran out of retries during a long outage) get `job(id)` queued again. Syncs converge on
        the database, so a spare run is harmless. Returns how many were queued."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        stale = (
            self.engine.get_collection(model)
            .find({"streamSync": "pending", "updatedAt": {"$lt": cutoff}}, {"_id": 1})
            .limit(limit)
        )
        ids = [[str(doc["_id"])] async for doc in stale]
        await self.enqueue_many(job, ids)
        return len(ids)

    async def pending(self) -> int:
        return await self.engine.count(OutboxJob)

    async def flush_outbox(self, batch: int = 100) -> int:
        """Send what the outbox holds, oldest first; returns how many were sent."""
        sent = 0
        jobs = await self.engine.find(OutboxJob, sort=OutboxJob.created_at, limit=batch)
        for job in jobs:
            try:
                await self._send(JobName(job.task), job.args, job.run_id, job.trigger)
            except Exception as exc:
                job.attempts += 1
                job.last_error = type(exc).__name__
                await self.engine.save(job)
                break  # the broker is still away: try again on the next tick
            await self.engine.delete(job)
            sent += 1
        if sent:
            log.info("sent %d job(s) from the outbox", sent)
        return sent
