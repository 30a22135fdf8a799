"""Unit tests of tq.sessions.schemas: the session JSON each viewer sees, roles, list params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tq.sessions.models import Session, Status
from tq.sessions.schemas import SessionOut, _comma_list, session_role
from tq.users.models import Role, User, UserCard

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOST, PANEL, CANDIDATE, STRANGER = (ObjectId() for _ in range(4))


def _card(user_id: ObjectId, name: str, role: Role) -> UserCard:
    return UserCard(
        id=user_id,
        name=name,
        role=role,
        stream_id=f"s-{name}",
        avatar=None,
        email=f"{name}@example.com",
    )


CARDS = {
    HOST: _card(HOST, "hana", "interviewer"),
    PANEL: _card(PANEL, "ivan", "interviewer"),
    CANDIDATE: _card(CANDIDATE, "cleo", "candidate"),
}


def _viewer(user_id: ObjectId) -> User:
    return User(id=user_id, email="v@example.com", password="x", name="v", stream_id="s-v")


def _session(status: Status = "scheduled") -> Session:
    return Session(
        title="Pairing",
        created_by=HOST,
        participants=[CANDIDATE],
        interviewers=[PANEL],
        members=[HOST, PANEL, CANDIDATE],
        status=status,
        stream_channel_id="session-abc",
        start_time=START,
    )


def _out(viewer: ObjectId, now: datetime, status: Status = "scheduled") -> SessionOut:
    return SessionOut.of(_session(status), CARDS, _viewer(viewer), join_window_minutes=10, now=now)


def _emails(out: SessionOut) -> dict[str, str | None]:
    people = [out.host, *out.participantsInfo]
    return {person.name: person.email for person in people}


def test_the_host_sees_every_email_and_the_order_of_members() -> None:
    out = _out(HOST, START)
    assert _emails(out) == {
        "hana": "hana@example.com",
        "ivan": "ivan@example.com",
        "cleo": "cleo@example.com",
    }
    assert out.participants == [str(PANEL), str(CANDIDATE)]  # interviewers, then candidates
    assert [p.sessionRole for p in out.participantsInfo] == ["interviewer", "candidate"]
    assert out.host.sessionRole == "host"
    assert out.participant is not None and out.participant.name == "cleo"
    assert out.difficulty == ""
    assert out.opensAt == START - timedelta(minutes=10)


def test_other_members_see_only_their_own_email() -> None:
    assert _emails(_out(CANDIDATE, START)) == {
        "hana": None,
        "ivan": None,
        "cleo": "cleo@example.com",
    }
    assert _emails(_out(PANEL, START))["ivan"] == "ivan@example.com"


def test_a_stranger_sees_no_email_and_no_stream_ids() -> None:
    out = _out(STRANGER, START, status="active")
    assert set(_emails(out).values()) == {None}
    assert (out.streamChannelId, out.callId) == (None, None)


@pytest.mark.parametrize(
    ("now", "status", "shown"),
    [
        (START - timedelta(minutes=10, milliseconds=1), "scheduled", None),
        (START - timedelta(minutes=10), "scheduled", "session-abc"),
        (START - timedelta(days=1), "active", "session-abc"),  # started early
        (START + timedelta(days=1), "completed", "session-abc"),
    ],
)
def test_members_get_stream_ids_once_the_room_is_open(
    now: datetime, status: Status, shown: str | None
) -> None:
    out = _out(CANDIDATE, now, status)
    assert (out.streamChannelId, out.callId) == (shown, shown)


def test_a_deleted_account_is_shown_as_such() -> None:
    out = SessionOut.of(
        _session(),
        {HOST: CARDS[HOST]},
        _viewer(HOST),
        join_window_minutes=10,
        now=START,
    )
    assert out.participant is not None
    assert (out.participant.name, out.participant.streamId, out.participant.email) == (
        "Deleted user",
        "",
        None,
    )


def test_session_role() -> None:
    session = _session()
    assert session_role(session, HOST) == "host"
    assert session_role(session, PANEL) == "interviewer"
    assert session_role(session, CANDIDATE) == "candidate"
    assert session_role(session, STRANGER) is None


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("active, completed", ["active", "completed"]),
        (["active,completed", "scheduled"], ["active", "completed", "scheduled"]),
        (["active", 5, ""], ["active"]),
        (",, ,", []),
        (5, 5),
        (None, None),
    ],
)
def test_comma_list_accepts_repeated_and_comma_separated_values(
    value: object, parsed: object
) -> None:
    assert _comma_list(value) == parsed
