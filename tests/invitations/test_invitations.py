"""Invitations on the real stack: the API, a real Celery worker sending over SMTP to a real
SMTP server, and the calendar invites it carries."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pymongo
from bson import ObjectId
from odmantic import AIOEngine

from config import Settings
from tests.support import (
    ROOT,
    RecordingHandler,
    SmtpCatcher,
    act,
    calendar_of,
    iso,
    register,
    text_and_html,
    unique_email,
)
from tq.sessions.models import Session

SOON = timedelta(minutes=5)  # inside the 10-minute join window: the room is open


async def schedule(http: httpx.AsyncClient, host: dict[str, Any], **body: Any) -> dict[str, Any]:
    body.setdefault("title", "System design")
    body.setdefault("startTime", iso(datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)))
    body.setdefault("duration", 45)
    response = await http.post("/api/sessions", json=body, headers=host["headers"])
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()["session"]
    return session


async def invite(
    http: httpx.AsyncClient, host: dict[str, Any], session: dict[str, Any], email: str, **body: Any
) -> httpx.Response:
    return await http.post(
        f"/api/sessions/{session['_id']}/invitations",
        json={"email": email, "role": body.pop("role", "candidate"), **body},
        headers=host["headers"],
    )


def token_of(created: httpx.Response) -> str:
    assert created.status_code == 201, created.text
    url: str = created.json()["inviteUrl"]
    assert url.startswith("https://app.example.com/invitations/")
    return url.rsplit("/", 1)[1]


async def test_the_whole_flow_through_a_real_smtp_server(
    client: httpx.AsyncClient, celery_worker: subprocess.Popen[bytes], mail_server: SmtpCatcher
) -> None:
    host = await register(client, role="interviewer", name="Hana Host")
    await client.patch("/api/auth/me", json={"timezone": "Europe/Paris"}, headers=host["headers"])
    candidate_email = unique_email("cand")
    other_email = unique_email("other")
    session = await schedule(client, host, title="Backend pairing")
    sid = session["_id"]

    created = await invite(
        client, host, session, candidate_email, name="Cara", timezone="America/New_York"
    )
    token = token_of(created)
    invitation = created.json()["invitation"]
    assert invitation["status"] == "pending" and invitation["role"] == "candidate"
    assert "token" not in created.text.replace("inviteUrl", "")
    await invite(client, host, session, other_email, role="interviewer")

    # The email: to the invitee alone, text and HTML, the link, the invitee's time zone, and a
    # calendar REQUEST with the session's UID.
    [mail] = await mail_server.wait_for(candidate_email, "Invitation")
    assert mail["To"] == candidate_email
    text, html = text_and_html(mail)
    link = f"https://app.example.com/invitations/{token}"
    assert link in text and link in html
    assert "(America/New_York)" in text and "Hana Host" in text
    assert other_email not in mail.as_string()
    method, calendar = calendar_of(mail)
    assert method == "REQUEST" and calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    uid = str(event["UID"])
    assert sid in uid and int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == datetime.fromisoformat(session["startTime"])
    assert event.decoded("DURATION") == timedelta(minutes=45)
    # The host's name, but not their address: the session JSON hides it from invitees too.
    assert str(event["ORGANIZER"]) == "mailto:no-reply@localhost"
    assert event["ORGANIZER"].params["CN"] == "Hana Host"
    assert host["user"]["email"] not in mail.as_string()
    assert str(event["ATTENDEE"]) == f"mailto:{candidate_email}"

    # The public preview says what the link is for, and nothing about anyone else.
    preview = await client.get(f"/api/invitations/{token}")
    assert preview.status_code == 200
    assert preview.json() == {
        "invitation": {
            "role": "candidate",
            "status": "pending",
            "expiresAt": invitation["expiresAt"],
        },
        "session": {
            "title": "Backend pairing",
            "startTime": session["startTime"],
            "duration": 45,
            "hostName": "Hana Host",
        },
    }
    assert (await client.get("/api/invitations/" + "A" * 43)).status_code == 404

    # Accept: a member with the invited role; the listing shows who accepted.
    cara = await register(client, email=candidate_email.upper(), name="Cara")
    accepted = await client.post(f"/api/invitations/{token}/accept", headers=cara["headers"])
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()["session"]
    assert body["participant"]["_id"] == cara["user"]["_id"]
    assert body["participant"]["sessionRole"] == "candidate"
    assert body["host"]["sessionRole"] == "host"
    assert body["seatsLeft"] == 0
    again = await client.post(f"/api/invitations/{token}/accept", headers=cara["headers"])
    assert again.status_code == 410 and again.json()["error"] == "invitation_used"
    listed = (await client.get(f"/api/sessions/{sid}/invitations", headers=host["headers"])).json()[
        "invitations"
    ]
    mine = next(inv for inv in listed if inv["email"] == candidate_email)
    assert mine["status"] == "accepted" and mine["acceptedBy"] == cara["user"]["_id"]
    assert mine["sentAt"] is not None
    assert all(set(inv) >= {"_id", "expiresAt", "createdAt"} for inv in listed)
    assert token not in str(listed)

    # Reschedule: every member and pending invitee gets an update: same UID, higher SEQUENCE.
    moved_to = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    patched = await client.patch(
        f"/api/sessions/{sid}", json={"startTime": iso(moved_to)}, headers=host["headers"]
    )
    assert patched.status_code == 200
    for address in (candidate_email, other_email, host["user"]["email"]):
        [update] = await mail_server.wait_for(address, "Updated")
        method, calendar = calendar_of(update)
        [event] = calendar.walk("VEVENT")
        assert method == "REQUEST"
        assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
        assert event.decoded("DTSTART") == moved_to
    paris = mail_server.to(host["user"]["email"], "Updated")[0]
    assert "(Europe/Paris)" in text_and_html(paris)[0]

    # The current event is downloadable by members (not by others).
    ics = await client.get(f"/api/sessions/{sid}/calendar.ics", headers=cara["headers"])
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert f"UID:{uid}" in ics.text and "SEQUENCE:1" in ics.text
    assert host["user"]["email"] not in ics.text  # as the session JSON: not to a candidate
    own = await client.get(f"/api/sessions/{sid}/calendar.ics", headers=host["headers"])
    assert f"mailto:{host['user']['email']}" in own.text
    outsider = await register(client)
    assert (
        await client.get(f"/api/sessions/{sid}/calendar.ics", headers=outsider["headers"])
    ).status_code == 404

    # Cancel: METHOD:CANCEL with the same UID and a higher SEQUENCE; open invitations expire.
    assert (await act(client, host, session, "cancel")).status_code == 200
    for address in (candidate_email, other_email):
        [cancel] = await mail_server.wait_for(address, "Cancelled")
        method, calendar = calendar_of(cancel)
        [event] = calendar.walk("VEVENT")
        assert method == "CANCEL" and calendar["METHOD"] == "CANCEL"
        assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2
        assert str(event["STATUS"]) == "CANCELLED"
    listed = (await client.get(f"/api/sessions/{sid}/invitations", headers=host["headers"])).json()[
        "invitations"
    ]
    assert next(inv for inv in listed if inv["email"] == other_email)["status"] == "expired"


async def test_ten_concurrent_accepts_of_one_link_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    host = await register(client, role="interviewer")
    session = await schedule(client, host, maxParticipants=3)
    guest = await register(client)
    token = token_of(await invite(client, host, session, guest["user"]["email"]))
    answers = await asyncio.gather(
        *(
            client.post(f"/api/invitations/{token}/accept", headers=guest["headers"])
            for _ in range(10)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [410] * 9, [a.text for a in answers]
    assert {a.json()["error"] for a in answers if a.status_code == 410} == {"invitation_used"}
    current = (await client.get(f"/api/sessions/{session['_id']}", headers=host["headers"])).json()[
        "session"
    ]
    assert current["participants"] == [guest["user"]["_id"]]
    assert current["seatsLeft"] == 2


async def test_revoke_resend_expiry_and_email_mismatch(
    client: httpx.AsyncClient,
    settings: Settings,
    engine: AIOEngine,
    celery_worker: subprocess.Popen[bytes],
    mail_server: SmtpCatcher,
) -> None:
    host = await register(client, role="interviewer")
    session = await schedule(client, host, maxParticipants=2)
    sid = session["_id"]
    base = f"/api/sessions/{sid}/invitations"

    # Mismatch: another account may not use the link (unless INVITE_ANY_ACCOUNT).
    invitee = unique_email("inv")
    created = await invite(client, host, session, invitee)
    token = token_of(created)
    stranger = await register(client)
    wrong = await client.post(f"/api/invitations/{token}/accept", headers=stranger["headers"])
    assert wrong.status_code == 403 and wrong.json()["error"] == "invitation_email_mismatch"

    # Twice the same email while pending; more candidates than seats; a member.
    again = await invite(client, host, session, invitee.upper())
    assert again.status_code == 409 and again.json()["error"] == "already_invited"
    await invite(client, host, session, unique_email("second"))
    full = await invite(client, host, session, unique_email("third"))
    assert full.status_code == 409 and full.json()["error"] == "session_full"
    member = await invite(client, host, session, host["user"]["email"], role="interviewer")
    assert member.status_code == 409 and member.json()["error"] == "already_member"

    # Resend: a new link and a new email; the old link stops working.
    invitation_id = created.json()["invitation"]["_id"]
    resent = await client.post(f"{base}/{invitation_id}/resend", headers=host["headers"])
    assert resent.status_code == 200
    new_token = resent.json()["inviteUrl"].rsplit("/", 1)[1]
    assert new_token != token
    assert (await client.get(f"/api/invitations/{token}")).status_code == 404
    mails = await mail_server.wait_for(invitee, "Invitation", count=2)
    assert any(new_token in text_and_html(m)[0] for m in mails)

    # Revoke: the link answers 410 invitation_revoked; revoking again is harmless.
    assert (
        await client.delete(f"{base}/{invitation_id}", headers=host["headers"])
    ).status_code == 204
    assert (
        await client.delete(f"{base}/{invitation_id}", headers=host["headers"])
    ).status_code == 204
    owner = await register(client, email=invitee)
    revoked = await client.post(f"/api/invitations/{new_token}/accept", headers=owner["headers"])
    assert revoked.status_code == 410 and revoked.json()["error"] == "invitation_revoked"
    preview = (await client.get(f"/api/invitations/{new_token}")).json()
    assert preview["invitation"]["status"] == "revoked"

    # Expiry after INVITE_TTL_DAYS: moved into the past in the database, as time would.
    late = unique_email("late")
    late_token = token_of(await invite(client, host, session, late, role="interviewer"))
    collection = engine.get_collection(Session)
    doc = await collection.find_one({"_id": ObjectId(sid)})
    assert doc is not None
    for inv in doc["invitations"]:
        if inv["email"] == late:
            inv["expiresAt"] = datetime.now(UTC) - timedelta(seconds=1)
    await collection.update_one({"_id": doc["_id"]}, {"$set": {"invitations": doc["invitations"]}})
    late_user = await register(client, email=late)
    expired = await client.post(
        f"/api/invitations/{late_token}/accept", headers=late_user["headers"]
    )
    assert expired.status_code == 410 and expired.json()["error"] == "invitation_expired"

    # Only the host manages invitations; others get 404 (not members) or 403.
    assert (await client.get(base, headers=stranger["headers"])).status_code == 404


async def test_any_account_may_accept_when_configured(settings: Settings) -> None:
    from tests.support import http_client, running_app

    relaxed = settings.model_copy(update={"invite_any_account": True})
    async with running_app(relaxed) as (_app, url), http_client(url) as http:
        host = await register(http, role="interviewer")
        session = await schedule(http, host)
        token = token_of(await invite(http, host, session, unique_email("x"), role="interviewer"))
        someone = await register(http)
        accepted = await http.post(f"/api/invitations/{token}/accept", headers=someone["headers"])
        assert accepted.status_code == 200
        people = accepted.json()["session"]["participantsInfo"]
        assert [(p["_id"], p["sessionRole"]) for p in people] == [
            (someone["user"]["_id"], "interviewer")
        ]


async def test_invite_only_sessions_are_invisible_to_outsiders(client: httpx.AsyncClient) -> None:
    host = await register(client, role="interviewer")
    outsider = await register(client)
    session = await schedule(
        client, host, visibility="invite_only", startTime=iso(datetime.now(UTC) + SOON)
    )
    sid = session["_id"]
    assert session["visibility"] == "invite_only"
    assert (await act(client, host, session, "start")).status_code == 200
    reads = [
        await client.get("/api/sessions/active", headers=outsider["headers"]),
        await client.get("/api/sessions", params={"scope": "open"}, headers=outsider["headers"]),
        await client.get(f"/api/sessions/user/{host['user']['_id']}", headers=outsider["headers"]),
    ]
    for read in reads:
        assert read.status_code == 200
        assert sid not in read.text
    for method, path, body in (
        ("GET", f"/api/sessions/{sid}", None),
        ("POST", f"/api/sessions/{sid}/join", None),
        ("GET", f"/api/sessions/{sid}/calendar.ics", None),
        ("GET", f"/api/sessions/{sid}/invitations", None),
        ("GET", f"/api/chat/history/{sid}", None),
        ("POST", "/api/chat/channel", {"sessionId": sid}),
        ("GET", f"/api/chat/token?sessionId={sid}", None),
    ):
        answer = await client.request(method, path, json=body, headers=outsider["headers"])
        assert answer.status_code == 404, (method, path, answer.text)
    # An open session is listed and joinable as before, as a candidate.
    open_one = await schedule(client, host, startTime=iso(datetime.now(UTC) + SOON))
    listed = await client.get(
        "/api/sessions", params={"scope": "open"}, headers=outsider["headers"]
    )
    assert open_one["_id"] in listed.text
    joined = await act(client, outsider, open_one, "join")
    assert joined.json()["session"]["participant"]["sessionRole"] == "candidate"


async def test_the_join_window_around_opens_at(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    host = await register(client, role="interviewer")
    guest = await register(client)
    window = timedelta(minutes=settings.join_window_minutes)
    start = datetime.now(UTC).replace(microsecond=0) + window + timedelta(seconds=4)
    session = await schedule(client, host, startTime=iso(start))
    opens = datetime.fromisoformat(session["opensAt"])
    assert opens == start - window
    assert session["callId"] is None and session["streamChannelId"] is None

    async def at(moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))

    await at(opens - timedelta(seconds=1))
    early = [
        await act(client, guest, session, "join"),
        await act(client, host, session, "start"),
        await client.post(
            "/api/chat/channel", json={"sessionId": session["_id"]}, headers=host["headers"]
        ),
        await client.get(f"/api/chat/token?sessionId={session['_id']}", headers=host["headers"]),
    ]
    for answer in early:
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"] == "too_early"
        assert datetime.fromisoformat(answer.json()["opensAt"]) == opens
    seen = (await client.get(f"/api/sessions/{session['_id']}", headers=host["headers"])).json()
    assert seen["session"]["callId"] is None

    await at(opens + timedelta(seconds=1))
    joined = await act(client, guest, session, "join")
    assert joined.status_code == 200, joined.text
    assert joined.json()["session"]["callId"] == f"session-{session['_id']}"
    assert (await act(client, host, session, "start")).status_code == 200


async def test_a_reminder_is_sent_once_when_two_beats_race(
    client: httpx.AsyncClient,
    settings: Settings,
    celery_worker: subprocess.Popen[bytes],
    mail_server: SmtpCatcher,
) -> None:
    from tests.support import open_clients
    from tq.notifications.jobs import send_reminders

    host = await register(client, role="interviewer")
    session = await schedule(client, host, startTime=iso(datetime.now(UTC) + SOON))
    panel = await register(client, role="interviewer")
    token = token_of(
        await invite(client, host, session, panel["user"]["email"], role="interviewer")
    )
    await client.post(f"/api/invitations/{token}/accept", headers=panel["headers"])
    pending = unique_email("pending")
    await invite(client, host, session, pending)

    async with open_clients(settings) as first, open_clients(settings) as second:
        # Two beats (or an ops run beside the beat) on two workers, at the same moment.
        await asyncio.gather(send_reminders(first), send_reminders(second))
        await send_reminders(first)
    recipients = [host["user"]["email"], panel["user"]["email"], pending]
    for address in recipients:
        await mail_server.wait_for(address, "Reminder")
    await asyncio.sleep(2)  # time for any duplicate to arrive
    for address in recipients:
        [reminder] = mail_server.to(address, "Reminder")
        assert "starts" in str(reminder["Subject"])


async def test_tokens_are_never_stored_or_logged_in_clear(
    client: httpx.AsyncClient,
    settings: Settings,
    celery_worker: subprocess.Popen[bytes],
    mail_server: SmtpCatcher,
) -> None:
    records: list[logging.LogRecord] = []
    handler = RecordingHandler(records)
    logging.getLogger("tq").addHandler(handler)
    try:
        host = await register(client, role="interviewer")
        session = await schedule(client, host)
        invitee = unique_email("secret")
        token = token_of(await invite(client, host, session, invitee))
        await mail_server.wait_for(invitee, "Invitation")
        await client.get(f"/api/invitations/{token}")
        owner = await register(client, email=invitee)
        await client.post(f"/api/invitations/{token}/accept", headers=owner["headers"])
        await client.post(f"/api/invitations/{token}/accept", headers=owner["headers"])
    finally:
        logging.getLogger("tq").removeHandler(handler)
    assert records, "the app logged nothing: the check would be empty"
    for record in records:
        assert token not in record.getMessage()
    # Every document of every collection of the run's database.
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        settings.mongodb_uri.rsplit("/", 1)[0]
    )
    try:
        database = mongo[settings.mongodb_database]
        for name in database.list_collection_names():
            for doc in database[name].find():
                assert token not in str(doc), name
    finally:
        mongo.close()
    # Every log the run's workers wrote.
    for path in (ROOT / "var" / "test-logs").glob("*.log"):
        assert token not in Path(path).read_text(errors="replace"), path
