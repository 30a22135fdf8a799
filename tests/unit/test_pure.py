"""Pure functions, tested without servers: cursors, backoff, the spec conversion, the session
list filter, time and date-time parsing, and output judging."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pydantic
import pytest
from bson import ObjectId

from tq.chat.models import ChatMessage
from tq.chat.service import decode_cursor, encode_cursor
from tq.core.db import parse_object_id
from tq.core.errors import BadRequest
from tq.core.openapi import to_openapi30
from tq.core.schemas import Body, UtcDatetime
from tq.core.time import to_millis
from tq.problems.bank import outputs_match
from tq.sessions.queries import list_filter
from tq.sessions.schemas import ListSessionsQuery
from tq.users.models import User
from workers.jobs import retry_delay


def test_cursor_round_trips_and_refuses_garbage() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)
    message = ChatMessage(session_id=ObjectId(), key="k", created_at=moment)
    assert decode_cursor(encode_cursor(message)) == (moment, message.id)
    for bad in ("", "not-base64!", "bm90LWEtY3Vyc29y", encode_cursor(message)[:-3]):
        with pytest.raises(BadRequest):
            decode_cursor(bad)


def test_retry_delay_grows_with_jitter_and_honours_retry_after() -> None:
    random.seed(7)
    for attempt in range(8):
        ceiling = min(60.0, 1.0 * 2**attempt)
        delays = [retry_delay(attempt, 1.0, 60.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 1  # jittered, not fixed
    assert retry_delay(0, 1.0, 60.0, retry_after=30.0) >= 30.0


def test_to_openapi30_rewrites_null_alternatives_and_const() -> None:
    assert to_openapi30({"anyOf": [{"type": "string"}, {"type": "null"}]}) == {
        "type": "string",
        "nullable": True,
    }
    # 3.0.3 reads `nullable` only beside a `type`: "the object, or null" as strict validators
    # read it.
    assert to_openapi30({"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}) == {
        "anyOf": [{"$ref": "#/x"}, {"type": "object", "nullable": True, "enum": [None]}],
    }
    assert to_openapi30({"anyOf": [{"enum": ["a"]}, {"type": "null"}]})["enum"] == ["a", None]
    assert to_openapi30({"const": "x"}) == {"enum": ["x"]}
    nested = to_openapi30({"properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}})
    assert nested["properties"]["a"] == {"type": "integer", "nullable": True}


def test_session_list_filter_by_scope() -> None:
    viewer = User(email="a@example.com", password="x", name="A", role="candidate", stream_id="s")
    mine = list_filter(viewer, ListSessionsQuery.model_validate({"status": "active,completed"}))
    assert mine == {"members": viewer.id, "status": {"$in": ["active", "completed"]}}
    open_ = list_filter(
        viewer, ListSessionsQuery.model_validate({"scope": "open", "status": "completed,active"})
    )
    # "open" never lists final sessions, whatever status is asked for.
    assert open_["status"] == {"$in": ["active"]} and open_["members"] == {"$ne": viewer.id}
    searched = list_filter(viewer, ListSessionsQuery.model_validate({"q": "a.b"}))
    assert searched["title"] == {"$regex": r"a\.b", "$options": "i"}


def test_to_millis_and_utc_datetimes() -> None:
    local = datetime(2026, 1, 1, 10, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert to_millis(local) == datetime(2026, 1, 1, 8, 0, 0, 999000, tzinfo=UTC)
    assert to_millis(datetime(2026, 1, 1)).tzinfo == UTC

    class Moment(Body):
        at: UtcDatetime

    assert Moment.model_validate({"at": "2026-01-31T09:30:00Z"}).at.tzinfo == UTC
    for bad in (1700000000, "1700000000", "2026-01-31", "yesterday"):
        with pytest.raises(pydantic.ValidationError):
            Moment.model_validate({"at": bad})


def test_body_is_strict_and_closed() -> None:
    class Seats(Body):
        seats: int

    assert Seats.model_validate({"seats": 3}).seats == 3
    for bad in ({"seats": "3"}, {"seats": 3, "extra": 1}, {}):
        with pytest.raises(pydantic.ValidationError):
            Seats.model_validate(bad)


def test_parse_object_id() -> None:
    oid = ObjectId()
    assert parse_object_id(str(oid)) == oid
    assert parse_object_id("nope") is None


def test_outputs_match_by_lines() -> None:
    assert outputs_match("1\n2  \n\n", "1\n2\n")
    assert not outputs_match("1\n3\n", "1\n2\n")
    assert not outputs_match("12\n", "1\n2\n")
