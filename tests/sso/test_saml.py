"""SAML 2.0 single sign-on against a real identity provider started by the suite (samlify
under Node): a full SP-initiated login, our service provider metadata, and the refusals:
tampered, unsigned, signed by another key, expired, wrong audience, replayed, another
organization's response, hostile XML."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bson import ObjectId
from redis.asyncio import Redis

from config import Settings
from tests.orgs.test_orgs import new_org
from tests.sso.support import (
    CLIENT,
    VERIFIER,
    FakeDns,
    SamlIdp,
    saml_browser_login,
    verify_domains,
)
from tests.support import http_client, register
from tq.sso import service as sso


def urls_of(settings: Settings, org_id: str) -> dict[str, str]:
    base = f"{settings.api_url}/api/auth/sso/saml/{org_id}"
    return {"acs": f"{base}/acs", "metadata": f"{base}/metadata"}


@pytest.fixture
async def world(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path, fake_dns: FakeDns
) -> AsyncIterator[dict[str, Any]]:
    """An organization whose identity provider is a running SAML IdP."""
    owner = await register(client, role="interviewer", name="Owner")
    org = await new_org(client, owner)
    ours = urls_of(settings, org["_id"])
    idp = SamlIdp(tmp_path, ours["metadata"], ours["acs"]).start()
    domain = f"saml-{ObjectId()}.test"
    configured = await client.put(
        f"/api/orgs/{org['_id']}/sso",
        json={"protocol": "saml", "idpMetadataXml": idp.metadata(), "domains": [domain]},
        headers=owner["headers"],
    )
    assert configured.status_code == 200, configured.text
    connection = await verify_domains(client, fake_dns, owner, org["_id"])
    yield {
        "owner": owner,
        "org": org,
        "idp": idp,
        "domain": domain,
        "connection": connection,
    }
    idp.stop()


def on_server(url: str, settings: Settings, server: str) -> str:
    assert url.startswith(settings.api_url), url
    return server + url[len(settings.api_url) :]


async def sign_in_at_idp(
    client: httpx.AsyncClient, world: dict[str, Any], email: str, mode: str = ""
) -> tuple[str, dict[str, str]]:
    started = await client.get(
        f"/api/auth/sso/{world['org']['_id']}/login", params={"next": "/home", "client": CLIENT}
    )
    assert started.status_code == 302, started.text
    location = started.headers["location"]
    assert location.startswith(world["idp"].base + "/sso?SAMLRequest=")
    return await saml_browser_login(location, email, mode)


async def post_acs(
    client: httpx.AsyncClient, settings: Settings, server: str, action: str, fields: dict[str, str]
) -> httpx.Response:
    return await client.post(on_server(action, settings, server), data=fields)


async def test_full_saml_login(
    client: httpx.AsyncClient, settings: Settings, server: str, world: dict[str, Any]
) -> None:
    org, connection = world["org"], world["connection"]
    assert connection["idpEntityId"] == f"{world['idp'].base}/metadata"
    assert connection["acsUrl"] == urls_of(settings, org["_id"])["acs"]
    discovered = await client.post("/api/auth/sso/discover", json={"email": f"x@{world['domain']}"})
    assert discovered.json()["protocol"] == "saml"

    metadata = await client.get(f"/api/auth/sso/saml/{org['_id']}/metadata")
    assert metadata.status_code == 200
    assert metadata.headers["content-type"].startswith("application/samlmetadata+xml")
    assert f'entityID="{connection["spEntityId"]}"' in metadata.text
    assert f'Location="{connection["acsUrl"]}"' in metadata.text

    email = f"Ann.Lee@{world['domain']}"
    action, fields = await sign_in_at_idp(client, world, email)
    assert action == connection["acsUrl"]
    answer = await post_acs(client, settings, server, action, fields)
    assert answer.status_code == 302, answer.text
    fragment = parse_qs(urlsplit(answer.headers["location"]).fragment)
    assert fragment["next"] == ["/home"]
    exchanged = await client.post(
        "/api/auth/sso/exchange", json={"code": fragment["code"][0], "verifier": VERIFIER}
    )
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["user"]["email"] == email.lower()
    members = await client.get(f"/api/orgs/{org['_id']}/members", headers=world["owner"]["headers"])
    assert {m["email"]: m["role"] for m in members.json()["members"]}[
        email.lower()
    ] == "interviewer"

    # The same response again: its login (RelayState, request id) is used up.
    again = await post_acs(client, settings, server, action, fields)
    assert again.status_code == 401 and again.json()["error"] == "sso_login_unknown"
    # With the RelayState of a new login: not the request it answers.
    _, new_fields = await sign_in_at_idp(client, world, email)
    stale = await post_acs(
        client, settings, server, action, {**fields, "RelayState": new_fields["RelayState"]}
    )
    assert stale.status_code == 401 and stale.json()["error"] == "saml_invalid_response"


@pytest.mark.parametrize("mode", ["unsigned", "other_key", "expired", "wrong_audience"])
async def test_bad_assertions_are_refused(
    client: httpx.AsyncClient, settings: Settings, server: str, world: dict[str, Any], mode: str
) -> None:
    action, fields = await sign_in_at_idp(client, world, f"m@{world['domain']}", mode)
    refused = await post_acs(client, settings, server, action, fields)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "saml_invalid_response"


async def test_tampered_replayed_and_misdirected_responses_are_refused(
    client: httpx.AsyncClient,
    settings: Settings,
    server: str,
    world: dict[str, Any],
    redis_client: Redis,
    tmp_path: Path,
) -> None:
    email = f"tam@{world['domain']}"
    action, fields = await sign_in_at_idp(client, world, email)
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert email in xml
    forged = xml.replace(email, f"admin@{world['domain']}")
    tampered = {**fields, "SAMLResponse": base64.b64encode(forged.encode()).decode()}
    refused = await post_acs(client, settings, server, action, tampered)
    assert refused.status_code == 401 and refused.json()["error"] == "saml_invalid_response"

    # The assertion itself is used once: were its login to be taken twice (two processes
    # racing), the second use of the assertion is refused.
    action, fields = await sign_in_at_idp(client, world, email)
    key = sso.LOGIN_KEY + sso._take_key(fields["RelayState"])
    login = await redis_client.get(key)
    assert login is not None
    cookie = sso.binding_cookie(fields["RelayState"])
    binding = client.cookies.get(cookie)
    assert binding, "the login's browser cookie"
    assert (await post_acs(client, settings, server, action, fields)).status_code == 302
    await redis_client.set(key, login, ex=60)
    client.cookies.set(cookie, binding, path="/api/auth/sso")
    replayed = await post_acs(client, settings, server, action, fields)
    assert replayed.status_code == 401 and replayed.json()["error"] == "sso_replayed"

    # The identity provider's form, posted from another browser (no cookie of the login).
    action, fields = await sign_in_at_idp(client, world, email)
    async with http_client(server) as stranger:
        elsewhere = await stranger.post(on_server(action, settings, server), data=fields)
        assert elsewhere.status_code == 401
        assert elsewhere.json()["error"] == "sso_browser_mismatch"

    # Another organization's ACS: the login was started for this one.
    other_owner = await register(client, role="interviewer")
    other = await new_org(client, other_owner)
    action, fields = await sign_in_at_idp(client, world, email)
    wrong_org = action.replace(world["org"]["_id"], other["_id"])
    misdirected = await post_acs(client, settings, server, wrong_org, fields)
    assert misdirected.status_code in (401, 404), misdirected.text

    # Hostile input: not a form, not base64, an entity bomb, too large.
    acs = on_server(action, settings, server)
    assert (await client.post(acs, json={"SAMLResponse": "x"})).status_code == 415
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abc", "bcd", strict=True)
    )
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE l [{entities}]>'
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&d;&d;</samlp:Response>'
    )
    for body in ("not base64 at all", base64.b64encode(bomb.encode()).decode()):
        _, fresh = await sign_in_at_idp(client, world, email)
        answer = await client.post(
            acs, data={"SAMLResponse": body, "RelayState": fresh["RelayState"]}
        )
        assert answer.status_code == 401, answer.text
    huge = "A" * (settings.saml_max_response_bytes + 1)
    assert (await client.post(acs, data={"SAMLResponse": huge})).status_code in (400, 413)


async def test_bad_identity_provider_metadata_is_refused(client: httpx.AsyncClient) -> None:
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner)
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&x;"/>'
    )
    for metadata in ("<not-metadata/>", "plain text", xxe):
        answer = await client.put(
            f"/api/orgs/{org['_id']}/sso",
            json={
                "protocol": "saml",
                "idpMetadataXml": metadata,
                "domains": [f"d-{ObjectId()}.test"],
            },
            headers=owner["headers"],
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "saml_bad_metadata"
        assert "root:" not in answer.text
