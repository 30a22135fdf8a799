"""Unit tests of tq.evaluation.service: score summaries, event cursors, run positions."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from tq.collab.history import Step
from tq.evaluation.models import Recommendation, Scorecard
from tq.evaluation.service import decode_event_cursor, event_cursor, run_positions, summarize
from tq.runner.models import CodeRun
from tq.sessions.models import Session, SessionEventRecord

SESSION_ID = ObjectId("65f0a0a0a0a0a0a0a0a0a0a0")
AT = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)  # 1772366400.250 s after the epoch


def _card(ratings: dict[str, int], recommendation: Recommendation | None) -> Scorecard:
    author = ObjectId()
    return Scorecard(  # type: ignore[call-arg]
        key=f"{SESSION_ID}:{author}",
        session_id=SESSION_ID,
        author_id=author,
        ratings=ratings,
        recommendation=recommendation,
        status="submitted",
    )


def test_summarize_means_counts_and_recommendations() -> None:
    cards = [
        _card({"problem_solving": 3, "code_quality": 4, "extra": 1}, "yes"),
        _card({"problem_solving": 4, "code_quality": 2}, "yes"),
        _card({"problem_solving": 4}, "strong_no"),
        _card({}, None),
    ]
    summary = summarize(["problem_solving", "code_quality", "testing"], cards)
    assert summary.submitted == 4
    assert {name: (c.mean, c.count) for name, c in summary.criteria.items()} == {
        "problem_solving": (3.67, 3),  # 11 / 3
        "code_quality": (3.0, 2),
        "testing": (None, 0),  # nobody rated it
    }
    assert summary.recommendations.model_dump() == {
        "strong_no": 1,
        "no": 0,
        "yes": 2,
        "strong_yes": 0,
    }


def test_summarize_of_no_cards() -> None:
    summary = summarize(["testing"], [])
    assert summary.submitted == 0 and summary.criteria["testing"].mean is None
    assert sum(summary.recommendations.model_dump().values()) == 0


def _session() -> Session:
    return Session(
        id=SESSION_ID,
        title="t",
        created_by=ObjectId(),
        status="active",
        stream_channel_id=f"session-{SESSION_ID}",
        start_time=AT,
    )


def _record(event_id: str, at: datetime) -> SessionEventRecord:
    return SessionEventRecord(  # type: ignore[call-arg]
        key=f"{SESSION_ID}:{event_id}", session_id=SESSION_ID, type="created", at=at
    )


def test_event_cursor_is_milliseconds_and_event_id() -> None:
    assert event_cursor(_record("evt_1", AT)) == "1772366400250_evt_1"
    # a naive time (as a driver may return it) is UTC
    assert event_cursor(_record("e", AT.replace(tzinfo=None))) == "1772366400250_e"


def test_event_cursor_round_trips() -> None:
    record = _record("65f0b1b1b1b1b1b1b1b1b1b1", AT)
    assert decode_event_cursor(_session(), event_cursor(record)) == (AT, record.key)
    assert decode_event_cursor(_session(), "0_a_b") == (
        datetime(1970, 1, 1, tzinfo=UTC),
        f"{SESSION_ID}:a_b",
    )


def _step(position: int, update_id: ObjectId) -> Step:
    return Step(
        position=position,
        update_id=update_id,
        at=AT,
        author_id=None,
        inserted=1,
        deleted=0,
        length=position,
    )


def _run(code_update_id: ObjectId | None) -> CodeRun:
    return CodeRun(
        session_id=SESSION_ID,
        user_id=ObjectId(),
        language="python",
        version="3.11",
        source="print(1)",
        code_update_id=code_update_id,
    )


def test_run_positions_place_runs_at_the_state_they_ran() -> None:
    first, second = ObjectId(), ObjectId()
    steps = [_step(1, first), _step(2, second)]
    runs = [_run(second), _run(None), _run(first), _run(ObjectId())]
    assert run_positions(steps, runs) == [2, None, 1, None]
    assert run_positions([], []) == []
