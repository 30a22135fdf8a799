"""Accounts: register, log in, change, delete, log out; login throttling in Redis."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time

from bson import ObjectId
from odmantic.exceptions import DuplicateKeyError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from config import Settings
from tq.auth.dependencies import revoked_key
from tq.auth.schemas import LoginIn, RegisterIn, UpdateMeIn
from tq.core.clients import Clients
from tq.core.errors import (
    Conflict,
    Forbidden,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from tq.core.security import PasswordHasher, TokenClaims
from tq.core.time import utcnow
from tq.jobs.registry import DELETE_STREAM_USER, SYNC_USER
from tq.users.events import AccountClosing
from tq.users.models import User

log = logging.getLogger("tq.auth")

INVALID_CREDENTIALS = "Invalid email or password"


class LoginThrottle:
    """Counts failed logins per email and per client address in fixed Redis windows."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.window = settings.login_window_s
        self.limits = {
            "email": settings.login_max_failures,
            "client": settings.login_client_max_failures,
        }

    @staticmethod
    def _key(kind: str, value: str) -> str:
        # Hashed: raw emails and addresses do not sit in Redis key listings.
        return f"auth:fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    async def check(self, email: str, client: str) -> None:
        try:
            for kind, value in (("email", email), ("client", client)):
                key = self._key(kind, value)
                count = int(await self.redis.get(key) or 0)
                if count >= self.limits[kind]:
                    retry_after = max(1, int(await self.redis.ttl(key)))
                    raise TooManyRequests(
                        "Too many failed logins; try again later",
                        code="too_many_attempts",
                        headers={"Retry-After": str(retry_after)},
                    )
        except RedisError:
            # Documented direction: with Redis down logins are not throttled (fail open), so
            # an outage of the limiter does not lock every user out.
            log.warning("login throttle not checked: Redis unavailable")

    async def record_failure(self, email: str, client: str) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for kind, value in (("email", email), ("client", client)):
                    key = self._key(kind, value)
                    pipe.incr(key)
                    pipe.expire(key, self.window, nx=True)
                await pipe.execute()
        except RedisError:
            log.warning("login failure not counted: Redis unavailable")

    async def reset(self, email: str) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.delete(self._key("email", email))


async def register(clients: Clients, hasher: PasswordHasher, data: RegisterIn) -> User:
    user_id = ObjectId()
    user = User(
        id=user_id,
        email=data.email,
        password=await hasher.hash(data.password),
        name=data.name,
        role=data.role,
        stream_id=str(user_id),
    )
    try:
        await clients.engine.save(user)
    except DuplicateKeyError:
        raise Conflict("An account with this email already exists", code="email_taken") from None
    # After the write: if the queue is down the job waits in the outbox, the account stands.
    await clients.queue.enqueue(SYNC_USER, str(user.id))
    return user


async def login(clients: Clients, hasher: PasswordHasher, data: LoginIn, client: str) -> User:
    throttle = LoginThrottle(clients.redis, clients.settings)
    await throttle.check(data.email, client)
    user = await clients.engine.find_one(User, User.email == data.email)
    # Unknown emails are verified against a dummy hash: same answer, about the same time.
    ok, new_hash = await hasher.verify(data.password, user.password if user else None)
    if not ok or user is None:
        await throttle.record_failure(data.email, client)
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    await throttle.reset(data.email)
    if new_hash:
        # Hash parameters changed since this one was made: upgrade it transparently.
        user.password = new_hash
        await clients.engine.save(user)
    return user


async def update_me(clients: Clients, hasher: PasswordHasher, user: User, data: UpdateMeIn) -> bool:
    """Apply a profile change; True when the password changed (old tokens are now void)."""
    changes = data.model_fields_set
    if "password" in changes and data.password is not None:
        ok, _ = await hasher.verify(data.currentPassword or "", user.password)
        if not ok:
            raise Forbidden("The current password is wrong", code="wrong_password")
        user.password = await hasher.hash(data.password)
        # Whole seconds, like JWT iat: tokens issued from the next second on stay valid.
        user.tokens_valid_after = utcnow().replace(microsecond=0)
    if "name" in changes and data.name is not None:
        user.name = data.name
    if "avatar" in changes:
        user.avatar = data.avatar
    if "timezone" in changes:
        user.timezone = data.timezone
    if changes & {"name", "avatar"}:
        user.stream_sync = "pending"
    user.updated_at = utcnow()
    async with clients.locks.hold(f"user:{user.id}"):
        await clients.engine.save(user)
    if changes & {"name", "avatar"}:
        await clients.queue.enqueue(SYNC_USER, str(user.id))
    return "password" in changes


async def delete_me(clients: Clients, hasher: PasswordHasher, user: User, password: str) -> None:
    ok, _ = await hasher.verify(password, user.password)
    if not ok:
        raise Forbidden("The password is wrong", code="wrong_password")
    # Other domains let go of the user first (sessions: hosted open ones cancelled, seats
    # freed); see tq.reactions.
    await clients.events.publish(AccountClosing(user.id))
    await clients.engine.delete(user)
    await clients.queue.enqueue(DELETE_STREAM_USER, user.stream_id)


async def logout(redis: Redis, claims: TokenClaims) -> None:
    ttl = claims.expires_at - int(time.time())
    if ttl <= 0:
        return
    try:
        await redis.set(revoked_key(claims.jti), "1", ex=ttl)
    except RedisError:
        raise ServiceUnavailable(
            "Could not log out right now; try again", code="redis_unavailable"
        ) from None
