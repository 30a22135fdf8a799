"""Unit tests of tq.sessions.service: host moves, completion fields, start time bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from config import Settings
from tq.core.errors import BadRequest
from tq.sessions.models import Session
from tq.sessions.service import _host_move, check_start_time, completion_fields

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _session(start: datetime, duration: int | None) -> Session:
    return Session(
        title="t",
        created_by=ObjectId(),
        status="active",
        stream_channel_id="session-x",
        start_time=start,
        duration=duration,
    )


def test_start_time_may_be_at_most_the_configured_days_ahead(settings: Settings) -> None:
    check_start_time(settings, None, NOW)
    check_start_time(settings, NOW - timedelta(days=1), NOW)
    check_start_time(settings, NOW + timedelta(days=730), NOW)
    with pytest.raises(BadRequest) as caught:
        check_start_time(settings, NOW + timedelta(days=730, milliseconds=1), NOW)
    assert caught.value.code == "start_time_out_of_range"
    assert caught.value.message == "startTime is more than 730 days ahead"
    assert caught.value.details == [{"field": "startTime", "problem": "too far ahead"}]


@pytest.mark.parametrize(
    ("ran", "minutes"),
    [
        (timedelta(minutes=10, seconds=30), 11),  # rounded up
        (timedelta(minutes=10), 10),
        (timedelta(seconds=5), 1),
        (timedelta(0), 1),  # at least one minute
    ],
)
def test_completion_gives_an_unset_duration_the_minutes_run(ran: timedelta, minutes: int) -> None:
    assert completion_fields(_session(NOW, None), NOW + ran) == {
        "endTime": NOW + ran,
        "duration": minutes,
    }


def test_completion_keeps_a_given_duration() -> None:
    assert completion_fields(_session(NOW, 45), NOW + timedelta(hours=2)) == {
        "endTime": NOW + timedelta(hours=2)
    }


def test_host_moves() -> None:
    assert _host_move("active", NOW, True) == {"$set": {"status": "active", "startTime": NOW}}
    cancelled = {"$set": {"status": "cancelled", "endTime": NOW}, "$inc": {"calendarSequence": 1}}
    assert _host_move("cancelled", NOW, True) == cancelled
    assert _host_move("cancelled", NOW, False) == cancelled
    assert _host_move("completed", NOW, False) == {"$set": {"status": "completed", "endTime": NOW}}


def test_completing_with_a_pipeline_sets_the_duration_in_the_same_update() -> None:
    minutes = {"$ceil": {"$divide": [{"$subtract": [NOW, "$startTime"]}, 60_000]}}
    assert _host_move("completed", NOW, True) == [
        {
            "$set": {
                "status": "completed",
                "endTime": NOW,
                "duration": {"$ifNull": ["$duration", {"$toInt": {"$max": [1, minutes]}}]},
                "updatedAt": NOW,
            }
        }
    ]
