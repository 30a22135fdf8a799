"""Outbound webhooks on the real stack: a real Celery worker delivers to a real local receiver
(aiohttp), and every delivery is checked with the `standardwebhooks` library's own verifier."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from standardwebhooks import Webhook, WebhookVerificationError

from config import Settings
from tests.support import (
    SmtpCatcher,
    WebhookReceiver,
    act,
    http_client,
    iso,
    open_clients,
    register,
    running_app,
    wait_until,
)
from tq.core.clients import Clients
from tq.integrations.jobs import deliver_webhook, pump_webhooks
from tq.integrations.models import WebhookDelivery, WebhookEndpoint

ENDPOINTS = "/api/webhooks/endpoints"


async def own_delivery(clients: Clients, endpoint: dict[str, Any], owner: dict[str, Any]) -> str:
    delivery = WebhookDelivery(  # type: ignore[call-arg]
        key=f"msg_{ObjectId()!s}",
        endpoint_id=ObjectId(endpoint["_id"]),
        owner_id=ObjectId(owner["user"]["_id"]),
        event_type="ping",
        payload='{"type": "ping", "timestamp": "2026-01-01T00:00:00Z", "data": {}}',
        next_attempt_at=datetime.now(UTC),
    )
    await clients.engine.get_collection(WebhookDelivery).insert_one(delivery.model_dump_doc())
    return delivery.key


async def pump_until(
    clients: Clients, condition: Callable[[], Awaitable[bool] | bool], timeout: float = 30
) -> None:
    """Run the pump (as beat would) until `condition` holds."""

    async def step() -> bool:
        await pump_webhooks(clients)
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        return bool(result)

    await wait_until(step, timeout=timeout, interval=0.2)


async def endpoint_for(
    client: httpx.AsyncClient, owner: dict[str, Any], url: str, events: list[str]
) -> tuple[dict[str, Any], str]:
    made = await client.post(
        ENDPOINTS, json={"url": url, "events": events}, headers=owner["headers"]
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_")
    return body["endpoint"], body["secret"]


async def test_lifecycle_events_are_delivered_signed(
    client: httpx.AsyncClient, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    host = await register(client, role="interviewer")
    async with WebhookReceiver() as receiver, open_clients(settings) as clients:
        endpoint, secret = await endpoint_for(
            client, host, receiver.url, ["session.created", "session.started", "member.joined"]
        )
        assert "whsec_" not in json.dumps(endpoint)
        created = await client.post(
            "/api/sessions",
            json={"title": "Hooked", "startTime": iso(datetime.now(UTC) + timedelta(minutes=5))},
            headers=host["headers"],
        )
        session = created.json()["session"]
        guest = await register(client)
        await act(client, guest, session, "join")
        await act(client, host, session, "start")
        await pump_until(clients, lambda: len(receiver.received) >= 3)
    verifier = Webhook(secret)
    types = []
    for request in receiver.received:
        payload = verifier.verify(request["body"], request["headers"])
        types.append(payload["type"])
        assert payload["data"]["session"]["_id"] == session["_id"]
        assert host["user"]["email"] not in request["body"]
        assert guest["user"]["email"] not in request["body"]
        assert request["headers"]["webhook-id"].startswith("msg_")
        assert request["headers"]["webhook-signature"].startswith("v1,")
    assert sorted(types) == ["member.joined", "session.created", "session.started"]
    tampered = dict(receiver.received[0]["headers"])
    with pytest.raises(WebhookVerificationError):
        verifier.verify(receiver.received[0]["body"].replace("Hooked", "Hacked"), tampered)
    log = await client.get(f"{ENDPOINTS}/{endpoint['_id']}/deliveries", headers=host["headers"])
    assert {d["status"] for d in log.json()["deliveries"]} == {"succeeded"}
    assert {d["_id"] for d in log.json()["deliveries"]} == {
        r["headers"]["webhook-id"] for r in receiver.received
    }


async def test_retries_after_500_429_and_a_timeout_then_replay(
    client: httpx.AsyncClient, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    host = await register(client, role="interviewer")
    async with WebhookReceiver() as receiver, open_clients(settings) as clients:
        receiver.script = [
            (500, {}, 0.0),
            (429, {"Retry-After": "2"}, 0.0),
            (200, {}, settings.webhook_timeout_s + 1),  # answers too late: a timeout
        ]
        endpoint, secret = await endpoint_for(client, host, receiver.url, ["session.created"])
        sent = await client.post(f"{ENDPOINTS}/{endpoint['_id']}/test", headers=host["headers"])
        assert sent.status_code == 202
        key = sent.json()["delivery"]["_id"]
        base = f"{ENDPOINTS}/{endpoint['_id']}/deliveries/{key}"

        async def succeeded() -> bool:
            got = await client.get(base, headers=host["headers"])
            return bool(got.json()["delivery"]["status"] == "succeeded")

        await pump_until(clients, succeeded, timeout=60)
        detail = (await client.get(base, headers=host["headers"])).json()["delivery"]
        assert detail["attempts"] == 4 and detail["lastStatus"] == 200
        assert detail["responseBody"] == "answer 200"
        assert json.loads(detail["payload"])["type"] == "ping"
        # Every attempt carried the same webhook-id, and each verifies.
        assert [r["headers"]["webhook-id"] for r in receiver.received] == [key] * 4
        for request in receiver.received:
            Webhook(secret).verify(request["body"], request["headers"])
        # The 429 asked for 2 s: the next attempt came no sooner (the schedule said 0.6 s).
        times = [r["at"] for r in receiver.received]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert gaps[1] >= 2.0, gaps

        replayed = await client.post(f"{base}/replay", headers=host["headers"])
        assert replayed.status_code == 202
        await pump_until(clients, lambda: len(receiver.received) == 5)
    assert receiver.received[4]["headers"]["webhook-id"] == key


async def test_a_failing_endpoint_gives_up_and_is_disabled(
    client: httpx.AsyncClient,
    settings: Settings,
    celery_worker: subprocess.Popen[bytes],
    mail_server: SmtpCatcher,
) -> None:
    host = await register(client, role="interviewer")
    async with WebhookReceiver() as receiver, open_clients(settings) as clients:
        receiver.script = [(500, {}, 0.0)] * 10
        endpoint, _ = await endpoint_for(client, host, receiver.url, ["session.created"])
        # A delivery of our own, attempted here (not by the suite's worker).
        key = await own_delivery(clients, endpoint, host)
        # Failing for longer than WEBHOOK_DISABLE_AFTER_DAYS already.
        long_ago = datetime.now(UTC) - timedelta(days=settings.webhook_disable_after_days + 1)
        await clients.engine.get_collection(WebhookEndpoint).update_one(
            {"_id": ObjectId(endpoint["_id"])}, {"$set": {"failingSince": long_ago}}
        )
        outcome = await deliver_webhook(clients, key)
        assert outcome == {"retrying": 1}
        got = (await client.get(f"{ENDPOINTS}/{endpoint['_id']}", headers=host["headers"])).json()
        assert got["endpoint"]["enabled"] is False and got["endpoint"]["disabledReason"]
        # Its owner is told, once, by email.
        [notice] = await mail_server.wait_for(host["user"]["email"], "Webhook endpoint disabled")
        assert receiver.url in notice.as_string()
        # Disabled: the next attempt is not sent.
        await clients.engine.get_collection(WebhookDelivery).update_one(
            {"_id": key}, {"$set": {"nextAttemptAt": datetime.now(UTC)}}
        )
        assert await deliver_webhook(clients, key) == {"failed": 1}
        assert len(receiver.received) == 1
        enabled = await client.patch(
            f"{ENDPOINTS}/{endpoint['_id']}", json={"enabled": True}, headers=host["headers"]
        )
        assert enabled.json()["endpoint"]["enabled"] is True
        assert enabled.json()["endpoint"]["failingSince"] is None


async def test_a_rotated_secret_signs_with_both_for_the_grace_period(
    client: httpx.AsyncClient, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    host = await register(client, role="interviewer")
    async with WebhookReceiver() as receiver, open_clients(settings) as clients:
        endpoint, old = await endpoint_for(client, host, receiver.url, ["session.created"])
        rotated = await client.post(
            f"{ENDPOINTS}/{endpoint['_id']}/rotate-secret", headers=host["headers"]
        )
        assert rotated.status_code == 200
        new = rotated.json()["secret"]
        assert new != old and new.startswith("whsec_")
        await client.post(f"{ENDPOINTS}/{endpoint['_id']}/test", headers=host["headers"])
        await pump_until(clients, lambda: len(receiver.received) == 1)
        request = receiver.received[0]
        assert len(request["headers"]["webhook-signature"].split(" ")) == 2
        Webhook(old).verify(request["body"], request["headers"])
        Webhook(new).verify(request["body"], request["headers"])
        # After the grace period only the new secret signs.
        await clients.engine.get_collection(WebhookEndpoint).update_one(
            {"_id": ObjectId(endpoint["_id"])},  # secrets.0: the old one
            {"$set": {"secrets.0.expiresAt": datetime.now(UTC) - timedelta(seconds=1)}},
        )
        await client.post(f"{ENDPOINTS}/{endpoint['_id']}/test", headers=host["headers"])
        await pump_until(clients, lambda: len(receiver.received) == 2)
    later = receiver.received[1]
    assert len(later["headers"]["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(later["body"], later["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(later["body"], later["headers"])


async def test_owners_only(client: httpx.AsyncClient) -> None:
    owner = await register(client, role="interviewer")
    other = await register(client, role="interviewer")
    candidate = await register(client)
    endpoint, _ = await endpoint_for(client, owner, "http://127.0.0.1:9/x", ["record.ready"])
    refused = await client.post(
        ENDPOINTS,
        json={"url": "http://127.0.0.1:9/x", "events": ["record.ready"]},
        headers=candidate["headers"],
    )
    assert refused.status_code == 403
    for method, path in (
        ("GET", f"{ENDPOINTS}/{endpoint['_id']}"),
        ("DELETE", f"{ENDPOINTS}/{endpoint['_id']}"),
        ("POST", f"{ENDPOINTS}/{endpoint['_id']}/test"),
        ("GET", f"{ENDPOINTS}/{endpoint['_id']}/deliveries"),
    ):
        answer = await client.request(method, path, headers=other["headers"])
        assert answer.status_code == 404, (method, path)
    listed = await client.get(ENDPOINTS, headers=other["headers"])
    assert listed.json()["endpoints"] == []
    bad = await client.post(
        ENDPOINTS,
        json={"url": "http://127.0.0.1:9/x", "events": ["nope"]},
        headers=owner["headers"],
    )
    assert bad.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",  # a name that resolves to loopback
        "http://hooks.example.com/plain-http",  # production wants https
    ],
)
async def test_ssrf_guard_refuses_private_addresses(settings: Settings, url: str) -> None:
    strict = settings.model_copy(update={"webhook_allow_private": False})
    async with running_app(strict) as (_app, base), http_client(base) as http:
        owner = await register(http, role="interviewer")
        answer = await http.post(
            ENDPOINTS, json={"url": url, "events": ["session.created"]}, headers=owner["headers"]
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "unsafe_url"


async def test_the_address_is_checked_again_before_each_send(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Registered while allowed (development); when the send-time check refuses the address
    (here: the same URL under production's rule), nothing is sent and the attempt says why."""
    host = await register(client, role="interviewer")
    async with WebhookReceiver() as receiver:
        endpoint, _ = await endpoint_for(client, host, receiver.url, ["session.created"])
        strict = settings.model_copy(update={"webhook_allow_private": False})
        async with open_clients(strict) as clients:
            key = await own_delivery(clients, endpoint, host)
            deliveries = clients.engine.get_collection(WebhookDelivery)
            assert await deliver_webhook(clients, key) == {"retrying": 1}
            doc = await deliveries.find_one({"_id": key})
        assert receiver.received == []
        assert doc is not None and doc["attempts"] == 1 and doc["lastStatus"] is None
        assert "https" in doc["lastError"] or "non-public" in doc["lastError"]


