"""Unit tests of tq.integrations.service: webhook bodies, emails left out, signing secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

from bson import ObjectId

from config import Settings
from tq.integrations.models import EndpointSecret, WebhookEndpoint
from tq.integrations.service import body_of, signing_secrets, without_emails
from tq.sessions.models import Session
from tq.sessions.schemas import SessionOut
from tq.users.models import User, UserCard

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_body_of_stamps_utc_with_a_z() -> None:
    at = datetime(2026, 3, 1, 14, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2)))
    body = body_of("ping", {"endpointId": ObjectId("65f0a0a0a0a0a0a0a0a0a0a0")}, at)
    assert body == (
        '{"type": "ping", "timestamp": "2026-03-01T12:00:00.123000Z", '
        '"data": {"endpointId": "65f0a0a0a0a0a0a0a0a0a0a0"}}'
    )


def test_without_emails_blanks_every_members_email_and_keeps_the_rest() -> None:
    host, candidate = ObjectId(), ObjectId()
    cards = {
        uid: UserCard(id=uid, name=name, role="candidate", stream_id=name, avatar=None, email=mail)
        for uid, name, mail in [(host, "h", "h@example.com"), (candidate, "c", "c@example.com")]
    }
    session = Session(
        title="t",
        created_by=host,
        participants=[candidate],
        members=[host, candidate],
        status="active",
        stream_channel_id="session-1",
        start_time=NOW,
    )
    viewer = User(id=host, email="h@example.com", password="x", name="h", stream_id="h")
    shown = SessionOut.of(session, cards, viewer, join_window_minutes=10, now=NOW)
    assert shown.host.email == "h@example.com"  # the host's own view has them
    body = without_emails(shown)
    assert body["host"]["email"] is None
    assert body["participant"]["email"] is None
    assert [p["email"] for p in body["participantsInfo"]] == [None]
    assert body["_id"] == str(session.id) and body["streamChannelId"] == "session-1"
    assert body["participant"]["name"] == "c"


def _expected_secret(settings: Settings, endpoint_id: ObjectId, nonce: str) -> str:
    key = hashlib.sha256(f"tq-link-token\0webhook-secret\0{settings.jwt_secret}".encode()).digest()
    raw = hmac.new(key, f"{endpoint_id}\0{nonce}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(raw).decode()


def test_signing_secrets_drop_the_expired_ones(settings: Settings) -> None:
    assert settings.webhook_signing_key == ""  # the JWT secret is the signing key
    endpoint = WebhookEndpoint(
        owner_id=ObjectId(),
        url="https://hooks.example.com/x",
        events=["session.created"],
        secrets=[
            EndpointSecret(nonce="old", expires_at=NOW),  # expired at this very instant
            EndpointSecret(nonce="rotated", expires_at=NOW + timedelta(hours=1)),
            EndpointSecret(nonce="current"),
        ],
    )
    assert signing_secrets(settings, endpoint, NOW) == [
        _expected_secret(settings, endpoint.id, "rotated"),
        _expected_secret(settings, endpoint.id, "current"),
    ]
    assert signing_secrets(settings, endpoint, NOW + timedelta(days=1)) == [
        _expected_secret(settings, endpoint.id, "current")
    ]
