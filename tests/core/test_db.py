"""The database idioms of tq.core.db on the run's real database: keyset pages, inserting what
is new in one round trip, and updating an owned document or 404."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pymongo.monitoring
import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from odmantic import AIOEngine, Field, Model
from pymongo.errors import BulkWriteError

from config import Settings
from tq.core.db import insert_new, keyset_docs, keyset_page, update_owned
from tq.core.errors import NotFound


class Item(Model):
    key: str = Field(primary_field=True)
    group: str
    rank: int
    owner: str = "a"

    model_config = {"collection": "db_idiom_items"}


class Inserts(pymongo.monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: pymongo.monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.count += 1

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest.fixture
async def items(engine: AIOEngine) -> AsyncIterator[Any]:
    collection = engine.get_collection(Item)
    await collection.delete_many({})
    yield collection
    await collection.delete_many({})


async def test_keyset_pages_walk_every_document_once_in_order(items: Any) -> None:
    group = uuid.uuid4().hex
    # Equal ranks: the second sort field breaks the ties, as _id does on real pages.
    docs = [
        Item(  # type: ignore[call-arg]
            key=f"k{i:03}", group=group, rank=i // 3
        ).model_dump_doc()
        for i in range(25)
    ]
    await items.insert_many(docs)
    await items.insert_one(
        Item(  # type: ignore[call-arg]
            key="other", group="elsewhere", rank=0
        ).model_dump_doc()
    )
    sort = [("rank", -1), ("_id", -1)]
    seen: list[str] = []
    after = None
    while True:
        page, more = await keyset_page(items, Item, {"group": group}, sort, after, 7)
        seen += [item.key for item in page]
        if not more:
            break
        assert len(page) == 7
        after = [page[-1].rank, page[-1].key]
    expected = sorted(docs, key=lambda d: (d["rank"], d["_id"]), reverse=True)
    assert seen == [d["_id"] for d in expected]
    # The same walk as documents, projected: the same order, only the fields asked for.
    seen, after = [], None
    while True:
        found, more = await keyset_docs(items, {"group": group}, sort, after, 7, {"rank": 1})
        assert all(set(doc) == {"_id", "rank"} for doc in found)
        seen += [doc["_id"] for doc in found]
        if not more:
            break
        after = [found[-1]["rank"], found[-1]["_id"]]
    assert seen == [d["_id"] for d in expected]


async def test_the_engine_keeps_one_collection_per_model(engine: AIOEngine, items: Any) -> None:
    assert engine.get_collection(Item) is items
    await items.insert_one(Item(key="kept", group="g", rank=1).model_dump_doc())  # type: ignore[call-arg]
    # ODMantic's own reads still find what went through the kept collection.
    found = await engine.find_one(Item, Item.key == "kept")
    assert found is not None and found.rank == 1


async def test_keyset_page_refuses_a_position_the_filter_already_sets(items: Any) -> None:
    with pytest.raises(ValueError):
        await keyset_page(items, Item, {"_id": {"$gt": "a"}}, [("_id", 1)], ["b"], 5)


async def test_insert_new_skips_stored_keys_in_one_round_trip(settings: Settings) -> None:
    listener = Inserts()
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
        settings.mongodb_uri, event_listeners=[listener], tz_aware=True
    )
    collection = client[settings.mongodb_database]["db_idiom_items"]
    try:
        await collection.delete_many({})
        await collection.insert_one(
            Item(  # type: ignore[call-arg]
                key="b", group="g", rank=1
            ).model_dump_doc()
        )
        listener.count = 0
        docs = [
            Item(  # type: ignore[call-arg]
                key=k, group="g", rank=0
            ).model_dump_doc()
            for k in ("a", "b", "c", "b")
        ]
        assert await insert_new(collection, docs) == ["a", "c"]
        assert listener.count == 1
        assert await insert_new(collection, []) == []
        assert sorted(await collection.distinct("_id")) == ["a", "b", "c"]
        # Another refusal than a duplicate key is not swallowed (no operator in an _id).
        with pytest.raises(BulkWriteError) as refused:
            await insert_new(collection, [{"_id": {"$gt": 1}}, {"_id": "b"}])
        assert {e["code"] for e in refused.value.details["writeErrors"]} == {2, 11000}
    finally:
        await collection.delete_many({})
        client.close()


async def test_update_owned_updates_the_owners_document_and_404s_the_rest(items: Any) -> None:
    await items.insert_one(
        Item(  # type: ignore[call-arg]
            key="mine", group="g", rank=1, owner="a"
        ).model_dump_doc()
    )
    missing = NotFound("Item not found", code="item_not_found")
    updated = await update_owned(
        items, {"_id": "mine", "owner": "a"}, {"$set": {"rank": 2}}, missing
    )
    assert updated["rank"] == 2
    for filter_ in ({"_id": "mine", "owner": "b"}, {"_id": "gone", "owner": "a"}):
        with pytest.raises(NotFound) as refused:
            await update_owned(items, filter_, {"$set": {"rank": 9}}, missing)
        assert refused.value is missing
    assert (await items.find_one({"_id": "mine"}))["rank"] == 2
