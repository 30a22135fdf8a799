"""Short per-document write locks in Redis.

Why: every state change is one conditional update (filter on the current state), which MongoDB
applies atomically per document, and so does SecantusDB. FerretDB v1 (the fallback engine,
DB_ENGINE=ferretdb) does not: its handler reads the document and writes the whole of it back as
two steps, so two concurrent conditional updates can both "win" and one can undo the other's
change (measured: 56 extra winners in 30 rounds of 5 concurrent findAndModify). On FerretDB,
writers of the same document therefore take this lock around the conditional update
(`WriteLocks`, below; off elsewhere). With Redis down the lock is skipped (fail open) and the
conditional update alone decides, as it does on MongoDB.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

from tq.core.errors import ServiceUnavailable

log = logging.getLogger("tq.locks")


@contextlib.asynccontextmanager
async def document_lock(redis: Redis, key: str, timeout_s: float = 5.0) -> AsyncIterator[None]:
    lock = redis.lock(f"lock:{key}", timeout=timeout_s, blocking_timeout=timeout_s, sleep=0.005)
    try:
        acquired = await lock.acquire()
    except RedisError:
        log.warning("write lock %s skipped: Redis unavailable", key)
        acquired = None
    if acquired is False:
        raise ServiceUnavailable(
            "The resource is busy; try again", code="busy", headers={"Retry-After": "1"}
        )
    try:
        yield
    finally:
        if acquired:
            with contextlib.suppress(LockError, RedisError):
                await lock.release()


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class DocumentLocks:
    """Many document locks at once (bulk jobs): one pipelined round trip to take, one to give
    back. Keys already held by someone else are simply not taken; the caller skips them."""

    def __init__(self, redis: Redis, keys: list[str], ttl_s: float = 30.0) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_ms = int(ttl_s * 1000)
        self.token = os.urandom(8).hex()
        self.held: list[str] = []

    async def __aenter__(self) -> list[str]:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in self.keys:
                    pipe.set(f"lock:{key}", self.token, nx=True, px=self.ttl_ms)
                taken = await pipe.execute()
        except RedisError:
            log.warning("bulk write locks skipped: Redis unavailable")
            return list(self.keys)
        self.held = [key for key, ok in zip(self.keys, taken, strict=True) if ok]
        return list(self.held)

    async def __aexit__(self, *exc: object) -> None:
        if not self.held:
            return
        with contextlib.suppress(RedisError):
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in self.held:
                    pipe.eval(_RELEASE, 1, f"lock:{key}", self.token)
                await pipe.execute()


class _AllHeld:
    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    async def __aenter__(self) -> list[str]:
        return list(self.keys)

    async def __aexit__(self, *exc: object) -> None:
        return None


class WriteLocks:
    """The write locks around conditional updates, switched by DOCUMENT_LOCKS.

    They exist for FerretDB v1 alone (see above). On MongoDB and SecantusDB a conditional
    update is atomic and is the guard by itself, so by default these are no-ops and cost no
    Redis round trip. (A read-modify-write that is not one conditional update, such as storing
    a Stream message version, takes `document_lock` directly, on every engine.)"""

    def __init__(self, redis: Redis, enabled: bool) -> None:
        self.redis = redis
        self.enabled = enabled

    def hold(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        return document_lock(self.redis, key) if self.enabled else contextlib.nullcontext()

    def hold_many(self, keys: list[str]) -> contextlib.AbstractAsyncContextManager[list[str]]:
        """The keys held (all of them when the locks are off)."""
        return DocumentLocks(self.redis, keys) if self.enabled else _AllHeld(keys)
