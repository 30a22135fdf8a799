"""Emails about sessions: who gets which, queued once per recipient, rendered when sent.

An email is queued as an `Email` record whose key names what it is about, then `send_email` is
enqueued for it; a second queueing of the same key is a no-op, which is what makes reminders
exactly-once when beats or workers race. The body is rendered when the job sends it, from the
session as it then is, in the recipient's time zone (the account's, else the invitation's,
else UTC), and addressed to that one recipient: nobody sees another invitee's address."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bson import ObjectId
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from config import Settings
from tq.core.clients import Clients
from tq.core.db import insert_new, parse_object_id
from tq.core.erasure import Erasure
from tq.core.mail import MailNotConfigured, MailUnavailable, deliver
from tq.core.security import link_token
from tq.core.time import Deadline, utcnow
from tq.jobs.registry import SEND_EMAIL
from tq.notifications.calendar import DEFAULT_MINUTES, Method, build_calendar, session_link
from tq.notifications.models import Email, EmailKind
from tq.orgs import service as org_service
from tq.orgs import store as org_store
from tq.sessions import store
from tq.sessions.invitations import invitation_status, rewrite_invitations
from tq.sessions.models import Invitation, Session, SessionFacts
from tq.users.models import UserCard
from tq.users.service import get_users, users_by_email

log = logging.getLogger("tq.notifications")
INVITATION_LINK = "invitation"
NOTICES: tuple[EmailKind, ...] = ("reschedule", "cancellation")

templates = Environment(
    loader=PackageLoader("tq.notifications", "templates"),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


# --- the invitation link


def invitation_token(settings: Settings, session_id: ObjectId, invitation: Invitation) -> str:
    """The invitation's current link token, derived again from its nonce (never stored)."""
    subject = f"{session_id}:{invitation.id}"
    return link_token(settings.jwt_secret, INVITATION_LINK, subject, invitation.nonce)


def invite_url(settings: Settings, token: str) -> str:
    return f"{settings.app_url}/invitations/{token}"


# --- who is told


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None
    timezone: str | None
    invitation: Invitation | None = None


async def recipients(clients: Clients, session: Session, kind: EmailKind) -> list[Recipient]:
    """Every member and every pending invitee, once per address. A cancellation also reaches
    the invitees whose invitation it just ended (their calendars hold the event)."""
    users = await get_users(clients.engine, session.members)
    found: dict[str, Recipient] = {}
    for uid in session.members:
        user = users.get(uid)
        if user is not None:
            found[user.email] = Recipient(user.email, user.name, user.timezone)
    now = utcnow()
    for invitation in session.invitations:
        unanswered = invitation.status == "pending"
        if invitation_status(invitation, session, now) == "pending" or (
            kind == "cancellation" and unanswered
        ):
            found.setdefault(
                invitation.email,
                Recipient(invitation.email, invitation.name, invitation.timezone, invitation),
            )
    return list(found.values())


async def queue_emails(clients: Clients, drafts: list[Email]) -> int:
    """Insert the email records and enqueue a send for each one that is new; keys already
    queued (a racing beat, a retried fan-out) are skipped. Returns how many were new."""
    if not drafts:
        return 0
    collection = clients.engine.get_collection(Email)
    new = await insert_new(collection, [draft.model_dump_doc() for draft in drafts])
    await clients.queue.enqueue_many(SEND_EMAIL, [[key] for key in new])
    return len(new)


def as_queued(session: Session, facts: SessionFacts | None) -> Session:
    """The session as an email queued with `facts` must show it."""
    if facts is None:
        return session
    return session.model_copy(
        update={
            "title": facts.title,
            "description": facts.description,
            "start_time": facts.start_time,
            "duration": facts.duration,
            "status": facts.status,
            "calendar_sequence": facts.calendar_sequence,
        }
    )


