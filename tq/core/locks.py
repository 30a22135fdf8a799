"""Short per-document write locks in Redis.

Why: every state change is one conditional update (filter on the current state), which MongoDB
applies atomically per document. FerretDB v1 (the embedded default) does not: its handler reads
the document and writes the whole of it back as two steps, so two concurrent conditional updates
can both "win" and one can undo the other's change (measured: 56 extra winners in 30 rounds of 5
concurrent findAndModify). Writers of the same document therefore take this lock around the
conditional update; on MongoDB it is redundant, never wrong. With Redis down the lock is skipped
(fail open) and the conditional update alone decides, as it does on MongoDB.
"""

from __future__ import annotations

import contextlib
import logging
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
