"""API rate limits: moving windows kept in Redis, per user (the token's subject) and, for
requests without a token, per client address. Every answer carries RateLimit-Limit/-Remaining/
-Reset; past the limit it is 429 `rate_limited` with Retry-After. Redis down: the limiter steps
aside (fails open) rather than take the API down with it.

One round trip per request: a Lua script counts the hit, reads the window for the headers and,
for a signed-in request, asks whether the token was revoked (the auth guard then need not ask
again). Limits are written as the `limits` library parses them ("600/minute")."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from redis.asyncio import Redis
from sanic import Request

from config import Settings
from tq.core.security import TokenService

log = logging.getLogger("tq.ratelimit")

# Not limited here: health and metrics (probes), the spec, login (its own failure throttle),
# Stream's signed webhook deliveries, and CORS preflights.
SCIM_TOKEN_PREFIX = "tqscim_"  # noqa: S105 - how a SCIM token starts (tq.scim), not a secret
EXEMPT_PREFIXES = ("/api/health", "/metrics", "/docs", "/api/auth/login", "/api/webhooks/stream")
READ_METHODS = {"GET", "HEAD"}

# KEYS[1]: the window, its hits' times newest first (at most `limit` kept); KEYS[2], when
# given: a key whose existence is asked too (a revoked token's). ARGV: now and the window in
# seconds, the limit. Returns {allowed, hits in the window, the oldest of them, exists}.
WINDOW = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local since = now - window
local allowed = 0
local last = redis.call('lindex', KEYS[1], limit - 1)
if not last or tonumber(last) < since then
  redis.call('lpush', KEYS[1], ARGV[1])
  redis.call('ltrim', KEYS[1], 0, limit - 1)
  redis.call('expire', KEYS[1], math.ceil(window))
  allowed = 1
end
local low, high, count, oldest = 0, redis.call('llen', KEYS[1]) - 1, 0, now
while low <= high do
  local mid = math.floor((low + high) / 2)
  local at = tonumber(redis.call('lindex', KEYS[1], mid))
  if at >= since then
    count, oldest, low = mid + 1, at, mid + 1
  else
    high = mid - 1
  end
end
local exists = 0
if KEYS[2] then exists = redis.call('exists', KEYS[2]) end
return {allowed, count, tostring(oldest), exists}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_in_s: int
    # Whether the key asked along exists (None: none was asked).
    exists: bool | None = None


class RateLimits:
    def __init__(self, settings: Settings, tokens: TokenService, redis: Redis) -> None:
        self.enabled = settings.rate_limits_enabled
        self.tokens = tokens
        self.reads = parse(settings.rate_limit_reads)
        self.writes = parse(settings.rate_limit_writes)
        self.public = parse(settings.rate_limit_public)
        self.scim = parse(settings.rate_limit_scim)
        self.sso = parse(settings.rate_limit_sso)
        self.window = redis.register_script(WINDOW)

    def applies_to(self, request: Request) -> bool:
        return (
            self.enabled
            and request.method != "OPTIONS"
            and not request.path.startswith(EXEMPT_PREFIXES)
        )

    def bucket(self, request: Request, client_address: str) -> tuple[RateLimitItem, str]:
        """(limit, identity): a valid token's subject, else the client's address."""
        header = request.headers.get("authorization", "")
        if header[7:].strip().startswith(SCIM_TOKEN_PREFIX) and request.path.startswith("/scim/"):
            # An identity provider provisioning: its own budget per token (its requests come
            # from addresses it shares with its other customers).
            digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
            return self.scim, f"scim:{digest}"
        if request.path.startswith("/api/auth/sso/"):
            # A login is several requests (discover, start, callback, exchange), and a whole
            # office signs in from one address.
            return self.sso, f"sso:{client_address}"
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

    async def check(
        self, item: RateLimitItem, identity: str, also_exists: str | None = None
    ) -> Verdict | None:
        """Count this request, and ask whether `also_exists` exists, in one round trip; None
        when Redis does not answer (the request goes through)."""
        now = time.time()
        window_s = item.get_expiry()
        keys = [f"tq-ratelimit:{identity}:{item.amount}/{window_s}s"]
        try:
            allowed, count, oldest, exists = await self.window(
                keys=keys + ([also_exists] if also_exists else []),
                args=[repr(now), window_s, item.amount],
            )
        except Exception as exc:  # Redis away or slow: fail open
            log.debug("rate limit skipped (%s)", type(exc).__name__)
            return None
        reset = max(1, math.ceil(float(oldest) + window_s - now))
        return Verdict(
            bool(allowed),
            item.amount,
            max(0, item.amount - int(count)),
            reset,
            bool(exists) if also_exists else None,
        )
