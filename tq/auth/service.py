"""Accounts: register, log in, change, delete, log out; login throttling in Redis."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import secrets
import time

from bson import ObjectId
from odmantic.exceptions import DuplicateKeyError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from config import Settings
from tq.auth.dependencies import revoked_key
from tq.auth.events import PasswordLoginVerified
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
    """Password guesses counted in fixed Redis windows (LOGIN_WINDOW_S), so that nobody can
    guess for long and nobody can lock out someone else:
    - failures per (email, client address): LOGIN_MAX_FAILURES; a stranger's failures lock
      only the stranger out of that account, never its owner elsewhere;
    - failures per client address (any email): LOGIN_CLIENT_MAX_FAILURES;
    - failures per email from everywhere: LOGIN_EMAIL_MAX_FAILURES, far above the others (a
      guess spread over many addresses);
    - attempts per client address, successful ones included: LOGIN_CLIENT_MAX_ATTEMPTS;
    - wrong current passwords per account (PATCH /me, DELETE /me): LOGIN_MAX_FAILURES."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.window = settings.login_window_s
        self.limits = {
            "pair": settings.login_max_failures,
            "client": settings.login_client_max_failures,
            "email": settings.login_email_max_failures,
            "attempt": settings.login_client_max_attempts,
            "account": settings.login_max_failures,
        }

    @staticmethod
    def _key(kind: str, value: str) -> str:
        # Hashed: raw emails and addresses do not sit in Redis key listings.
        return f"auth:fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    @staticmethod
    def _client(client: str) -> str:
        """An IPv6 client is its /64: one host holds a whole /64, not one address of it."""
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return client
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    async def _take(self, counters: list[tuple[str, str]], message: str) -> None:
        """Count this attempt on every counter first, in one round trip, then refuse it when
        any is past its limit: a burst of concurrent guesses is counted before any of them is
        verified (a check-then-count would let the whole burst through)."""
        keys = [self._key(kind, value) for kind, value in counters]
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.incr(key)
                    pipe.expire(key, self.window, nx=True)
                    pipe.ttl(key)
                answers = await pipe.execute()
        except RedisError:
            # Documented direction: with Redis down logins are not throttled (fail open), so
            # an outage of the limiter does not lock every user out.
            log.warning("login throttle not checked: Redis unavailable")
            return
        for index, (kind, _) in enumerate(counters):
            count, ttl = answers[3 * index], answers[3 * index + 2]
            if int(count) > self.limits[kind]:
                raise TooManyRequests(
                    message,
                    code="too_many_attempts",
                    headers={"Retry-After": str(max(1, int(ttl)))},
                )

    async def _give_back(self, counters: list[tuple[str, str]], *, drop: str | None) -> None:
        """A right password: its attempt was no failure (the attempts counter keeps it)."""
        with contextlib.suppress(RedisError):
            async with self.redis.pipeline(transaction=False) as pipe:
                for kind, value in counters:
                    if kind == drop:
                        pipe.delete(self._key(kind, value))
                    else:
                        pipe.decr(self._key(kind, value))
                await pipe.execute()

    def _login_failures(self, email: str, client: str) -> list[tuple[str, str]]:
        client = self._client(client)
        return [("pair", f"{email}|{client}"), ("client", client), ("email", email)]

    async def begin(self, email: str, client: str) -> None:
        """Before a login is verified: counted as a failure and as an attempt until it
        succeeds; 429 past any limit."""
        await self._take(
            [*self._login_failures(email, client), ("attempt", self._client(client))],
            "Too many login attempts; try again later",
        )

    async def succeeded(self, email: str, client: str) -> None:
        await self._give_back(self._login_failures(email, client), drop="pair")

    async def begin_account(self, user_id: str) -> None:
        await self._take(
            [("account", user_id)], "Too many wrong passwords for this account; try again later"
        )

    async def account_succeeded(self, user_id: str) -> None:
        await self._give_back([("account", user_id)], drop=None)


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


async def create_provisioned(
    clients: Clients, hasher: PasswordHasher, email: str, name: str, org_id: ObjectId
) -> User:
    """An account made by an organization's identity provider (single sign-on's first login,
    or SCIM). Its password is random and never shown: it signs in through the provider."""
    user_id = ObjectId()
    user = User(
        id=user_id,
        email=email,
        password=await hasher.hash(secrets.token_urlsafe(32)),
        name=name,
        role="interviewer",
        stream_id=str(user_id),
        provisioned_by=org_id,
    )
    try:
        await clients.engine.save(user)
    except DuplicateKeyError:
        raise Conflict("An account with this email already exists", code="email_taken") from None
    await clients.queue.enqueue(SYNC_USER, str(user.id))
    return user


async def verify_password(
    clients: Clients, hasher: PasswordHasher, data: LoginIn, client: str
) -> tuple[User, str | None]:
    """The account of a right email and password, throttled as logins are; and its hash
    again when the parameters changed since it was made."""
    throttle = LoginThrottle(clients.redis, clients.settings)
    await throttle.begin(data.email, client)
    user = await clients.engine.find_one(User, User.email == data.email)
    # Unknown emails are verified against a dummy hash: same answer, about the same time.
    ok, new_hash = await hasher.verify(data.password, user.password if user else None)
    if not ok or user is None:
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    await throttle.succeeded(data.email, client)
    return user, new_hash


async def discard_provisioned(clients: Clients, user: User) -> None:
    """An account just made for a provisioning that could not finish (no seat, a race): it
    goes, with its Stream user."""
    await clients.engine.delete(user)
    await clients.queue.enqueue(DELETE_STREAM_USER, user.stream_id)


async def login(clients: Clients, hasher: PasswordHasher, data: LoginIn, client: str) -> User:
    user, new_hash = await verify_password(clients, hasher, data, client)
    # Refused here when an organization of the account enforces single sign-on (tq.sso).
    await clients.events.publish(PasswordLoginVerified(user.id, user.email))
    if new_hash:
        # Hash parameters changed since this one was made: upgrade it transparently.
        user.password = new_hash
        await clients.engine.save(user)
    return user


async def current_password(
    clients: Clients, hasher: PasswordHasher, user: User, password: str
) -> None:
    """The account's own password, asked again before a change: guesses are throttled per
    account like logins (a stolen token must not become a password oracle)."""
    throttle = LoginThrottle(clients.redis, clients.settings)
    await throttle.begin_account(str(user.id))
    ok, _ = await hasher.verify(password, user.password)
    if not ok:
        raise Forbidden("The current password is wrong", code="wrong_password")
    await throttle.account_succeeded(str(user.id))


async def update_me(clients: Clients, hasher: PasswordHasher, user: User, data: UpdateMeIn) -> bool:
    """Apply a profile change; True when the password changed (old tokens are now void)."""
    changes = data.model_fields_set
    if "password" in changes and data.password is not None:
        await current_password(clients, hasher, user, data.currentPassword or "")
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
    await current_password(clients, hasher, user, password)
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
