"""Unit tests of tq.core.time (pure functions, no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pydantic
import pytest

from tq.core.schemas import Body, UtcDatetime
from tq.core.time import to_millis


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
