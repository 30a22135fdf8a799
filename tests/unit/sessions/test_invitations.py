"""Unit tests of tq.sessions.invitations: when an invitation expires and its status as read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tq.sessions.invitations import invitation_expiry, invitation_status
from tq.sessions.models import Invitation, Session, Status, StoredInvitationStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)


def _invitation(status: StoredInvitationStatus = "pending") -> Invitation:
    return Invitation(
        email="c@example.com",
        role="candidate",
        nonce="n",
        token_hash="h",
        status=status,
        invited_by=ObjectId(),
        expires_at=EXPIRES,
    )


def _session(status: Status, end: datetime | None = None) -> Session:
    return Session(
        title="t",
        created_by=ObjectId(),
        status=status,
        stream_channel_id="session-x",
        start_time=NOW,
        end_time=end,
    )


def test_expiry_is_the_ttl_or_the_end_of_a_final_session_whichever_is_first() -> None:
    invitation = _invitation()
    assert invitation_expiry(invitation, _session("active")) == EXPIRES
    assert invitation_expiry(invitation, _session("scheduled", NOW)) == EXPIRES  # not final
    assert invitation_expiry(invitation, _session("completed", NOW)) == NOW
    assert invitation_expiry(invitation, _session("cancelled", EXPIRES + timedelta(1))) == EXPIRES
    assert invitation_expiry(invitation, _session("completed", None)) == EXPIRES


@pytest.mark.parametrize(
    ("stored", "session_status", "now", "shown"),
    [
        ("pending", "scheduled", NOW, "pending"),
        ("pending", "active", EXPIRES - timedelta(milliseconds=1), "pending"),
        ("pending", "active", EXPIRES, "expired"),
        ("pending", "completed", NOW, "expired"),
        ("pending", "cancelled", NOW, "expired"),
        ("accepted", "completed", EXPIRES, "accepted"),
        ("revoked", "active", NOW, "revoked"),
    ],
)
def test_status_derives_expired_only_for_pending_invitations(
    stored: StoredInvitationStatus, session_status: Status, now: datetime, shown: str
) -> None:
    assert invitation_status(_invitation(stored), _session(session_status), now) == shown
