"""Async code inside sync Celery tasks.

Pattern: one event loop per worker process, and the long-lived async clients (motor/ODMantic,
Redis, Stream) are created on that loop the first time a task needs them. Tasks run one at a time
in a process (prefork or solo pool), so `run()` drives the coroutine to completion on that same
loop every time: a motor client is never used from a second loop, and no task calls
`asyncio.run`, which would create (and close) a new loop per call. The pid check makes this
fork-safe: a child forked from a parent that had a runtime builds its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from config import Settings
from tq.core.clients import Clients
from tq.reactions import subscribe_reactions

T = TypeVar("T")


@dataclass
class WorkerRuntime:
    loop: asyncio.AbstractEventLoop
    clients: Clients
    pid: int


_runtime: WorkerRuntime | None = None


def get_runtime(settings: Settings) -> WorkerRuntime:
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        from workers import app  # the worker's own Celery app sends follow-up jobs

        # Clients are created while their loop is current, so they bind to it.
        # A job's single query may scan far more than a request's: bound it by the task limit.
        clients = Clients.open(
            settings, app, socket_timeout_ms=settings.celery_task_soft_time_limit * 1000
        )
        subscribe_reactions(clients.events, clients)
        _runtime = WorkerRuntime(loop=loop, clients=clients, pid=os.getpid())
    return _runtime


def run(settings: Settings, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on this process's loop."""
    return get_runtime(settings).loop.run_until_complete(coro)
