"""The one way handlers require a signed-in user (optionally with a role)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sanic import Request

from tq.core.errors import Forbidden, Unauthorized
from tq.core.security import TokenClaims, bearer_token
from tq.users.models import Role, User
from tq.users.service import get_user

log = logging.getLogger("tq.auth")
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def revoked_key(jti: str) -> str:
    return f"auth:revoked:{jti}"


async def is_revoked(redis: Redis, jti: str) -> bool:
    try:
        return bool(await redis.exists(revoked_key(jti)))
    except RedisError:
        # Documented direction: with Redis down, signed unexpired tokens are accepted (reads
        # keep working) and logout answers 503, so no revocation is silently dropped.
        log.warning("token revocation not checked: Redis unavailable")
        return False


async def authenticate(request: Request, *, basic: bool = False) -> tuple[User, TokenClaims]:
    # The rate limiter may have verified this very token already (request.ctx.verified_claims).
    claims = getattr(request.ctx, "verified_claims", None) or request.app.ctx.tokens.verify(
        bearer_token(request.headers.get("authorization"), basic=basic)
    )
    return await account_of(request, claims)


async def authenticate_token(request: Request, token: str) -> tuple[User, TokenClaims]:
    """The same checks for a token given otherwise than in a header (a WebSocket's query:
    browsers cannot set headers on one)."""
    if not token:
        raise Unauthorized()
    return await account_of(request, request.app.ctx.tokens.verify(token))


async def account_of(request: Request, claims: TokenClaims) -> tuple[User, TokenClaims]:
    # The guard runs around handlers of every shape, so it reads the app's clients itself;
    # handlers get theirs injected by type.
    ctx = request.app.ctx
    # One Redis and one MongoDB round trip, at the same time: the request waits for the slower.
    revoked, user = await asyncio.gather(
        is_revoked(ctx.clients.redis, claims.jti), get_user(ctx.clients.engine, claims.user_id)
    )
    if revoked:
        raise Unauthorized("Token has been revoked")
    if user is None:
        raise Unauthorized("Account no longer exists")
    if user.tokens_valid_after and claims.issued_at < int(user.tokens_valid_after.timestamp()):
        raise Unauthorized("Token was issued before the password changed")
    return user, claims


def authenticated(role: Role | None = None, *, basic: bool = False) -> Callable[[Handler], Handler]:
    """`@authenticated()` or `@authenticated("interviewer")`: sets request.ctx.user.
    `basic=True` also takes the token as a Basic password (see `bearer_token`)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> Any:
            user, claims = await authenticate(request, basic=basic)
            if role is not None and user.role != role:
                raise Forbidden(f"Only a {role} may do this")
            request.ctx.user = user
            request.ctx.token_claims = claims
            return await handler(request, *args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def current_user(request: Request) -> User:
    user: User = request.ctx.user
    return user
