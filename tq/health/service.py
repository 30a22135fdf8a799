"""Health: real pings with short timeouts, never a hard-coded answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from odmantic import AIOEngine
from redis.asyncio import Redis

from tq.core.db import ping as ping_mongo
from tq.core.queue import JobQueue
from tq.health.schemas import HealthOut, Status
from tq.version import VERSION


async def _probe(check: Awaitable[object], timeout_s: float) -> Status:
    try:
        await asyncio.wait_for(check, timeout_s)
        return "up"
    except Exception:
        return "down"


async def check_health(
    engine: AIOEngine, redis: Redis, queue: JobQueue, timeout_s: float = 1.5
) -> HealthOut:
    mongo, redis_status = await asyncio.gather(
        _probe(ping_mongo(engine), timeout_s), _probe(redis.ping(), timeout_s)
    )
    pending = None
    if mongo == "up":
        try:
            # Jobs waiting in the outbox mean the queue was unreachable at some point.
            pending = await asyncio.wait_for(queue.pending(), timeout_s)
        except Exception:
            pending = None
    ok = mongo == "up" and redis_status == "up"
    return HealthOut(
        status="ok" if ok else "degraded",
        mongo=mongo,
        redis=redis_status,
        version=VERSION,
        pendingJobs=pending,
    )
