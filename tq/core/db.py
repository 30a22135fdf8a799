"""MongoDB access: one motor client and ODMantic engine per process, indexes at start-up.

Only what MongoDB 6+ and FerretDB v1 both serve is used: no $lookup (related documents are
loaded with one extra `$in` query), no transactions, no TTL indexes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from motor.motor_asyncio import AsyncIOMotorClient
from odmantic import AIOEngine, Model
from pymongo.errors import PyMongoError

from config import Settings

log = logging.getLogger("tq.db")


def create_engine(settings: Settings, *, socket_timeout_ms: int | None = None) -> AIOEngine:
    """`socket_timeout_ms` bounds one operation; jobs pass their own (longer) limit."""
    timeout = settings.mongodb_timeout_ms
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
        settings.mongodb_uri,
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        # A stalled server must not hang a request forever; long jobs set their own.
        socketTimeoutMS=socket_timeout_ms or max(timeout * 5, 10_000),
        tz_aware=True,
        appname="talent-quotient",
    )
    return AIOEngine(client=client, database=settings.mongodb_database)


async def ensure_indexes(engine: AIOEngine, models: Iterable[type[Model]]) -> None:
    """Create every model's indexes; idempotent, so every process may run it."""
    await engine.configure_database(list(models))


async def ensure_indexes_until_done(
    engine: AIOEngine, models: Iterable[type[Model]], retry_s: float = 2.0
) -> None:
    """Keep trying while MongoDB is down, so the server still starts (and health says down)."""
    models = list(models)
    while True:
        try:
            await ensure_indexes(engine, models)
            log.info("database indexes ready")
            return
        except PyMongoError as exc:
            log.warning("database indexes not created yet (%s); retrying", type(exc).__name__)
            await asyncio.sleep(retry_s)


def parse_object_id(value: str) -> ObjectId | None:
    """An id from a URL or body; None when malformed (callers answer 404: nothing to probe)."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


async def ping(engine: AIOEngine) -> None:
    await engine.client.admin.command("ping")