async def queue_invitation_email(
    clients: Clients, session: Session, invitation: Invitation
) -> None:
    """The invitation's current link, mailed once (a resend is a new link, so a new email)."""
    # ODMantic declares `id` to type checkers even where another field is primary.
    draft = Email(  # type: ignore[call-arg]
        key=f"invitation:{invitation.id}:{invitation.sends}",
        kind="invitation",
        to=invitation.email,
        session_id=session.id,
        invitation_id=invitation.id,
        send_no=invitation.sends,
        sequence=session.calendar_sequence,
        facts=session.facts().model_dump(),
    )
    await queue_emails(clients, [draft])


async def fan_out(
    clients: Clients, session: Session, kind: EmailKind, facts: SessionFacts | None = None
) -> int:
    """One email of `kind` to every member and pending invitee, keyed by the calendar
    SEQUENCE it announces, so each change is mailed once per person. `facts`: the session as
    the change left it (default: as it is now)."""
    facts = facts or session.facts()
    seq = facts.calendar_sequence
    drafts = [
        Email(  # type: ignore[call-arg]
            key=f"{kind}:{session.id}:{seq}:{person.email}",
            kind=kind,
            to=person.email,
            session_id=session.id,
            invitation_id=person.invitation.id if person.invitation else None,
            sequence=seq,
            facts=facts.model_dump(),
        )
        # Who was to be told when the change was made (a cancellation right after a
        # reschedule must not drop the invitees from the reschedule's email).
        for person in await recipients(clients, as_queued(session, facts), kind)
    ]
    return await queue_emails(clients, drafts)


async def erase_candidate_emails(clients: Clients, erasure: Erasure) -> None:
    """A candidate's erasure: the emails to them about those sessions go, queued or sent."""
    if not erasure.session_ids:
        return
    gone = await clients.engine.get_collection(Email).delete_many(
        {"to": erasure.email, "sessionId": {"$in": erasure.session_ids}}
    )
    erasure.removed["emails"] += int(gone.deleted_count)


# --- rendering


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """`Tuesday 1 December 2026, 15:30 (Europe/Paris)`: the zone always named."""
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone.key})"


SUBJECTS: dict[EmailKind, str] = {
    "invitation": "Invitation: {title} ({when})",
    "reschedule": "Updated: {title} ({when})",
    "cancellation": "Cancelled: {title} ({when})",
    "reminder": "Reminder: {title} starts {when}",
    "webhook_disabled": "Webhook endpoint disabled: {url}",
    "org_invitation": "Join {org_name} on Talent Quotient",
}
METHODS: dict[EmailKind, Method | None] = {
    "invitation": "REQUEST",
    "reschedule": "REQUEST",
    "cancellation": "CANCEL",
    "reminder": None,
    "webhook_disabled": None,
    "org_invitation": None,
}


@dataclass
class Rendered:
    message: EmailMessage
    invitation: Invitation | None


