"""Celery, as seen from any process that enqueues jobs, and the outbox that keeps them.

The web process never imports task code: it sends tasks by their stable names. A job that cannot
be handed to the broker (Redis down, timeout) is written to the `job_outbox` collection and sent
later by `flush_outbox`, so nothing is lost between the database write and the queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from celery import Celery
from odmantic import AIOEngine, Field, Model
from pymongo.errors import PyMongoError

from config import Settings

log = logging.getLogger("tq.queue")


def create_celery(settings: Settings, *, include: Iterable[str] = ()) -> Celery:
    """The Celery app for a process: JSON only, late acks, bounded time; broker = REDIS_URL."""
    app = Celery("tq", broker=settings.redis_url, backend=settings.redis_url, include=list(include))
    socket_opts = {
        "socket_timeout": max(settings.redis_timeout_s, 5.0),
        "socket_connect_timeout": settings.redis_timeout_s,
    }
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A task is acknowledged only once it finished, and re-queued if its worker died.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=settings.celery_task_time_limit,
        task_soft_time_limit=settings.celery_task_soft_time_limit,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        result_expires=24 * 3600,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=socket_opts,
        result_backend_transport_options=socket_opts,
        redis_socket_timeout=socket_opts["socket_timeout"],
        redis_socket_connect_timeout=settings.redis_timeout_s,
        beat_schedule={},
    )
    return app


class OutboxJob(Model):
    """A job that could not be handed to the broker yet."""

    task: str
    args: list[Any] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    attempts: int = 0
    last_error: str = ""

    model_config = {"collection": "job_outbox"}


class JobQueue:
    """Enqueues jobs after the write; falls back to the outbox when the broker is unreachable."""

    def __init__(self, celery: Celery, engine: AIOEngine, timeout_s: float = 2.0) -> None:
        self.celery = celery
        self.engine = engine
        self.timeout_s = timeout_s

    async def _send(self, task: str, args: list[Any]) -> None:
        # kombu's publish is blocking; keep it off the event loop and bounded in time.
        loop = asyncio.get_running_loop()
        send = partial(self.celery.send_task, task, args=args, retry=False)
        await asyncio.wait_for(loop.run_in_executor(None, send), self.timeout_s)

    async def enqueue(self, task: str, *args: Any) -> bool:
        """Send `task(*args)`; True when the broker took it, False when it went to the outbox."""
        try:
            await self._send(task, list(args))
            return True
        except Exception as exc:
            reason = type(exc).__name__
            log.warning("could not enqueue %s (%s); keeping it in the outbox", task, reason)
            try:
                await self.engine.save(OutboxJob(task=task, args=list(args), last_error=reason))
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
                await self._send(job.task, job.args)
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
