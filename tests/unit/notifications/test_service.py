"""Unit tests of tq.notifications.service (pure functions, no services)."""

from __future__ import annotations

from datetime import UTC, datetime

from tq.notifications.service import local_time, templates, zone_of

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
