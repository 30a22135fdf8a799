"""How a registered job becomes a Celery task: thin, recorded in `job_runs`, retried on
transient failures with exponential backoff and jitter (never sooner than a 429 asked), bounded
in attempts. Scheduled jobs hold a Redis lock while they run."""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Coroutine, Mapping
from typing import Any

from celery import Celery, Task
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
from redis.exceptions import RedisError

from config import Settings
from tq.core.clients import Clients
from tq.core.mail import MailUnavailable
from tq.core.metrics import JOB_DURATION, JOB_RUNS
from tq.core.queue import TRIGGER_HEADER, JobName, Trigger
from tq.core.stream import StreamUnavailable
from tq.jobs import service as runs
from tq.jobs.registry import JOBS, JobFn, JobSpec
from workers.runtime import get_runtime

log = logging.getLogger("tq.jobs")

# Failures worth another attempt; anything else fails the run at once.
TRANSIENT = (
    StreamUnavailable,
    MailUnavailable,
    AutoReconnect,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)


def retry_delay(
    attempt: int, base_s: float, max_s: float, retry_after: float | None = None
) -> float:
    """Exponential backoff with jitter (half to full ceiling); at least what a 429 asked."""
    ceiling = min(max_s, base_s * (2**attempt))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def register_jobs(app: Celery, settings: Settings, handlers: Mapping[JobName, JobFn]) -> None:
    for name, fn in handlers.items():
        _register(app, settings, JOBS[name], fn)


def _register(app: Celery, settings: Settings, spec: JobSpec, fn: JobFn) -> None:
    name = spec.name

    @app.task(name=name, bind=True, max_retries=settings.job_max_retries)
    def task(self: Task[Any, Any], *args: Any) -> dict[str, int]:
        runtime = get_runtime(settings)
        clients = runtime.clients
        run_id = self.request.id or "no-id"
        header = getattr(self.request, TRIGGER_HEADER, None)
        # A run without our header was sent by hand (`celery call`): an ops run.
        trigger: Trigger = header if header in ("event", "schedule") else "ops"
        attempt = self.request.retries + 1
        worker = f"{socket.gethostname()}:{os.getpid()}"
        execute = runtime.loop.run_until_complete
        execute(
            runs.record_start(clients.engine, run_id, name, list(args), trigger, attempt, worker)
        )
        started = time.perf_counter()

        def measured(outcome: str) -> None:
            JOB_RUNS.labels(name, outcome).inc()
            JOB_DURATION.labels(name).observe(time.perf_counter() - started)

        try:
            if spec.every is not None:
                counts = execute(_locked(clients, name, spec.lock_s, fn(clients, *args)))
            else:
                counts = execute(fn(clients, *args))
        except TRANSIENT as exc:
            if self.request.retries >= (self.max_retries or 0):
                measured("failed")
                execute(runs.record_end(clients.engine, run_id, "failed", error=_summary(exc)))
                raise
            delay = retry_delay(
                self.request.retries,
                settings.job_retry_base_s,
                settings.job_retry_max_s,
                getattr(exc, "retry_after", None),
            )
            log.warning("%s attempt %d failed (%s); retrying in %.1fs", name, attempt, exc, delay)
            measured("retrying")
            execute(
                runs.record_end(
                    clients.engine,
                    run_id,
                    "retrying",
                    error=_summary(exc),
                    retry_in_s=round(delay, 3),
                )
            )
            raise self.retry(exc=exc, countdown=delay) from None
        except Exception as exc:
            measured("failed")
            execute(runs.record_end(clients.engine, run_id, "failed", error=_summary(exc)))
            raise
        measured("skipped" if counts.get("skipped_locked") else "succeeded")
        execute(runs.record_end(clients.engine, run_id, "succeeded", counts=counts))
        return counts

    task.__doc__ = fn.__doc__


async def _locked(
    clients: Clients, name: str, lock_s: int, work: Coroutine[Any, Any, dict[str, int]]
) -> dict[str, int]:
    """Overlapping beats (or an ops run next to a beat) do not do the work twice; the second
    run records `skipped_locked`."""
    lock = clients.redis.lock(f"job-lock:{name}", timeout=lock_s, blocking_timeout=0)
    try:
        acquired = await lock.acquire()
    except RedisError:
        # No Redis means no beat either: an ops run may proceed unlocked.
        return await work
    if not acquired:
        work.close()
        return {"skipped_locked": 1}
    try:
        return await work
    finally:
        try:
            await lock.release()
        except Exception:  # expired or Redis gone: the TTL cleans up
            log.debug("job lock %s not released", name)
