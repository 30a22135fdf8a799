"""How a job becomes a Celery task: thin, retried on transient failures with backoff + jitter."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from celery import Task
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError

from tq.core.stream import StreamUnavailable
from workers import app, settings
from workers.runtime import WorkerRuntime, get_runtime

log = logging.getLogger("tq.jobs")

# Failures worth another attempt; anything else fails the run at once.
TRANSIENT = (StreamUnavailable, AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError)

JobFn = Callable[..., Coroutine[Any, Any, Any]]


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; never sooner than the server asked (429)."""
    ceiling = min(settings.job_retry_max_s, settings.job_retry_base_s * (2**attempt))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def job(name: str) -> Callable[[JobFn], Task]:
    """Register `async def fn(runtime, *args)` as the Celery task `name`."""

    def decorate(fn: JobFn) -> Task:
        @app.task(name=name, bind=True, max_retries=settings.job_max_retries)
        def task(self: Task, *args: Any) -> Any:
            runtime: WorkerRuntime = get_runtime(settings)
            try:
                return runtime.loop.run_until_complete(fn(runtime, *args))
            except TRANSIENT as exc:
                delay = retry_delay(self.request.retries, getattr(exc, "retry_after", None))
                log.warning(
                    "%s attempt %d failed (%s); retrying in %.1fs",
                    name,
                    self.request.retries + 1,
                    exc,
                    delay,
                )
                raise self.retry(exc=exc, countdown=delay) from None

        task.__doc__ = fn.__doc__
        return task

    return decorate
