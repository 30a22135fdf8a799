"""The SMTP path on real servers: an outage the job rides out, and SMTP auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import redis as redis_sync
from aiosmtpd.smtp import AuthResult, LoginPassword

from config import Settings
from tests.support import (
    SmtpCatcher,
    free_port,
    http_client,
    iso,
    open_clients,
    register,
    running_app,
    start_worker,
    stop_worker,
    unique_email,
    wait_until,
)
from tq.core.mail import MailUnavailable, send_message
from tq.core.queue import JobRun
from tq.notifications.models import Email


@pytest.fixture
def isolated(settings: Settings, services: dict[str, str]) -> Any:
    """These settings on a Redis database of their own: the run's shared worker never takes
    these jobs, only the worker the test starts."""
    url = f"{services['redis']}/15"
    client = redis_sync.Redis.from_url(url)
    client.flushdb()
    yield settings.model_copy(update={"redis_url": url})
    client.flushdb()
    client.close()


async def test_smtp_down_the_job_retries_and_nothing_is_lost(isolated: Settings) -> None:
    port = free_port()  # nothing listens here yet
    down = isolated.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    worker, _ = start_worker(down, name="mail-down")
    catcher: SmtpCatcher | None = None
    try:
        async with (
            running_app(down) as (_app, url),
            http_client(url) as http,
            open_clients(down) as clients,
        ):
            host = await register(http, role="interviewer")
            created = await http.post(
                "/api/sessions",
                json={"title": "Outage", "startTime": iso(datetime.now(UTC) + timedelta(days=1))},
                headers=host["headers"],
            )
            invitee = unique_email("outage")
            answer = await http.post(
                f"/api/sessions/{created.json()['session']['_id']}/invitations",
                json={"email": invitee, "role": "candidate"},
                headers=host["headers"],
            )
            assert answer.status_code == 201  # the API does not wait for SMTP
            key = f"invitation:{answer.json()['invitation']['_id']}:1"
            runs = clients.engine.get_collection(JobRun)
            emails = clients.engine.get_collection(Email)

            async def retrying() -> bool:
                run = await runs.find_one({"job": "send_email", "args": [key]})
                return bool(run and run["status"] == "retrying")

            await wait_until(retrying, timeout=20)
            kept = await emails.find_one({"_id": key})
            assert kept is not None and kept["status"] == "queued"
            assert "ConnectionRefused" in (kept["error"] or "")

            catcher = SmtpCatcher(port).start()  # SMTP is back
            [mail] = await catcher.wait_for(invitee, "Invitation", timeout=30)
            assert mail["To"] == invitee

            async def sent() -> bool:
                doc = await emails.find_one({"_id": key})
                run = await runs.find_one({"job": "send_email", "args": [key]})
                return bool(
                    doc and doc["status"] == "sent" and run and run["status"] == "succeeded"
                )

            await wait_until(sent, timeout=10)
            run = await runs.find_one({"job": "send_email", "args": [key]})
            assert run is not None and run["attempts"] >= 2
    finally:
        stop_worker(worker)
        if catcher is not None:
            catcher.stop()


def test_smtp_auth_with_credentials_from_the_url(settings: Settings) -> None:
    seen: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        seen.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == b"p@ss word")

    catcher = SmtpCatcher(
        auth_required=True, auth_require_tls=False, authenticator=authenticator
    ).start()
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "Hi"
        message.set_content("hello")
        good = settings.model_copy(
            update={"smtp_url": f"smtp://mailer:p%40ss%20word@127.0.0.1:{catcher.port}"}
        )
        send_message(good, message)
        assert [m["Subject"] for m in catcher.to("b@example.com")] == ["Hi"]
        assert seen == [("mailer", "p@ss word")]
        bad = settings.model_copy(
            update={"smtp_url": f"smtp://mailer:wrong@127.0.0.1:{catcher.port}"}
        )
        with pytest.raises(MailUnavailable):
            send_message(bad, message)
        assert len(catcher.to("b@example.com")) == 1
    finally:
        catcher.stop()
