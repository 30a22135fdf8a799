"""Unit tests of tq.chat.store: Stream webhook times and channel ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tq.chat.store import _parse_time, channel_of


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2026-03-01T12:00:00.123456Z", datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2026-03-01T12:00:00.123456789Z", datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),  # naive: UTC
        ("", None),
        ("yesterday", None),
        (None, None),
        (1772366400, None),
    ],
)
def test_parse_time_reads_iso_times_to_the_millisecond(value: object, parsed: datetime) -> None:
    assert _parse_time(value) == parsed


@pytest.mark.parametrize(
    ("event", "channel"),
    [
        ({"channel_id": "session-1", "cid": "messaging:other"}, "session-1"),
        ({"cid": "messaging:session-2"}, "session-2"),
        ({"cid": "messaging:a:b"}, "a:b"),
        ({"channel_id": 5, "cid": "messaging:session-3"}, "session-3"),
        ({"cid": "no-type"}, None),
        ({}, None),
    ],
)
def test_channel_id_of_an_event(event: dict[str, Any], channel: str | None) -> None:
    assert channel_of(event) == channel
