"""No input stops a session's email for good: what could break a header or a date is refused at
the API; what got in anyway (older data) fails its email once, with the reason, and is not
retried; and each email says what was true when it was queued."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from config import Settings
from tests.invitations.test_invitations import invite, schedule
from tests.support import SmtpCatcher, act, calendar_of, iso, open_clients, register, unique_email
from tq.notifications.jobs import send_email, send_reminders
from tq.notifications.models import Email
from tq.sessions.models import Invitation, Session

HOSTILE = [
    "Line one\r\nBcc: victim@example.com",
    "Split\nline",
    "Line\u2028separator",
    "Next\u0085line",
    "Nul\x00byte",
    "Bidi \u202eevil",
    "Zero\u200bwidth",
    "Tab\there",
    "\ufeffBOM",
]


@pytest.mark.parametrize("title", HOSTILE)
async def test_titles_with_control_or_invisible_characters_are_400(
    client: httpx.AsyncClient, title: str
) -> None:
    host = await register(client, role="interviewer")
    created = await client.post("/api/sessions", json={"title": title}, headers=host["headers"])
    assert created.status_code == 400, created.text
    assert created.json()["details"][0]["field"] == "title"
    session = await schedule(client, host)
    patched = await client.patch(
        f"/api/sessions/{session['_id']}", json={"title": title}, headers=host["headers"]
    )
    assert patched.status_code == 400 and patched.json()["details"][0]["field"] == "title"


async def test_names_are_one_visible_line_everywhere(client: httpx.AsyncClient) -> None:
    hostile = "Eve\r\nX-Injected: 1"
    registered = await client.post(
        "/api/auth/register",
        json={"email": unique_email(), "password": "s3cret-pass", "name": hostile},
    )
    assert registered.status_code == 400 and registered.json()["details"][0]["field"] == "name"
    host = await register(client, role="interviewer")
    me = await client.patch("/api/auth/me", json={"name": "Bob\u202e"}, headers=host["headers"])
    assert me.status_code == 400 and me.json()["details"][0]["field"] == "name"
    session = await schedule(client, host)
    invited = await invite(client, host, session, unique_email(), name="Zed\u200b")
    assert invited.status_code == 400 and invited.json()["details"][0]["field"] == "name"
    # Ordinary names, accents and scripts included, still pass.
    for name in ("José Núñez", "李小龙", "O'Brien-Smith", "محمد"):
        ok = await client.patch("/api/auth/me", json={"name": name}, headers=host["headers"])
        assert ok.status_code == 200, (name, ok.text)


async def test_a_start_far_ahead_is_400(client: httpx.AsyncClient, settings: Settings) -> None:
    host = await register(client, role="interviewer")
    far = {"title": "Far", "startTime": "9999-12-31T23:00:00Z"}
    created = await client.post("/api/sessions", json=far, headers=host["headers"])
    assert created.status_code == 400 and created.json()["error"] == "start_time_out_of_range"
    assert created.json()["details"][0]["field"] == "startTime"
    session = await schedule(client, host)
    limit = datetime.now(UTC) + timedelta(days=settings.max_schedule_ahead_days)
    moved = await client.patch(
        f"/api/sessions/{session['_id']}",
        json={"startTime": iso(limit + timedelta(days=1))},
        headers=host["headers"],
    )
    assert moved.status_code == 400 and moved.json()["error"] == "start_time_out_of_range"
    within = await client.patch(
        f"/api/sessions/{session['_id']}",
        json={"startTime": iso(limit - timedelta(days=1))},
        headers=host["headers"],
    )
    assert within.status_code == 200, within.text


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Old data\r\nBcc: x@example.com"},
        {"startTime": datetime(9999, 12, 31, 23, 30, tzinfo=UTC)},
    ],
)
async def test_an_email_that_cannot_be_rendered_fails_once_for_good(
    settings: Settings, change: dict[str, Any]
) -> None:
    """Data written before the API refused it: the email is `failed` with the reason on the
    first try, and neither the job nor the beat takes it again."""
    to = unique_email("poisoned")
    now = datetime.now(UTC)
    session = Session(
        title="Fine",
        created_by=ObjectId(),
        members=[],
        participants=[],
        status="scheduled",
        stream_channel_id=f"c{ObjectId()}",
        start_time=now + timedelta(days=1),
        created_at=now,
        updated_at=now,
    ).model_copy(update={k if k != "startTime" else "start_time": v for k, v in change.items()})
    # The invitee reads times in a zone east of UTC: the last day of year 9999 overflows there.
    session.invitations = [
        Invitation(
            email=to,
            role="candidate",
            timezone="Asia/Tokyo",
            nonce="n",
            token_hash="h",
            invited_by=session.created_by,
            expires_at=now + timedelta(days=1),
        )
    ]
    email = Email(  # type: ignore[call-arg]
        key=f"reminder:{session.id}:0:{to}",
        kind="reminder",
        to=to,
        session_id=session.id,
        facts=session.facts().model_dump(),
        created_at=now - timedelta(minutes=11),  # old enough for the beat's re-send
    )
    async with open_clients(settings.model_copy(update={"smtp_url": "smtp://127.0.0.1:9"})) as c:
        await c.engine.get_collection(Session).insert_one(session.model_dump_doc())
        emails = c.engine.get_collection(Email)
        await emails.insert_one(email.model_dump_doc())
        assert await send_email(c, email.key) == {"failed": 1}
        doc = await emails.find_one({"_id": email.key})
        assert doc is not None and doc["status"] == "failed"
        assert doc["error"].startswith("could not render: ")
        assert await send_email(c, email.key) == {"skipped": 1}
        await send_reminders(c)
        doc = await emails.find_one({"_id": email.key})
        assert doc is not None and doc["status"] == "failed" and doc["attempts"] == 1


async def test_reschedule_then_cancel_at_once_mails_each_change_as_it_was(
    client: httpx.AsyncClient, celery_worker: subprocess.Popen[bytes], mail_server: SmtpCatcher
) -> None:
    host = await register(client, role="interviewer")
    session = await schedule(client, host)
    guest = unique_email("guest")
    assert (await invite(client, host, session, guest)).status_code == 201
    moved_to = datetime.now(UTC).replace(microsecond=0) + timedelta(days=4)
    sid = session["_id"]
    patched = await client.patch(
        f"/api/sessions/{sid}", json={"startTime": iso(moved_to)}, headers=host["headers"]
    )
    assert patched.status_code == 200
    assert (await act(client, host, session, "cancel")).status_code == 200
    [update] = await mail_server.wait_for(guest, "Updated")
    [cancel] = await mail_server.wait_for(guest, "Cancelled")
    method, calendar = calendar_of(update)
    [event] = calendar.walk("VEVENT")
    assert (method, int(event["SEQUENCE"]), str(event["STATUS"])) == ("REQUEST", 1, "CONFIRMED")
    assert event.decoded("DTSTART") == moved_to
    method, calendar = calendar_of(cancel)
    [event] = calendar.walk("VEVENT")
    assert (method, int(event["SEQUENCE"]), str(event["STATUS"])) == ("CANCEL", 2, "CANCELLED")
