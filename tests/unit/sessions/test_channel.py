"""Unit tests of tq.sessions.channel: what Stream's channel of a session is made to hold."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from tq.sessions.channel import DELETED_HOST, channel_spec
from tq.sessions.models import Session, Status
from tq.users.models import UserCard

HOST, CANDIDATE, GONE = ObjectId(), ObjectId(), ObjectId()


def _card(user_id: ObjectId, name: str) -> UserCard:
    return UserCard(
        id=user_id, name=name, role="interviewer", stream_id=f"s-{name}", avatar=None, email="e"
    )


def _session(status: Status = "active") -> Session:
    return Session(
        title="Pairing",
        problem_id="two-sum",
        language="python",
        created_by=HOST,
        members=[HOST, CANDIDATE, GONE],
        status=status,
        stream_channel_id="session-abc",
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_the_channel_holds_the_members_that_still_exist() -> None:
    users = {HOST: _card(HOST, "host"), CANDIDATE: _card(CANDIDATE, "cand")}
    spec = channel_spec(_session(), users)
    assert spec.channel_id == "session-abc"
    assert spec.created_by == "s-host"
    assert [member["id"] for member in spec.members] == ["s-host", "s-cand"]
    assert spec.data["sessionId"] and spec.data["name"] == "Pairing"
    assert (spec.data["problemId"], spec.data["language"]) == ("two-sum", "python")
    assert spec.frozen is False


def test_a_final_session_freezes_its_channel_and_a_gone_host_is_named_so() -> None:
    spec = channel_spec(_session("completed"), {CANDIDATE: _card(CANDIDATE, "cand")})
    assert spec.frozen is True
    assert spec.created_by == DELETED_HOST
    assert [member["id"] for member in spec.members] == ["s-cand"]
