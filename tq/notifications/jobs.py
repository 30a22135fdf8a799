"""Email jobs: send one queued email, tell a session's people about a change, and the reminder
beat (which also re-sends emails a lost job or a long SMTP outage left queued)."""

from __future__ import annotations

from tq.core.clients import Clients
from tq.jobs.registry import NOTIFY_SESSION, SEND_EMAIL, SEND_REMINDERS, job
from tq.notifications import service


@job(SEND_EMAIL)
async def send_email(clients: Clients, key: str) -> dict[str, int]:
    """Claim the email (so two deliveries of this job never both send it), render it from the
    session as it is now, and hand it to SMTP. SMTP away: the claim is given back and the job
    retries (MailUnavailable is transient); the record stays queued, so nothing is lost."""
    return await service.send_queued(clients, key)


@job(NOTIFY_SESSION)
async def notify_session(
    clients: Clients, session_id: str, kind: str, facts: str = ""
) -> dict[str, int]:
    """Email every member and pending invitee about a reschedule or a cancellation."""
    return await service.notify_members(clients, session_id, kind, facts)


@job(SEND_REMINDERS)
async def send_reminders(clients: Clients) -> dict[str, int]:
    """Sessions starting within REMINDER_MINUTES get one reminder per member and pending
    invitee; emails still queued after a while are sent again."""
    return await service.remind_due(clients)