async def test_redirects_are_not_followed(client: httpx.AsyncClient, settings: Settings) -> None:
    host = await register(client, role="interviewer")
    async with WebhookReceiver() as receiver, WebhookReceiver() as elsewhere:
        receiver.script = [(307, {"Location": elsewhere.url}, 0.0)]
        endpoint, _ = await endpoint_for(client, host, receiver.url, ["session.created"])
        async with open_clients(settings) as clients:
            key = await own_delivery(clients, endpoint, host)
            assert await deliver_webhook(clients, key) == {"retrying": 1}
            doc = await clients.engine.get_collection(WebhookDelivery).find_one({"_id": key})
        assert len(receiver.received) == 1 and elsewhere.received == []
        assert doc is not None and doc["lastStatus"] == 307 and doc["status"] == "pending"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",  # link-local metadata, even in development
        "http://[fe80::1]/hook",
        "http://10.0.0.1/hook",  # other private ranges too: only loopback is for development
        "http://192.168.1.10/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
        "http://[::a00:1]/hook",  # IPv4-compatible 10.0.0.1
        "http://[::ffff:169.254.169.254]/hook",  # IPv4-mapped
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",  # Teredo, client 10.0.0.1
        "http://[::ffff:0:a00:1]/hook",  # IPv4-translated 10.0.0.1
        "http://[fec0::1]/hook",  # site-local
        "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_link_local_and_disguised_private_addresses_are_refused_everywhere(
    client: httpx.AsyncClient, url: str
) -> None:
    """The suite's settings allow loopback receivers (development): these stay refused."""
    owner = await register(client, role="interviewer")
    answer = await client.post(
        ENDPOINTS, json={"url": url, "events": ["session.created"]}, headers=owner["headers"]
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "unsafe_url"


@pytest.mark.parametrize(
    "url",
    ["https://\u023e2&\u2026[", "https://[::1", "http://[not-an-ip]/x", "https://host:99999/x"],
)
async def test_malformed_urls_are_400_not_500(client: httpx.AsyncClient, url: str) -> None:
    owner = await register(client, role="interviewer")
    answer = await client.post(
        ENDPOINTS, json={"url": url, "events": ["session.created"]}, headers=owner["headers"]
    )
    assert answer.status_code == 400, answer.text


async def test_deliveries_go_to_the_checked_address_with_the_name_as_host(
    client: httpx.AsyncClient, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    """The worker resolves `localhost` once, checks it, and connects to that address: the
    receiver still sees the name in Host (and TLS would verify the name)."""
    host = await register(client, role="interviewer")
    async with WebhookReceiver() as receiver, open_clients(settings) as clients:
        url = receiver.url.replace("127.0.0.1", "localhost")
        await endpoint_for(client, host, url, ["session.created"])
        made = await client.post(
            "/api/sessions",
            json={"title": "Pinned", "startTime": iso(datetime.now(UTC) + timedelta(minutes=5))},
            headers=host["headers"],
        )
        assert made.status_code == 201
        await pump_until(clients, lambda: len(receiver.received) >= 1)
    port = url.rsplit(":", 1)[1].split("/", 1)[0]
    headers = {name.lower(): value for name, value in receiver.received[0]["headers"].items()}
    assert headers["host"] == f"localhost:{port}"
