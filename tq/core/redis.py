"""The process's Redis client (rate limits, token revocation, webhook de-duplication)."""

from __future__ import annotations

from redis.asyncio import Redis

from config import Settings


def create_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        decode_responses=True,
    )
