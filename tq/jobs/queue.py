"""Enqueueing jobs after the write, with a run record, and the outbox that keeps them.

The web process never imports task code: it sends tasks by their stable names. Each enqueue
writes a `queued` run record first (the Celery task id is the run id), then hands the task to the
broker. A job that cannot be handed over (Redis down, timeout) is written to `job_outbox` and
sent later by `flush_outbox`, so nothing is lost between the database write and the queue.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from functools import partial
from typing import Any

from celery import Celery
from odmantic import AIOEngine
from pymongo.errors import PyMongoError

from tq.jobs.models import JobRun, OutboxJob, Trigger

log = logging.getLogger("tq.queue")
TRIGGER_HEADER = "tq_trigger"


def send(celery: Celery, task: str, args: list[Any], run_id: str, trigger: Trigger) -> None:
    """Blocking hand-over to the broker (call it off the event loop)."""
    celery.send_task(
        task, args=args, task_id=run_id, headers={TRIGGER_HEADER: trigger}, retry=False
    )


class JobQueue:
    def __init__(self, celery: Celery, engine: AIOEngine, timeout_s: float = 2.0) -> None:
        self.celery = celery
        self.engine = engine
        self.timeout_s = timeout_s

    async def _send(self, task: str, args: list[Any], run_id: str, trigger: Trigger) -> None:
        # kombu's publish is blocking; keep it off the event loop and bounded in time.
        loop = asyncio.get_running_loop()
        call = partial(send, self.celery, task, args, run_id, trigger)
        await asyncio.wait_for(loop.run_in_executor(None, call), self.timeout_s)

    async def enqueue(self, task: str, *args: Any, trigger: Trigger = "event") -> bool:
        """Send `task(*args)`; True when the broker took it, False when it went to the outbox."""
        run_id = uuid.uuid4().hex
        try:
            await self.engine.save(
                JobRun(run_id=run_id, job=task, args=list(args), trigger=trigger)
            )
        except PyMongoError:
            log.warning("run record for %s not written (database unavailable)", task)
        try:
            await self._send(task, list(args), run_id, trigger)
            return True
        except Exception as exc:
            reason = type(exc).__name__
            log.warning("could not enqueue %s (%s); keeping it in the outbox", task, reason)
            try:
                await self.engine.save(
                    OutboxJob(
                        task=task,
                        args=list(args),
                        run_id=run_id,
                        trigger=trigger,
                        last_error=reason,
                    )
                )
            except PyMongoError:
                log.error("job %s lost: neither the broker nor the database answered", task)
            return False

    async def pending(self) -> int:
        return await self.engine.count(OutboxJob)

    async def flush_outbox(self, batch: int = 100) -> int:
        """Send what the outbox holds, oldest first; returns how many were sent."""
        sent = 0
        jobs = await self.engine.find(OutboxJob, sort=OutboxJob.created_at, limit=batch)
        for job in jobs:
            try:
                await self._send(job.task, job.args, job.run_id, job.trigger)
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
