"""Email jobs: send one queued email, tell a session's people about a change, and the reminder
beat (which also re-sends emails a lost job or a long SMTP outage left queued)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.mail import MailNotConfigured, MailUnavailable, deliver
from tq.core.time import Deadline, utcnow
from tq.jobs.registry import NOTIFY_SESSION, SEND_EMAIL, SEND_REMINDERS, job
from tq.notifications.models import Email, EmailKind
from tq.notifications.service import STALE_CLAIM, Rendered, fan_out, render, render_notice
from tq.sessions.models import Session, SessionFacts
from tq.sessions.service import conditional_update, rewrite_invitations

log = logging.getLogger("tq.notifications.jobs")
NOTICES: tuple[EmailKind, ...] = ("reschedule", "cancellation")


@job(SEND_EMAIL)
async def send_email(clients: Clients, key: str) -> dict[str, int]:
    """Claim the email (so two deliveries of this job never both send it), render it from the
    session as it is now, and hand it to SMTP. SMTP away: the claim is given back and the job
    retries (MailUnavailable is transient); the record stays queued, so nothing is lost."""
    emails = clients.engine.get_collection(Email)
    now = utcnow()
    doc = await emails.find_one_and_update(
        {
            "_id": key,
            "$or": [
                {"status": "queued"},
                {"status": "sending", "claimedAt": {"$lt": now - STALE_CLAIM}},
            ],
        },
        {"$set": {"status": "sending", "claimedAt": now}, "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        return {"skipped": 1}  # sent already, or another delivery holds it
    email = Email.model_validate_doc(doc)
    rendered: Rendered | None
    try:
        if email.session_id is None:
            rendered = render_notice(clients, email)
        else:
            found = await clients.engine.get_collection(Session).find_one({"_id": email.session_id})
            rendered = (
                await render(clients, email, Session.model_validate_doc(found)) if found else None
            )
    except PyMongoError:
        raise  # the database, not the email: the claim goes stale and the beat sends it again
    except Exception as exc:
        # A retry would render the same data the same way: fail once, loudly, for good.
        reason = f"could not render: {type(exc).__name__}: {exc}"[:500]
        await emails.update_one({"_id": key}, {"$set": {"status": "failed", "error": reason}})
        log.warning("email %s failed for good: %s", key.split(":", 1)[0], reason)
        return {"failed": 1}
    if rendered is None:
        await emails.update_one({"_id": key}, {"$set": {"status": "superseded"}})
        return {"superseded": 1}
    try:
        await deliver(clients.settings, rendered.message)
    except MailNotConfigured:
        await emails.update_one({"_id": key}, {"$set": {"status": "queued", "claimedAt": None}})
        log.warning("email %s kept queued: SMTP_URL is not set", email.kind)
        return {"not_configured": 1}
    except MailUnavailable as exc:
        await emails.update_one(
            {"_id": key}, {"$set": {"status": "queued", "claimedAt": None, "error": str(exc)}}
        )
        raise
    except ValueError as exc:  # the server refused the address for good
        await emails.update_one({"_id": key}, {"$set": {"status": "failed", "error": str(exc)}})
        return {"failed": 1}
    sent_at = utcnow()
    await emails.update_one(
        {"_id": key}, {"$set": {"status": "sent", "sentAt": sent_at, "error": None}}
    )
    if rendered.invitation is not None and email.kind == "invitation":
        await _mark_invitation_sent(clients, email, sent_at)
    return {"sent": 1}


async def _mark_invitation_sent(clients: Clients, email: Email, sent_at: Any) -> None:
    """`sentAt` of the invitation whose link this was (a few tries: invitations may change)."""
    for _ in range(5):
        doc = await clients.engine.get_collection(Session).find_one({"_id": email.session_id})
        if doc is None:
            return
        session = Session.model_validate_doc(doc)
        invitations = list(session.invitations)
        for i, inv in enumerate(invitations):
            if inv.id == email.invitation_id and inv.sends == email.send_no:
                invitations[i] = inv.model_copy(update={"sent_at": sent_at})
                break
        else:
            return
        if await rewrite_invitations(clients, session, invitations):
            return


@job(NOTIFY_SESSION)
async def notify_session(
    clients: Clients, session_id: str, kind: str, facts: str = ""
) -> dict[str, int]:
    """Email every member and pending invitee about a reschedule or a cancellation, saying
    what that change made of the session (`facts`; a job queued before they were passed says
    what the session is now)."""
    if kind not in NOTICES:
        return {"invalid": 1}
    oid = parse_object_id(session_id)
    doc = await clients.engine.get_collection(Session).find_one({"_id": oid}) if oid else None
    if doc is None:
        return {"gone": 1}
    try:
        as_changed = SessionFacts.model_validate_json(facts) if facts else None
    except ValueError:
        return {"invalid": 1}
    notice: EmailKind = "reschedule" if kind == "reschedule" else "cancellation"
    session = Session.model_validate_doc(doc)
    return {"queued": await fan_out(clients, session, notice, as_changed)}


@job(SEND_REMINDERS)
async def send_reminders(clients: Clients) -> dict[str, int]:
    """Sessions starting within REMINDER_MINUTES get one reminder per member and pending
    invitee: the email keys make a second beat's queueing a no-op, and the session is marked
    reminded afterwards (so a crash in between only repeats a no-op). Then emails still queued
    after a while (their job was lost, or SMTP stayed away past the retries) are sent again."""
    settings = clients.settings
    now = utcnow()
    sessions = clients.engine.get_collection(Session)
    due = sessions.find(
        {
            "status": "scheduled",
            "remindedAt": None,
            "startTime": {"$gt": now, "$lte": now + timedelta(minutes=settings.reminder_minutes)},
        }
    ).limit(settings.job_batch_size)
    counts = {"sessions": 0, "reminders": 0, "requeued": 0}
    deadline = Deadline(settings.job_time_budget_s)
    async for doc in due:
        if deadline.passed:
            break  # still remindedAt null: the next run's
        session = Session.model_validate_doc(doc)
        counts["reminders"] += await fan_out(clients, session, "reminder")
        await conditional_update(
            clients,
            {"_id": session.id, "remindedAt": None, "calendarSequence": session.calendar_sequence},
            {"$set": {"remindedAt": now}},
        )
        counts["sessions"] += 1
    stale = (
        clients.engine.get_collection(Email)
        .find(
            {"status": {"$in": ["queued", "sending"]}, "createdAt": {"$lt": now - STALE_CLAIM}},
            {"_id": 1},
        )
        .limit(settings.job_batch_size)
    )
    keys = [[doc["_id"]] async for doc in stale]
    await clients.queue.enqueue_many(SEND_EMAIL, keys)
    counts["requeued"] = len(keys)
    return counts
