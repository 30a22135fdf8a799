"""The reminder beat also re-sends emails left queued (their job lost, or SMTP away past the
retries): nothing queued is lost."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

from config import Settings
from tests.support import SmtpCatcher, open_clients, unique_email, wait_until
from tq.notifications.jobs import send_reminders
from tq.notifications.models import Email


async def test_an_email_left_queued_is_sent_by_the_next_beat(
    settings: Settings, celery_worker: subprocess.Popen[bytes], mail_server: SmtpCatcher
) -> None:
    to = unique_email("stranded")
    stranded = Email(  # type: ignore[call-arg]
        key=f"webhook_disabled:stranded:{to}",
        kind="webhook_disabled",
        to=to,
        session_id=None,
        context={
            "name": "Ops",
            "url": "https://hooks.example.com/x",
            "endpoint_id": "e",
            "days": "5",
        },
        # Queued 11 minutes ago, and its job never ran (no send_email was queued here).
        created_at=datetime.now(UTC) - timedelta(minutes=11),
    )
    async with open_clients(settings) as clients:
        emails = clients.engine.get_collection(Email)
        await emails.insert_one(stranded.model_dump_doc())
        counts = await send_reminders(clients)
        assert counts["requeued"] >= 1
        [mail] = await mail_server.wait_for(to, "Webhook endpoint disabled")
        assert "https://hooks.example.com/x" in mail.as_string()

        async def sent() -> bool:
            doc = await emails.find_one({"_id": stranded.key})
            return bool(doc and doc["status"] == "sent")

        await wait_until(sent, timeout=10)
