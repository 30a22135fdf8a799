"""Unit tests of tq.notifications.calendar (pure functions, no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from icalendar import Calendar

from tq.notifications.calendar import build_calendar
from tq.sessions.models import Session
from tq.users.models import UserCard

START = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)


def session(**fields: object) -> Session:
    values: dict[str, object] = {
        "title": "Pairing",
        "created_by": ObjectId(),
        "status": "scheduled",
        "stream_channel_id": "session-x",
        "start_time": START,
        "duration": 50,
    }
    values.update(fields)
    return Session(**values)  # type: ignore[arg-type]


HOST = UserCard(ObjectId(), "Hana", "interviewer", "s1", None, "hana@example.com")


def test_the_event_keeps_its_uid_and_raises_its_sequence() -> None:
    first = session()
    now = datetime.now(UTC)
    request = Calendar.from_ical(
        build_calendar(
            first,
            HOST,
            method="REQUEST",
            app_url="https://app.example.com",
            now=now,
            attendee=("cara@example.com", "Cara"),
        )
    )
    [event] = request.walk("VEVENT")
    assert request["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"session-{first.id}@app.example.com"
    assert event.decoded("DTSTART") == START
    assert event.decoded("DURATION") == timedelta(minutes=50)
    assert str(event["ATTENDEE"]) == "mailto:cara@example.com"
    assert event["ATTENDEE"].params["CN"] == "Cara"
    assert str(event["ORGANIZER"]) == "mailto:hana@example.com"
    moved = first.model_copy(update={"calendar_sequence": 2, "status": "cancelled"})
    cancel = Calendar.from_ical(
        build_calendar(moved, HOST, method="CANCEL", app_url="https://app.example.com", now=now)
    )
    [event2] = cancel.walk("VEVENT")
    assert str(event2["UID"]) == str(event["UID"])
    assert int(str(event2["SEQUENCE"])) == 2 and str(event2["STATUS"]) == "CANCELLED"
    assert "ATTENDEE" not in event2
