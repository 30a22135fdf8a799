"""MongoDB access: one motor client and ODMantic engine per process, indexes at start-up.

Only what MongoDB 6+ and FerretDB v1 both serve is used: no $lookup (related documents are
loaded with one extra `$in` query), no transactions, no TTL indexes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from motor.motor_asyncio import AsyncIOMotorClient
from odmantic import AIOEngine, Model
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, PyMongoError

from config import Settings
from tq.core.errors import NotFound

log = logging.getLogger("tq.db")

# MongoDB's code for a write a unique index refused (FerretDB reports the same).
DUPLICATE_KEY = 11000

Sort = list[tuple[str, int]]
Document = dict[str, Any]
M = TypeVar("M", bound=Model)


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
    return Engine(client=client, database=settings.mongodb_database)


class Engine(AIOEngine):
    """ODMantic's engine, keeping one motor collection per model: ODMantic builds a new one
    (motor's wrapper around a new pymongo Collection) on every `get_collection`, which showed
    in every request's profile."""

    def __init__(self, client: AsyncIOMotorClient[dict[str, Any]], database: str) -> None:
        super().__init__(client=client, database=database)
        self._collections: dict[str, Any] = {}

    def get_collection(self, model: type[Model]) -> Any:
        name = model.__collection__
        collection = self._collections.get(name)
        if collection is None:
            collection = self._collections[name] = super().get_collection(model)
        return collection


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


# --- idioms every domain uses


def position_filter(sort: Sort, after: Sequence[Any]) -> dict[str, Any]:
    """Documents strictly past the position `after` in `sort` order. `after` holds the values
    of the sort's last `len(after)` fields (the leading ones are fixed by the caller's
    equalities): one range on a single field, else one `$or` branch per field, the earlier
    fields equal."""
    fields = sort[len(sort) - len(after) :]
    branches = []
    for i, (field, direction) in enumerate(fields):
        branch: dict[str, Any] = {
            name: value for (name, _), value in zip(fields[:i], after, strict=False)
        }
        branch[field] = {"$gt" if direction == 1 else "$lt": after[i]}
        branches.append(branch)
    return branches[0] if len(branches) == 1 else {"$or": branches}


async def keyset_page(
    collection: Any,
    model: type[M],
    filter_: dict[str, Any],
    sort: Sort,
    after: Sequence[Any] | None,
    limit: int,
) -> tuple[list[M], bool]:
    """One page in `sort` order past the position `after` (see `position_filter`), and whether
    more follow: one more than `limit` is read to know, never a count."""
    docs, more = await keyset_docs(collection, filter_, sort, after, limit)
    return [model.model_validate_doc(doc) for doc in docs], more


async def keyset_docs(
    collection: Any,
    filter_: dict[str, Any],
    sort: Sort,
    after: Sequence[Any] | None,
    limit: int,
    fields: dict[str, int] | None = None,
) -> tuple[list[Document], bool]:
    """`keyset_page` as stored documents (`fields` of each): for read paths that answer
    straight from documents, without a model per item."""
    if after is not None:
        position = position_filter(sort, after)
        if position.keys() & filter_.keys():
            raise ValueError(f"the page position and the filter both set {position.keys()}")
        filter_ = {**filter_, **position}
    found = await collection.find(filter_, fields).sort(sort).limit(limit + 1).to_list(limit + 1)
    return found[:limit], len(found) > limit


async def insert_new(collection: Any, docs: list[dict[str, Any]]) -> list[Any]:
    """Insert `docs` in one round trip, skipping those whose `_id` is already stored (a retried
    or racing writer put them there); returns the `_id`s this call inserted. Any other error
    is raised."""
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or any(
            error.get("code") != DUPLICATE_KEY for error in errors
        ):
            raise
        skipped = {error["index"] for error in errors}
        return [doc["_id"] for i, doc in enumerate(docs) if i not in skipped]
    return [doc["_id"] for doc in docs]


async def update_owned(
    collection: Any,
    filter_: dict[str, Any],
    update: dict[str, Any],
    not_found: NotFound,
    **options: Any,
) -> dict[str, Any]:
    """Update the one document `filter_` names (its `_id` and its owner) and return it as it now
    is; `not_found` when none matches (someone else's, deleted meanwhile, never there)."""
    doc = await collection.find_one_and_update(
        filter_, update, return_document=ReturnDocument.AFTER, **options
    )
    if doc is None:
        raise not_found
    return dict(doc)
