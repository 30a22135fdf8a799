"""Unit tests of tq.sessions.queries: list filters, when the room opens. Who may join is a
query (JOINABLE), tested on the database in tests/sessions/test_queries.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId

from tq.sessions.models import Session, Status, Visibility
from tq.sessions.queries import (
    TooEarly,
    check_room_open,
    is_member,
    list_filter,
    panel_role,
)
from tq.sessions.schemas import ListSessionsQuery
from tq.users.models import User


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


def _session(
    status: Status = "scheduled",
    visibility: Visibility = "open",
    seats_left: int = 1,
    start: datetime | None = None,
) -> Session:
    return Session(
        title="t",
        created_by=ObjectId(),
        status=status,
        visibility=visibility,
        seats_left=seats_left,
        stream_channel_id="session-x",
        start_time=start or datetime(2100, 1, 1, 12, 0, tzinfo=UTC),
    )


def test_the_room_of_a_scheduled_session_opens_the_join_window_before_its_start() -> None:
    session = _session()  # starts 2100-01-01 12:00 UTC
    check_room_open(session, 10, datetime(2100, 1, 1, 11, 50, tzinfo=UTC))
    check_room_open(session, 10, datetime(2100, 1, 1, 13, 0, tzinfo=UTC))
    with pytest.raises(TooEarly) as caught:
        check_room_open(session, 10, datetime(2100, 1, 1, 11, 49, 59, tzinfo=UTC))
    error = caught.value
    assert (error.status_code, error.code) == (409, "too_early")
    assert error.message == "The room opens at 2100-01-01T11:50:00Z"
    assert error.extra == {"opensAt": "2100-01-01T11:50:00Z"}
    assert error.headers["Retry-After"] == "1"  # from the moment asked about, not the clock


def test_a_started_session_is_open_whatever_its_start_time() -> None:
    check_room_open(_session(status="active"), 10, datetime(2000, 1, 1, tzinfo=UTC))


def test_too_early_says_when_to_retry() -> None:
    session = _session()  # starts 2100-01-01 12:00 UTC: the room opens at 11:50
    with pytest.raises(TooEarly) as caught:
        check_room_open(session, 10, datetime(2100, 1, 1, 11, 0, tzinfo=UTC))
    assert caught.value.headers["Retry-After"] == "3000"  # 50 minutes


def test_members_and_the_panel() -> None:
    host, interviewer, candidate, stranger = (ObjectId() for _ in range(4))
    session = _session()
    session.created_by = host
    session.interviewers = [interviewer]
    session.participants = [candidate]
    session.members = [host, interviewer, candidate]

    def user(user_id: ObjectId) -> User:
        return User(id=user_id, email="u@x", name="U", password="h", stream_id="s")

    assert [is_member(session, user(u)) for u in (host, interviewer, candidate, stranger)] == [
        True,
        True,
        True,
        False,
    ]
    assert [panel_role(session, user(u)) for u in (host, interviewer, candidate, stranger)] == [
        True,
        True,
        False,
        False,
    ]
