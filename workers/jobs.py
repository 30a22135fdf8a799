"""How a job becomes a Celery task: thin, recorded in `job_runs`, retried on transient failures
with exponential backoff and jitter (never sooner than a 429 asked), bounded in attempts."""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from celery import Task
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
from redis.exceptions import RedisError

from tq.core.stream import StreamUnavailable
from tq.jobs import service as runs
from tq.jobs.models import Trigger
from tq.jobs.queue import TRIGGER_HEADER
from workers import app, settings
from workers.runtime import WorkerRuntime, get_runtime

log = logging.getLogger("tq.jobs")

# Failures worth another attempt; anything else fails the run at once.
TRANSIENT = (StreamUnavailable, AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError)

JobFn = Callable[..., Coroutine[Any, Any, dict[str, int]]]


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (half to full ceiling); at least what a 429 asked."""
    ceiling = min(settings.job_retry_max_s, settings.job_retry_base_s * (2**attempt))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def job(name: str, *, scheduled: bool = False, lock_s: int = 600) -> Callable[[JobFn], Task]:
    """Register `async def fn(runtime, *args) -> counts` as the Celery task `name`.

    `scheduled` jobs hold a Redis lock while they run, so overlapping beats (or an ops run next
    to a beat) do not do the work twice; the second run records `skipped_locked`."""

    def decorate(fn: JobFn) -> Task:
        @app.task(name=name, bind=True, max_retries=settings.job_max_retries)
        def task(self: Task, *args: Any) -> dict[str, int]:
            runtime: WorkerRuntime = get_runtime(settings)
            run_id = self.request.id or "no-id"
            header = getattr(self.request, TRIGGER_HEADER, None)
            # A run without our header was sent by hand (`celery call`): an ops run.
            trigger: Trigger = header if header in ("event", "schedule") else "ops"
            attempt = self.request.retries + 1
            worker = f"{socket.gethostname()}:{os.getpid()}"
            execute = runtime.loop.run_until_complete
            execute(
                runs.record_start(
                    runtime.engine, run_id, name, list(args), trigger, attempt, worker
                )
            )
            try:
                if scheduled:
                    counts = execute(_locked(runtime, name, lock_s, fn(runtime, *args)))
                else:
                    counts = execute(fn(runtime, *args))
            except TRANSIENT as exc:
                if self.request.retries >= (self.max_retries or 0):
                    execute(runs.record_end(runtime.engine, run_id, "failed", error=_summary(exc)))
                    raise
                delay = retry_delay(self.request.retries, getattr(exc, "retry_after", None))
                log.warning(
                    "%s attempt %d failed (%s); retrying in %.1fs", name, attempt, exc, delay
                )
                execute(
                    runs.record_end(
                        runtime.engine,
                        run_id,
                        "retrying",
                        error=_summary(exc),
                        retry_in_s=round(delay, 3),
                    )
                )
                raise self.retry(exc=exc, countdown=delay) from None
            except Exception as exc:
                execute(runs.record_end(runtime.engine, run_id, "failed", error=_summary(exc)))
                raise
            execute(runs.record_end(runtime.engine, run_id, "succeeded", counts=counts))
            return counts

        task.__doc__ = fn.__doc__
        return task

    return decorate


async def _locked(
    runtime: WorkerRuntime, name: str, lock_s: int, work: Coroutine[Any, Any, dict[str, int]]
) -> dict[str, int]:
    lock = runtime.redis.lock(f"job-lock:{name}", timeout=lock_s, blocking_timeout=0)
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
