"""Health: liveness touches nothing; readiness pings MongoDB and Redis for real, with short
timeouts, and keeps the answer for a second so a load balancer cannot turn it into load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from tq.core.clients import Clients
from tq.core.db import ping as ping_mongo
from tq.core.metrics import Snapshot
from tq.health.schemas import HealthOut, Status
from tq.jobs.registry import DEFAULT_QUEUE, RUNS_QUEUE
from tq.version import VERSION


async def _probe(check: Awaitable[object], timeout_s: float) -> Status:
    try:
        await asyncio.wait_for(check, timeout_s)
        return "up"
    except Exception:
        return "down"


async def check_readiness(clients: Clients, timeout_s: float = 1.5) -> HealthOut:
    mongo, redis_status = await asyncio.gather(
        _probe(ping_mongo(clients.engine), timeout_s), _probe(clients.redis.ping(), timeout_s)
    )
    pending = None
    if mongo == "up":
        try:
            # Jobs waiting in the outbox mean the queue was unreachable at some point.
            pending = await asyncio.wait_for(clients.queue.pending(), timeout_s)
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


class Readiness:
    """One process's readiness answer, kept `ttl_s`; concurrent askers share one check."""

    def __init__(self, clients: Clients, ttl_s: float = 1.0) -> None:
        self.clients = clients
        self.ttl_s = ttl_s
        self._answer: HealthOut | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def check(self) -> HealthOut:
        if self._answer is not None and time.monotonic() - self._at < self.ttl_s:
            return self._answer
        async with self._lock:
            if self._answer is None or time.monotonic() - self._at >= self.ttl_s:
                self._answer = await check_readiness(self.clients)
                self._at = time.monotonic()
            return self._answer


async def snapshot(clients: Clients) -> Snapshot:
    """Queue depths (Redis list lengths of the Celery queues) and the outbox size, read now;
    what does not answer is left out rather than failing the scrape."""
    queues: dict[str, int] = {}
    for queue in (DEFAULT_QUEUE, RUNS_QUEUE):
        try:
            queues[queue] = int(await clients.redis.llen(queue))
        except RedisError:
            continue
    try:
        outbox = await clients.queue.pending()
    except PyMongoError:
        outbox = -1
    return Snapshot(queues, outbox)
