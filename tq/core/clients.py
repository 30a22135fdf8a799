"""The long-lived clients of one process (web or worker), opened at start and closed at stop.

Reached one way only: the web injects `Clients` into handlers (sanic-ext), a job receives it as
its first argument, and services take it (or the one client they need) as a parameter."""

from __future__ import annotations

from dataclasses import dataclass, field

from celery import Celery
from odmantic import AIOEngine
from redis.asyncio import Redis

from config import Settings
from tq.core.db import create_engine
from tq.core.events import EventBus
from tq.core.locks import WriteLocks
from tq.core.queue import JobQueue
from tq.core.redis import create_redis
from tq.core.stream import StreamGateway


@dataclass
class Clients:
    settings: Settings
    engine: AIOEngine
    redis: Redis
    celery: Celery
    queue: JobQueue
    stream: StreamGateway
    locks: WriteLocks
    events: EventBus = field(default_factory=EventBus)

    @classmethod
    def open(
        cls,
        settings: Settings,
        celery: Celery,
        *,
        events: EventBus | None = None,
        socket_timeout_ms: int | None = None,
    ) -> Clients:
        """Create every client; call it on the loop that will use them (motor and redis bind
        to the running loop). The Stream gateway opens its HTTP session on first use."""
        engine = create_engine(settings, socket_timeout_ms=socket_timeout_ms)
        redis = create_redis(settings)
        return cls(
            settings=settings,
            engine=engine,
            redis=redis,
            locks=WriteLocks(redis, settings.document_locks),
            celery=celery,
            queue=JobQueue(celery, engine),
            stream=StreamGateway(settings),
            events=events or EventBus(),
        )

    async def close(self) -> None:
        self.engine.client.close()
        await self.redis.aclose()
        await self.stream.close()
