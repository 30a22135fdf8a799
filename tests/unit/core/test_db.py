"""Unit tests of tq.core.db: ids from URLs, and the page position filter every keyset page uses."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from tq.core.db import parse_object_id, position_filter

AT = datetime(2026, 12, 2, tzinfo=UTC)


def test_parse_object_id() -> None:
    oid = ObjectId()
    assert parse_object_id(str(oid)) == oid
    assert parse_object_id("nope") is None


def test_one_field_is_one_range_in_the_sort_direction() -> None:
    assert position_filter([("_id", 1)], ["k"]) == {"_id": {"$gt": "k"}}
    assert position_filter([("_id", -1)], ["k"]) == {"_id": {"$lt": "k"}}


def test_two_fields_are_a_branch_per_field_the_earlier_equal() -> None:
    assert position_filter([("createdAt", -1), ("_id", -1)], [AT, "k"]) == {
        "$or": [{"createdAt": {"$lt": AT}}, {"createdAt": AT, "_id": {"$lt": "k"}}]
    }
    assert position_filter([("at", 1), ("_id", 1)], [AT, "k"]) == {
        "$or": [{"at": {"$gt": AT}}, {"at": AT, "_id": {"$gt": "k"}}]
    }


def test_a_shorter_position_names_the_last_fields_of_the_sort() -> None:
    # The leading fields are fixed by the caller's equalities (sessionId), or not paged on.
    assert position_filter([("sessionId", 1), ("_id", -1)], ["k"]) == {"_id": {"$lt": "k"}}
    assert position_filter([("createdAt", 1), ("_id", 1)], ["k"]) == {"_id": {"$gt": "k"}}