async def render(clients: Clients, email: Email, session: Session) -> Rendered | None:
    """The message for `email`, showing the session as it was when the email was queued;
    None when there is nothing to send any more (the invitation was answered, revoked or
    re-sent with a newer link: that is decided on the session as it is now)."""
    settings = clients.settings
    invitation = next((inv for inv in session.invitations if inv.id == email.invitation_id), None)
    link = session_link(session, settings.app_url)
    role = None
    if email.kind == "invitation":
        if invitation is None or invitation.sends != email.send_no:
            return None
        if invitation_status(invitation, session, utcnow()) != "pending":
            return None
        link = invite_url(settings, invitation_token(settings, session.id, invitation))
        role = invitation.role
    session = as_queued(session, SessionFacts.model_validate(email.facts) if email.facts else None)
    users = await get_users(clients.engine, [session.created_by])
    host = users.get(session.created_by)
    account = (await users_by_email(clients.engine, [email.to])).get(email.to)
    # The zone the host gave when inviting this address (also once it was accepted).
    invited = invitation or next(
        (inv for inv in reversed(session.invitations) if inv.email == email.to), None
    )
    zone = zone_of(
        (account.timezone if account else None) or (invited.timezone if invited else None)
    )
    name = account.name if account else (invited.name if invited else None)
    context: dict[str, Any] = {
        "kind": email.kind,
        "recipient_name": name,
        "host_name": host.name if host else "Your host",
        "title": session.title,
        "when": local_time(session.start_time, zone),
        "minutes": session.duration or DEFAULT_MINUTES,
        "link": link,
        "role": role,
        "join_window": settings.join_window_minutes,
    }
    context["subject"] = SUBJECTS[email.kind].format(**context)
    message = compose(settings, email, context, "email")
    method = METHODS[email.kind]
    if method is not None:
        ics = build_calendar(
            session,
            host,
            method=method,
            app_url=settings.app_url,
            now=utcnow(),
            attendee=(email.to, name),
            link=link if email.kind != "invitation" else session_link(session, settings.app_url),
            organizer_email=organizer_address(settings, host, email.to),
        )
        message.add_attachment(
            ics,
            maintype="text",
            subtype="calendar",
            filename="invite.ics" if method == "REQUEST" else "cancel.ics",
            params={"method": method, "charset": "utf-8"},
        )
    return Rendered(message, invitation)


async def queue_org_invitation_email(
    clients: Clients, org_id: ObjectId, invitation_id: ObjectId
) -> None:
    """An organization's invitation, mailed once per link (the OrgInvitationIssued reaction).
    The link is derived again when the email is sent, from the invitation as it then is."""
    org = await org_store.find(clients.engine, org_id)
    invitation = next((i for i in org.invitations if i.id == invitation_id), None) if org else None
    if invitation is None:
        return
    draft = Email(  # type: ignore[call-arg]
        key=f"org_invitation:{invitation_id}",
        kind="org_invitation",
        to=invitation.email,
        session_id=None,
        context={"org_id": str(org_id), "invitation_id": str(invitation_id)},
    )
    await queue_emails(clients, [draft])


async def org_invitation_context(clients: Clients, email: Email) -> dict[str, Any] | None:
    """What an organization's invitation email shows; None once it is no longer pending."""
    org_id = parse_object_id(email.context.get("org_id", ""))
    invitation_id = parse_object_id(email.context.get("invitation_id", ""))
    org = await org_store.find(clients.engine, org_id) if org_id else None
    invitation = next((i for i in org.invitations if i.id == invitation_id), None) if org else None
    if org is None or invitation is None:
        return None
    if org_service.invitation_status(invitation, utcnow()) != "pending":
        return None
    settings = clients.settings
    token = org_service.invitation_token(settings, org.id, invitation)
    inviter = (await get_users(clients.engine, [invitation.invited_by])).get(invitation.invited_by)
    return {
        "org_name": org.name,
        "role": invitation.role,
        "inviter_name": inviter.name if inviter else "A colleague",
        "link": org_service.org_invite_url(settings, token),
        "expires": local_time(invitation.expires_at, zone_of(None)),
    }


def render_notice(clients: Clients, email: Email, shown: dict[str, Any] | None = None) -> Rendered:
    """An email about the account rather than a session (its context, or `shown`, says what
    to show)."""
    settings = clients.settings
    context: dict[str, Any] = {
        "kind": email.kind,
        "recipient_name": email.context.get("name"),
        **(shown if shown is not None else email.context),
    }
    context["subject"] = SUBJECTS[email.kind].format(**context)
    return Rendered(compose(settings, email, context, "notice"), None)


def compose(
    settings: Settings, email: Email, context: dict[str, Any], template: str
) -> EmailMessage:
    """One message to one recipient: headers, then the text and HTML parts of `template`."""
    message = EmailMessage()
    message["Subject"] = context["subject"]
    message["From"] = settings.mail_from
    message["To"] = email.to
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain="talent-quotient")
    message["X-TQ-Email"] = email.kind
    message.set_content(templates.get_template(f"{template}.txt.j2").render(context))
    html = templates.get_template(f"{template}.html.j2").render(context)
    message.add_alternative(html, subtype="html")
    return message


