"""SMTP delivery: one message per call over `SMTP_URL` (plain, STARTTLS or TLS, with optional
auth). Blocking smtplib runs in a thread; jobs call `deliver`, nothing else speaks SMTP."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from config import Settings


class MailNotConfigured(Exception):
    """SMTP_URL is not set: emails stay queued until it is."""


class MailUnavailable(Exception):
    """The SMTP server did not take the message (down, refused, timed out): retry later."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool  # implicit TLS (smtps://)
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=starttls and not tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Blocking: hand `message` to the SMTP server, or raise MailUnavailable."""
    if not settings.smtp_url:
        raise MailNotConfigured()
    target = SmtpTarget.parse(settings.smtp_url)
    timeout = settings.smtp_timeout_s
    try:
        smtp: smtplib.SMTP
        if target.tls:
            smtp = smtplib.SMTP_SSL(
                target.host, target.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with smtp:
            if target.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if target.username:
                smtp.login(target.username, target.password or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        # A permanent refusal of the address: retrying will not help.
        raise ValueError(f"recipient refused: {sorted(exc.recipients)}") from None
    except (OSError, smtplib.SMTPException) as exc:
        # Connection refused, timeouts, TLS failures, 4xx answers: the server may come back.
        raise MailUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from None


async def deliver(settings: Settings, message: EmailMessage) -> None:
    await asyncio.to_thread(send_message, settings, message)
