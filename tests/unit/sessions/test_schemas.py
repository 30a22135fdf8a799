"""Unit tests of tq.sessions.schemas: the session JSON each viewer sees, roles, list params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bson.tz_util
import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from sanic.helpers import json_dumps

from tq.core.schemas import dump
from tq.sessions.models import Session, Status
from tq.sessions.schemas import SHOWN_FIELDS, SessionOut, _comma_list, session_role
from tq.users.models import Role, User, UserCard

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = START + timedelta(days=1)
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


# --- a session's JSON straight from its document equals the JSON through the model

_utc = bson.tz_util.utc
# As MongoDB hands them out: milliseconds, and its own UTC tzinfo.
_moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(_utc)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
_text = st.text(max_size=12)  # any unicode: emoji, U+2028, NUL, right-to-left marks
_people = st.lists(st.sampled_from([HOST, PANEL, CANDIDATE, STRANGER, ObjectId()]), max_size=3)


@st.composite
def _documents(draw: st.DrawFn) -> dict[str, object]:
    doc: dict[str, object] = {
        "_id": ObjectId(),
        "title": draw(_text),
        "createdBy": draw(st.sampled_from([HOST, PANEL, ObjectId()])),
        "status": draw(st.sampled_from(["scheduled", "active", "completed", "cancelled"])),
        "streamChannelId": "session-" + draw(st.text("abc123", min_size=1, max_size=8)),
        "startTime": draw(_moments),
    }
    optional: dict[str, st.SearchStrategy[object]] = {
        "description": st.none() | _text,
        "problemId": st.none() | _text,
        "problem": st.none() | _text,
        "difficulty": st.none() | st.sampled_from(["easy", "medium", "hard"]),
        "language": st.sampled_from(["python", "javascript", "java", "cpp"]),
        "participants": _people,
        "interviewers": _people,
        "members": _people,
        "maxParticipants": st.integers(1, 10),
        "seatsLeft": st.integers(0, 10),
        "visibility": st.sampled_from(["open", "invite_only"]),
        "streamSync": st.sampled_from(["pending", "ok"]),
        "endTime": st.none() | _moments,
        "duration": st.none() | st.integers(1, 600),
        "createdAt": _moments,
        "updatedAt": _moments,
    }
    for key, values in optional.items():
        # Fields with a default factory are always stored (ODMantic requires them back).
        if draw(st.booleans()) or key in ("createdAt", "updatedAt", "participants", "members"):
            doc[key] = draw(values)
    return doc


@given(
    doc=_documents(),
    viewer=st.sampled_from([HOST, PANEL, CANDIDATE, STRANGER]),
    window=st.integers(0, 60),
    now=_moments,
)
@settings(max_examples=300, deadline=None)
def test_the_json_from_a_document_is_the_json_through_the_model(
    doc: dict[str, object], viewer: ObjectId, window: int, now: datetime
) -> None:
    shown = {**CARDS, ObjectId(): _card(ObjectId(), "gone", "candidate")}
    through_model = SessionOut.of(
        Session.model_validate_doc(doc), shown, _viewer(viewer), join_window_minutes=window, now=now
    )
    straight = SessionOut.of_doc(doc, shown, _viewer(viewer), join_window_minutes=window, now=now)
    assert json_dumps(dump(straight)) == json_dumps(dump(through_model))


def test_the_lists_read_every_field_the_json_needs() -> None:
    names = {field.key_name for field in Session.__odm_fields__.values()}
    assert set(SHOWN_FIELDS) <= names
    # Each one changes the answer: dropped from the document, the JSON changes or fails.
    doc = {
        **Session(
            title="t",
            created_by=HOST,
            members=[HOST, CANDIDATE],
            participants=[CANDIDATE],
            interviewers=[PANEL],
            status="active",
            stream_channel_id="session-s",
            start_time=START,
            end_time=START,
            duration=5,
            description="d",
            problem_id="p",
            problem="P",
            difficulty="hard",
            language="java",
            max_participants=3,
            seats_left=2,
            visibility="invite_only",
            stream_sync="ok",
            created_at=START,
            updated_at=START,
        ).model_dump_doc()
    }
    full = json_dumps(
        dump(SessionOut.of_doc(doc, CARDS, _viewer(HOST), join_window_minutes=5, now=LATER))
    )
    for field in SHOWN_FIELDS:
        partial = {key: value for key, value in doc.items() if key != field}
        try:
            answer = json_dumps(
                dump(
                    SessionOut.of_doc(
                        partial, CARDS, _viewer(HOST), join_window_minutes=5, now=LATER
                    )
                )
            )
        except KeyError:
            continue
        assert answer != full, field
