"""Unit tests of tq.evaluation.schemas' pure helpers: what an event's data shows."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from tq.evaluation.schemas import shown_event_data
from tq.sessions.models import SessionEventRecord


def _record(type_: str, data: dict[str, object]) -> SessionEventRecord:
    return SessionEventRecord(  # type: ignore[call-arg]
        key="k", session_id=ObjectId(), type=type_, at=datetime(2026, 1, 1, tzinfo=UTC), data=data
    )


def test_a_submitted_scorecards_event_shows_only_its_author() -> None:
    record = _record("scorecard.submitted", {"authorId": "a1", "ratings": {"x": 4}, "note": "n"})
    assert shown_event_data(record) == {"authorId": "a1"}


def test_other_events_show_their_data() -> None:
    data: dict[str, object] = {"userId": "u1", "role": "candidate"}
    assert shown_event_data(_record("member.joined", data)) == data