def organizer_address(settings: Settings, host: UserCard | None, reader: str | None) -> str:
    """Whose address the ORGANIZER line of a calendar read by `reader` (an email address)
    shows: the host's to the host, the platform's sender to anyone else (the session JSON
    hides the host's email from them too)."""
    if host is not None and reader is not None and reader.lower() == host.email.lower():
        return host.email
    return parseaddr(settings.mail_from)[1] or "no-reply@localhost"


def calendar_for(session: Session, host: UserCard | None, settings: Settings, reader: str) -> bytes:
    """The current event, for GET /api/sessions/:id/calendar.ics, as `reader` may see it."""
    return build_calendar(
        session,
        host,
        method="PUBLISH",
        app_url=settings.app_url,
        now=utcnow(),
        organizer_email=organizer_address(settings, host, reader),
    )


STALE_CLAIM = timedelta(minutes=10)


# --- sending, as the jobs do it


async def send_queued(clients: Clients, key: str) -> dict[str, int]:
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
        if email.kind == "org_invitation":
            shown = await org_invitation_context(clients, email)
            rendered = render_notice(clients, email, shown) if shown else None
        elif email.session_id is None:
            rendered = render_notice(clients, email)
        else:
            found = await store.find(clients.engine, email.session_id)
            rendered = await render(clients, email, found) if found else None
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
        await mark_invitation_sent(clients, email, sent_at)
    return {"sent": 1}


async def mark_invitation_sent(clients: Clients, email: Email, sent_at: Any) -> None:
    """`sentAt` of the invitation whose link this was (a few tries: invitations may change)."""
    if email.session_id is None:
        return
    for _ in range(5):
        session = await store.find(clients.engine, email.session_id)
        if session is None:
            return
        invitations = list(session.invitations)
        for i, inv in enumerate(invitations):
            if inv.id == email.invitation_id and inv.sends == email.send_no:
                invitations[i] = inv.model_copy(update={"sent_at": sent_at})
                break
        else:
            return
        if await rewrite_invitations(clients, session, invitations):
            return


async def notify_members(
    clients: Clients, session_id: str, kind: str, facts: str = ""
) -> dict[str, int]:
    """Email every member and pending invitee about a reschedule or a cancellation, saying
    what that change made of the session (`facts`; a job queued before they were passed says
    what the session is now)."""
    if kind not in NOTICES:
        return {"invalid": 1}
    oid = parse_object_id(session_id)
    session = await store.find(clients.engine, oid) if oid else None
    if session is None:
        return {"gone": 1}
    try:
        as_changed = SessionFacts.model_validate_json(facts) if facts else None
    except ValueError:
        return {"invalid": 1}
    notice: EmailKind = "reschedule" if kind == "reschedule" else "cancellation"
    return {"queued": await fan_out(clients, session, notice, as_changed)}


async def remind_due(clients: Clients) -> dict[str, int]:
    """Sessions starting within REMINDER_MINUTES get one reminder per member and pending
    invitee: the email keys make a second beat's queueing a no-op, and the session is marked
    reminded afterwards (so a crash in between only repeats a no-op). Then emails still queued
    after a while (their job was lost, or SMTP stayed away past the retries) are sent again."""
    settings = clients.settings
    now = utcnow()
    within = timedelta(minutes=settings.reminder_minutes)
    due = store.reminders_due(clients.engine, now, within, settings.job_batch_size)
    counts = {"sessions": 0, "reminders": 0, "requeued": 0}
    deadline = Deadline(settings.job_time_budget_s)
    async for session in due:
        if deadline.passed:
            break  # still remindedAt null: the next run's
        counts["reminders"] += await fan_out(clients, session, "reminder")
        await store.update(
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
