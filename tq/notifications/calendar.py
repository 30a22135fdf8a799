"""iCalendar events of a session (RFC 5545/5546, built with the `icalendar` library): one stable
UID per session, a SEQUENCE that rises with every reschedule and with the cancellation, so
calendar clients update or cancel the event they already have instead of adding another."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from icalendar import Calendar, Event, vCalAddress, vText

from tq.sessions.models import Session
from tq.users.models import UserCard

Method = Literal["REQUEST", "CANCEL", "PUBLISH"]
# Length of the calendar slot of a session without a duration.
DEFAULT_MINUTES = 60


def event_uid(session: Session, app_url: str) -> str:
    return f"session-{session.id}@{urlsplit(app_url).hostname or 'talent-quotient'}"


def session_link(session: Session, app_url: str) -> str:
    return f"{app_url}/session/{session.id}"


def build_calendar(
    session: Session,
    host: UserCard | None,
    *,
    method: Method,
    app_url: str,
    now: datetime,
    attendee: tuple[str, str | None] | None = None,
    link: str | None = None,
    organizer_email: str | None = None,
) -> bytes:
    """The session as a VCALENDAR with one VEVENT. `attendee` is (email, name) of the one
    recipient: an invitation never lists other invitees. `organizer_email`: the address the
    ORGANIZER line shows with the host's name; the host's own only for the host (as the
    session JSON shows it), the platform's sender address for everyone else."""
    calendar = Calendar()
    calendar.add("prodid", "-//Talent Quotient//Interviews//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", event_uid(session, app_url))
    event.add("sequence", session.calendar_sequence)
    event.add("dtstamp", now)
    event.add("dtstart", session.start_time)
    event.add("duration", timedelta(minutes=session.duration or DEFAULT_MINUTES))
    event.add("summary", session.title)
    if session.description:
        event.add("description", session.description)
    event.add("url", link or session_link(session, app_url))
    cancelled = method == "CANCEL" or session.status == "cancelled"
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if host is not None:
        organizer = vCalAddress(f"mailto:{organizer_email or host.email}")
        organizer.params["cn"] = vText(host.name)
        event["organizer"] = organizer
    if attendee is not None:
        email, name = attendee
        address = vCalAddress(f"mailto:{email}")
        if name:
            address.params["cn"] = vText(name)
        address.params["role"] = vText("REQ-PARTICIPANT")
        address.params["partstat"] = vText("NEEDS-ACTION")
        address.params["rsvp"] = vText("TRUE")
        event.add("attendee", address, encode=False)
    calendar.add_component(event)
    return bytes(calendar.to_ical())
