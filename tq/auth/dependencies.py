"""The one way handlers require a signed-in user (optionally with a role): by the type of a
parameter, injected by sanic-ext."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NewType

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sanic import Request

from tq.core.errors import Forbidden, Unauthorized
from tq.core.security import TokenClaims, bearer_token
from tq.users.models import User
from tq.users.service import get_user

log = logging.getLogger("tq.auth")


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
    # The rate limiter may have asked Redis already, for this very token, in its own round trip.
    jti, known = getattr(request.ctx, "revocation", (None, None))
    if jti == claims.jti and known is not None:
        revoked, user = known, await get_user(ctx.clients.engine, claims.user_id)
    else:
        # One Redis and one MongoDB round trip at the same time: the request waits for the slower.
        revoked, user = await asyncio.gather(
            is_revoked(ctx.clients.redis, claims.jti),
            get_user(ctx.clients.engine, claims.user_id),
        )
    if revoked:
        raise Unauthorized("Token has been revoked")
    if user is None:
        raise Unauthorized("Account no longer exists")
    if user.tokens_valid_after and claims.issued_at < int(user.tokens_valid_after.timestamp()):
        # The password changed, or an identity provider deactivated the account, since.
        raise Unauthorized("Token was issued before the account's tokens were revoked")
    return user, claims


# The signed-in user, injected by type (`viewer: CurrentUser`; registered in tq.app): a handler
# that names one answers 401 without a valid, unrevoked token of an existing account, before
# its body runs. PistonUser also takes the token as a Basic password (Piston clients send it
# so); CurrentInterviewer is 403 for another role; CurrentClaims are the token's claims.
CurrentUser = NewType("CurrentUser", User)
PistonUser = NewType("PistonUser", User)
CurrentInterviewer = NewType("CurrentInterviewer", User)
CurrentClaims = NewType("CurrentClaims", TokenClaims)


async def _signed_in(request: Request, *, basic: bool = False) -> tuple[User, TokenClaims]:
    # Once per request, whichever of the types above the handler names.
    signed_in: tuple[User, TokenClaims] | None = getattr(request.ctx, "signed_in", None)
    if signed_in is None:
        signed_in = await authenticate(request, basic=basic)
        request.ctx.signed_in = signed_in
    return signed_in


async def current_user(request: Request) -> CurrentUser:
    user, _ = await _signed_in(request)
    return CurrentUser(user)


async def piston_user(request: Request) -> PistonUser:
    user, _ = await _signed_in(request, basic=True)
    return PistonUser(user)


async def current_interviewer(request: Request) -> CurrentInterviewer:
    user, _ = await _signed_in(request)
    if user.role != "interviewer":
        raise Forbidden("Only a interviewer may do this")
    return CurrentInterviewer(user)


async def current_claims(request: Request) -> CurrentClaims:
    _, claims = await _signed_in(request)
    return CurrentClaims(claims)


DEPENDENCIES: tuple[tuple[Any, Callable[[Request], Awaitable[Any]]], ...] = (
    (CurrentUser, current_user),
    (PistonUser, piston_user),
    (CurrentInterviewer, current_interviewer),
    (CurrentClaims, current_claims),
)
