"""Pure pieces of the email path: SMTP URLs, link tokens, calendar events, local times and
the templates' escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from icalendar import Calendar

from tq.core.mail import SmtpTarget
from tq.core.security import link_token, token_hash
from tq.notifications.calendar import build_calendar
from tq.notifications.service import local_time, templates, zone_of
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


def test_smtp_urls() -> None:
    plain = SmtpTarget.parse("smtp://127.0.0.1:1025")
    assert (plain.host, plain.port, plain.tls, plain.starttls, plain.username) == (
        "127.0.0.1",
        1025,
        False,
        False,
        None,
    )
    tls = SmtpTarget.parse("smtps://u%40x:p%2Fw@mail.example.com")
    assert (tls.port, tls.tls, tls.username, tls.password) == (465, True, "u@x", "p/w")
    starttls = SmtpTarget.parse("smtp://mail.example.com:587?starttls=true")
    assert (starttls.port, starttls.starttls, starttls.tls) == (587, True, False)


def test_link_tokens_are_derived_and_unguessable_without_the_secret() -> None:
    one = link_token("secret-a", "invitation", "s:i", "nonce-1")
    assert one == link_token("secret-a", "invitation", "s:i", "nonce-1")
    assert len(one) == 43
    others = {
        link_token("secret-b", "invitation", "s:i", "nonce-1"),
        link_token("secret-a", "invitation", "s:i", "nonce-2"),
        link_token("secret-a", "other", "s:i", "nonce-1"),
        link_token("secret-a", "invitation", "s:j", "nonce-1"),
    }
    assert one not in others and len(others) == 4
    assert token_hash(one) != one and len(token_hash(one)) == 64


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
