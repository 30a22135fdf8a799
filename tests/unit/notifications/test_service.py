"""Unit tests of tq.notifications.service: local times, templates, organizer, queued facts."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from config import Settings
from config.settings import AppEnv
from tq.notifications.service import as_queued, local_time, organizer_address, templates, zone_of
from tq.sessions.models import Session, SessionFacts
from tq.users.models import UserCard

START = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)


def test_times_are_shown_in_the_recipients_zone_and_named() -> None:
    assert local_time(START, zone_of("Europe/Paris")) == (
        "Tuesday 1 December 2026, 15:30 (Europe/Paris)"
    )
    assert local_time(START, zone_of(None)).endswith("14:30 (UTC)")
    assert zone_of("Not/AZone").key == "UTC"


def test_html_escapes_what_users_wrote() -> None:
    context = {
        "kind": "invitation",
        "recipient_name": "<b>x</b>",
        "host_name": "Hana",
        "title": "<script>alert(1)</script>",
        "when": "soon",
        "minutes": 30,
        "link": "https://app.example.com/invitations/t",
        "role": "candidate",
        "join_window": 10,
        "subject": "s",
    }
    html = templates.get_template("email.html.j2").render(context)
    assert "<script>" not in html and "&lt;script&gt;" in html
    text = templates.get_template("email.txt.j2").render(context)
    assert "<script>alert(1)</script>" in text  # plain text is not HTML


HOST = UserCard(
    id=ObjectId(),
    name="Hana",
    role="interviewer",
    stream_id="h",
    avatar=None,
    email="Hana@Example.com",
)


def test_the_organizer_is_the_host_only_for_the_host(settings: Settings) -> None:
    assert organizer_address(settings, HOST, "hana@example.com") == "Hana@Example.com"
    assert organizer_address(settings, HOST, "cleo@example.com") == "no-reply@localhost"
    assert organizer_address(settings, None, "hana@example.com") == "no-reply@localhost"
    assert organizer_address(settings, HOST, None) == "no-reply@localhost"


def test_the_organizer_for_others_is_the_configured_sender() -> None:
    def sender(mail_from: str) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None, app_env=AppEnv.test, jwt_secret="unit-" + "x" * 40, mail_from=mail_from
        )

    assert organizer_address(sender("TQ <ops@tq.example>"), HOST, "x@example.com") == (
        "ops@tq.example"
    )
    assert organizer_address(sender(""), HOST, "x@example.com") == "no-reply@localhost"


def _session() -> Session:
    return Session(
        title="Old title",
        description="old",
        created_by=HOST.id,
        status="scheduled",
        stream_channel_id="session-x",
        start_time=START,
        duration=30,
        calendar_sequence=1,
    )


def test_as_queued_shows_the_session_as_the_email_was_queued() -> None:
    session = _session()
    assert as_queued(session, None) is session
    facts = SessionFacts(
        title="New title",
        description=None,
        start_time=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
        duration=None,
        status="cancelled",
        calendar_sequence=3,
    )
    shown = as_queued(session, facts)
    assert (
        shown.title,
        shown.description,
        shown.start_time,
        shown.duration,
        shown.status,
        shown.calendar_sequence,
    ) == ("New title", None, datetime(2026, 12, 2, 9, 0, tzinfo=UTC), None, "cancelled", 3)
    assert shown.id == session.id and shown.stream_channel_id == "session-x"
    assert (session.title, session.status, session.calendar_sequence) == (
        "Old title",
        "scheduled",
        1,
    )
