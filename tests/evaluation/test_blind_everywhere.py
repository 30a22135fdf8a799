"""The blind rule on every path a scorecard's content can leave the server by: the API routes,
the event log, the record (JSON and page), webhook payloads as delivered and as the delivery
log shows them, and metrics. A host who has not submitted reads none of a colleague's."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import httpx

from config import Settings
from tests.evaluation.test_evaluation import RATINGS, panel
from tests.integrations.test_webhooks import ENDPOINTS, endpoint_for, pump_until
from tests.support import WebhookReceiver, act, open_clients
from tq.evaluation.jobs import announce_records
from tq.integrations.models import WEBHOOK_EVENT_TYPES


async def everything_the_host_reads(
    client: httpx.AsyncClient, p: dict[str, Any], endpoint_id: str
) -> dict[str, str]:
    """Every response a host can ask for about this session and its webhooks."""
    base, headers = p["base"], p["host"]["headers"]
    paths = [
        base,
        f"{base}/events?limit=500",
        f"{base}/record",
        f"{base}/record.html",
        f"{base}/scorecards",
        f"{base}/scorecards/me",
        f"{base}/notes",
        f"{base}/runs",
        "/api/sessions",
        f"{ENDPOINTS}/{endpoint_id}/deliveries?limit=100",
    ]
    seen: dict[str, str] = {}
    for path in paths:
        seen[path] = (await client.get(path, headers=headers)).text
    for delivery in (
        await client.get(f"{ENDPOINTS}/{endpoint_id}/deliveries?limit=100", headers=headers)
    ).json()["deliveries"]:
        path = f"{ENDPOINTS}/{endpoint_id}/deliveries/{delivery['_id']}"
        seen[path] = (await client.get(path, headers=headers)).text
    seen["/metrics"] = (await client.get("/metrics")).text
    return seen


async def test_no_path_shows_a_colleagues_scorecard_before_ones_own(
    client: httpx.AsyncClient, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    p = await panel(client)
    base, host, ivo = p["base"], p["host"], p["interviewer"]
    secret_summary = f"Colleague-only verdict {uuid.uuid4().hex}"
    card = {"ratings": RATINGS, "recommendation": "strong_no", "summary": secret_summary}
    async with WebhookReceiver() as receiver, open_clients(settings) as clients:
        endpoint, _ = await endpoint_for(client, host, receiver.url, list(WEBHOOK_EVENT_TYPES))
        await act(client, host, p["session"], "start")
        assert (
            await client.put(f"{base}/scorecards/me", json=card, headers=ivo["headers"])
        ).is_success
        submitted = await client.post(f"{base}/scorecards/me/submit", headers=ivo["headers"])
        assert submitted.status_code == 200, submitted.text
        assert (await act(client, host, p["session"], "end")).status_code == 200
        await announce_records(clients)

        def delivered(kind: str) -> bool:
            return any(f'"type":"{kind}"' in r["body"].replace(" ", "") for r in receiver.received)

        await pump_until(
            clients, lambda: delivered("scorecard.submitted") and delivered("record.ready")
        )

        seen = await everything_the_host_reads(client, p, endpoint["_id"])
        seen |= {f"delivered {i}": r["body"] for i, r in enumerate(receiver.received)}
        for where, text in seen.items():
            assert secret_summary not in text, where
            assert "strong_no" not in text or '"strong_no":0' in text.replace(" ", ""), where
        # What the log and the webhook do say: that the interviewer submitted.
        assert ivo["user"]["_id"] in seen[f"{base}/events?limit=500"]
        assert '"scorecards":null' in next(
            r["body"].replace(" ", "") for r in receiver.received if "record.ready" in r["body"]
        )

        # Once the host submits, the same walk finds the colleague's card: the rule, not a bug
        # that hides it from everyone, is what kept it out above.
        mine = {"ratings": RATINGS, "recommendation": "yes", "summary": "Host view"}
        await client.put(f"{base}/scorecards/me", json=mine, headers=host["headers"])
        assert (
            await client.post(f"{base}/scorecards/me/submit", headers=host["headers"])
        ).is_success
        await pump_until(
            clients, lambda: sum("scorecard.submitted" in r["body"] for r in receiver.received) >= 2
        )
        after = await everything_the_host_reads(client, p, endpoint["_id"])
        assert secret_summary in after[f"{base}/scorecards"]
        assert secret_summary in after[f"{base}/record"]
        # The event log stays content-free for everyone.
        assert secret_summary not in after[f"{base}/events?limit=500"]
        assert "strong_no" not in after[f"{base}/events?limit=500"]
