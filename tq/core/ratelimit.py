"""API rate limits with the `limits` library: moving windows kept in Redis, per user (the
token's subject) and, for requests without a token, per client address. Every answer carries
RateLimit-Limit/-Remaining/-Reset; past the limit it is 429 `rate_limited` with Retry-After.
Redis down: the limiter steps aside (fails open) rather than take the API down with it."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from sanic import Request

from config import Settings
from tq.core.security import TokenService

log = logging.getLogger("tq.ratelimit")

# Not limited here: health and metrics (probes), the spec, login (its own failure throttle),
# Stream's signed webhook deliveries, and CORS preflights.
EXEMPT_PREFIXES = ("/api/health", "/metrics", "/docs", "/api/auth/login", "/api/webhooks/stream")
READ_METHODS = {"GET", "HEAD"}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_in_s: int


class RateLimits:
    def __init__(self, settings: Settings, tokens: TokenService) -> None:
        self.enabled = settings.rate_limits_enabled
        self.tokens = tokens
        self.reads = parse(settings.rate_limit_reads)
        self.writes = parse(settings.rate_limit_writes)
        self.public = parse(settings.rate_limit_public)
        self.storage = RedisStorage(
            "async+" + settings.redis_url,
            implementation="redispy",
            key_prefix="tq-ratelimit",
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        self.limiter = MovingWindowRateLimiter(self.storage)

    def applies_to(self, request: Request) -> bool:
        return (
            self.enabled
            and request.method != "OPTIONS"
            and not request.path.startswith(EXEMPT_PREFIXES)
        )

    def bucket(self, request: Request, client_address: str) -> tuple[RateLimitItem, str]:
        """(limit, identity): a valid token's subject, else the client's address."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            try:
                claims = self.tokens.verify(header[7:].strip())
            except Exception:  # an invalid token: the handler answers 401; limit by address
                claims = None
            if claims is not None:
                request.ctx.verified_claims = claims  # the auth guard need not verify again
                group = self.reads if request.method in READ_METHODS else self.writes
                kind = "read" if group is self.reads else "write"
                return group, f"user:{claims.user_id}:{kind}"
        return self.public, f"addr:{client_address}"

    async def check(self, item: RateLimitItem, identity: str) -> Verdict | None:
        """Count this request; None when Redis does not answer (the request goes through)."""
        try:
            allowed = await self.limiter.hit(item, identity)
            stats = await self.limiter.get_window_stats(item, identity)
        except Exception as exc:  # Redis away or slow: fail open
            log.debug("rate limit skipped (%s)", type(exc).__name__)
            return None
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, item.amount, max(0, stats.remaining), reset)
