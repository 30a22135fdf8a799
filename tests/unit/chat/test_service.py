"""Unit tests of tq.chat.service (pure functions, no services)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId

from tq.chat.service import decode_cursor, encode_cursor
from tq.core.errors import BadRequest


def test_cursor_round_trips_and_refuses_garbage() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)
    at = (moment, ObjectId())
    assert decode_cursor(encode_cursor(at)) == at
    for bad in ("", "not-base64!", "bm90LWEtY3Vyc29y", encode_cursor(at)[:-3]):
        with pytest.raises(BadRequest):
            decode_cursor(bad)
