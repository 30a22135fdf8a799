"""OpenID Connect single sign-on against a real, certified provider (`oidc-provider` under
Node): configuration, discovery, a full login with PKCE, just-in-time provisioning within the
seats, enforced SSO, and the ID token checks (tampered, expired, wrong audience, wrong nonce,
replayed; a rotated signing key picked up)."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.jose import JsonWebKey, jwt
from bson import ObjectId
from odmantic import AIOEngine

from config import Settings
from tests.orgs.test_orgs import join, new_org
from tests.sso.support import (
    CLIENT,
    VERIFIER,
    FakeDns,
    OidcProvider,
    oidc_browser_login,
    rsa_jwk,
    verify_domains,
)
from tests.support import http_client, open_clients, register
from tq.core.errors import AppError
from tq.sso import oidc
from tq.sso import service as sso
from tq.users.models import User

CALLBACK = "/api/auth/sso/oidc/callback"


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, fake_dns: FakeDns
) -> Iterator[OidcProvider]:
    started = OidcProvider(tmp_path_factory.mktemp("oidc"), settings.api_url + CALLBACK).start()
    started.dns_server = fake_dns
    yield started
    started.stop()


def domain() -> str:
    return f"acme-{ObjectId()}.test"


async def sso_org(
    client: httpx.AsyncClient, provider: OidcProvider, *, verify: bool = True, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """An organization (its owner) with OIDC single sign-on for a fresh domain."""
    owner = overrides.pop("owner", None) or await register(client, role="interviewer", name="Owner")
    org = await new_org(client, owner)
    dom = overrides.pop("domain", None) or domain()
    body = {
        "protocol": "oidc",
        "issuer": provider.issuer,
        "clientId": provider.client_id,
        "clientSecret": provider.client_secret,
        "domains": [dom],
        "defaultRole": "interviewer",
        **overrides,
    }
    configured = await client.put(
        f"/api/orgs/{org['_id']}/sso", json=body, headers=owner["headers"]
    )
    assert configured.status_code == 200, configured.text
    assert provider.dns_server is not None
    if verify:
        await verify_domains(client, provider.dns_server, owner, org["_id"])
    return owner, org, dom


def on_server(url: str, settings: Settings, server: str) -> str:
    """Our public URLs (API_URL) as the suite's server serves them."""
    assert url.startswith(settings.api_url), url
    return server + url[len(settings.api_url) :]


async def sso_login(
    client: httpx.AsyncClient, settings: Settings, server: str, org: dict[str, Any], email: str
) -> httpx.Response:
    """The browser's way: our login URL, the provider's pages, our callback."""
    started = await client.get(
        f"/api/auth/sso/{org['_id']}/login", params={"next": "/dashboard", "client": CLIENT}
    )
    assert started.status_code == 302, started.text
    callback = await oidc_browser_login(
        started.headers["location"], email, stop_at=settings.api_url + CALLBACK
    )
    return await client.get(on_server(callback, settings, server))


async def finish(
    client: httpx.AsyncClient, settings: Settings, answer: httpx.Response
) -> dict[str, Any]:
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{settings.app_url}/sso/complete#code=")
    fragment = parse_qs(urlsplit(location).fragment)
    assert fragment["next"] == ["/dashboard"]
    exchanged = await client.post(
        "/api/auth/sso/exchange", json={"code": fragment["code"][0], "verifier": VERIFIER}
    )
    assert exchanged.status_code == 200, exchanged.text
    body: dict[str, Any] = exchanged.json()
    again = await client.post(
        "/api/auth/sso/exchange", json={"code": fragment["code"][0], "verifier": VERIFIER}
    )
    assert again.status_code == 401 and again.json()["error"] == "sso_code_unknown"
    return body


async def test_full_login_provisions_within_seats(
    client: httpx.AsyncClient,
    settings: Settings,
    server: str,
    provider: OidcProvider,
    engine: AIOEngine,
) -> None:
    owner, org, dom = await sso_org(client, provider)
    # Where an email signs in: by its domain only.
    found = await client.post("/api/auth/sso/discover", json={"email": f"Ann@{dom.upper()}"})
    assert found.status_code == 200
    assert found.json()["method"] == "sso" and found.json()["protocol"] == "oidc"
    assert found.json()["loginUrl"] == f"{settings.api_url}/api/auth/sso/{org['_id']}/login"
    other = await client.post("/api/auth/sso/discover", json={"email": "someone@elsewhere.test"})
    assert other.json() == {
        "method": "password",
        "protocol": None,
        "orgId": None,
        "orgName": None,
        "loginUrl": None,
        "enforced": False,
    }

    # The authorization request carries PKCE (S256), state and nonce.
    started = await client.get(f"/api/auth/sso/{org['_id']}/login", params={"client": CLIENT})
    query = parse_qs(urlsplit(started.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["client_id"] == [provider.client_id]
    assert query["redirect_uri"] == [settings.api_url + CALLBACK]

    email = f"ann.lee@{dom}"
    callback = await oidc_browser_login(
        started.headers["location"], email, stop_at=settings.api_url + CALLBACK
    )
    answer = await client.get(on_server(callback, settings, server))
    signed_in = await finish_no_next(client, settings, answer)
    assert signed_in["user"]["email"] == email and signed_in["user"]["name"] == "Ann Lee"
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {signed_in['token']}"})
    assert me.status_code == 200 and me.json()["user"]["email"] == email
    members = await client.get(f"/api/orgs/{org['_id']}/members", headers=owner["headers"])
    roles = {m["email"]: m["role"] for m in members.json()["members"]}
    assert roles[email] == "interviewer"

    # The same callback again (code and state used): refused, nobody signed in.
    replayed = await client.get(on_server(callback, settings, server))
    assert replayed.status_code == 401 and replayed.json()["error"] == "sso_login_unknown"

    # A second login of the same person: the same account, no second membership.
    again = await finish(client, settings, await sso_login(client, settings, server, org, email))
    assert again["user"]["_id"] == signed_in["user"]["_id"]

    # Seats: all taken, a first login of someone new is refused and no account stays.
    full = await client.patch(
        f"/api/orgs/{org['_id']}", json={"seatLimit": 2}, headers=owner["headers"]
    )
    assert full.status_code == 200, full.text
    newcomer = f"bo@{dom}"
    refused = await sso_login(client, settings, server, org, newcomer)
    assert refused.status_code == 409 and refused.json()["error"] == "no_seats_left"
    assert await engine.find_one(User, User.email == newcomer) is None

    # An email outside the connection's domains is refused.
    outsider = await sso_login(client, settings, server, org, "eve@evil.test")
    assert outsider.status_code == 403 and outsider.json()["error"] == "sso_domain_not_allowed"

    audit = await client.get(f"/api/orgs/{org['_id']}/audit", headers=owner["headers"])
    types = [e["type"] for e in audit.json()["entries"]]
    assert "sso.configured" in types and "sso.provisioned" in types and "member.joined" in types


async def finish_no_next(
    client: httpx.AsyncClient, settings: Settings, answer: httpx.Response
) -> dict[str, Any]:
    assert answer.status_code == 302, answer.text
    fragment = parse_qs(urlsplit(answer.headers["location"]).fragment)
    exchanged = await client.post(
        "/api/auth/sso/exchange", json={"code": fragment["code"][0], "verifier": VERIFIER}
    )
    assert exchanged.status_code == 200, exchanged.text
    body: dict[str, Any] = exchanged.json()
    return body


async def test_an_existing_account_is_never_taken_over(
    client: httpx.AsyncClient, settings: Settings, server: str, provider: OidcProvider
) -> None:
    owner, org, dom = await sso_org(client, provider)
    email = f"carol@{dom}"
    carol = await register(client, role="interviewer", email=email)
    refused = await sso_login(client, settings, server, org, email)
    assert refused.status_code == 403 and refused.json()["error"] == "sso_account_not_linked"

    # A member now (invited), her account is still her own: the organization's provider, in
    # its admins' hands, does not speak for it.
    created = await client.post(
        f"/api/orgs/{org['_id']}/invitations",
        json={"email": email, "role": "recruiter"},
        headers=owner["headers"],
    )
    token = created.json()["inviteUrl"].rsplit("/", 1)[1]
    accepted = await client.post(f"/api/org-invitations/{token}/accept", headers=carol["headers"])
    assert accepted.status_code == 200, accepted.text
    still = await sso_login(client, settings, server, org, email)
    assert still.status_code == 403 and still.json()["error"] == "sso_account_not_linked"

    # Until she links it: her password, then a login at the provider naming her email.
    wrong = await client.post(
        "/api/auth/sso/link", json={"email": email, "password": "nope nope", "client": CLIENT}
    )
    assert wrong.status_code == 401
    mismatch = await link(client, carol)
    other = await oidc_browser_login(
        mismatch, f"not-carol@{dom}", stop_at=settings.api_url + CALLBACK
    )
    refused = await client.get(on_server(other, settings, server))
    assert refused.status_code == 403 and refused.json()["error"] == "sso_link_mismatch"
    linked = await oidc_browser_login(
        await link(client, carol), email, stop_at=settings.api_url + CALLBACK
    )
    assert (await client.get(on_server(linked, settings, server))).status_code == 302
    signed_in = await finish(
        client, settings, await sso_login(client, settings, server, org, email)
    )
    assert signed_in["user"]["_id"] == carol["user"]["_id"]

    audit = await client.get(f"/api/orgs/{org['_id']}/audit", headers=owner["headers"])
    assert "sso.linked" in [e["type"] for e in audit.json()["entries"]]


async def link(client: httpx.AsyncClient, who: dict[str, Any]) -> str:
    """The provider URL a member's own account links itself through."""
    answer = await client.post(
        "/api/auth/sso/link",
        json={"email": who["user"]["email"], "password": who["password"], "client": CLIENT},
    )
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["loginUrl"]
    return url


async def test_enforced_sso_refuses_members_password_logins(
    client: httpx.AsyncClient, settings: Settings, server: str, provider: OidcProvider
) -> None:
    owner, org, dom = await sso_org(client, provider)
    member = await register(client, role="interviewer", email=f"dan@{dom}")
    created = await client.post(
        f"/api/orgs/{org['_id']}/invitations",
        json={"email": member["user"]["email"], "role": "interviewer"},
        headers=owner["headers"],
    )
    token = created.json()["inviteUrl"].rsplit("/", 1)[1]
    assert (
        await client.post(f"/api/org-invitations/{token}/accept", headers=member["headers"])
    ).status_code == 200
    outside = await join(client, owner, org, "recruiter")  # an example.com address
    bystander = await register(client, role="interviewer", email=f"someone-else@{dom}")

    def login(who: dict[str, Any]) -> Any:
        return client.post(
            "/api/auth/login", json={"email": who["user"]["email"], "password": who["password"]}
        )

    assert (await login(member)).status_code == 200  # not enforced yet
    enforced = await client.put(
        f"/api/orgs/{org['_id']}/sso",
        json={
            "protocol": "oidc",
            "issuer": provider.issuer,
            "clientId": provider.client_id,
            "domains": [dom],
            "enforced": True,
        },
        headers=owner["headers"],
    )
    assert enforced.status_code == 200, enforced.text
    assert enforced.json()["connection"]["clientSecretSet"] is True  # kept when left out

    refused = await login(member)
    assert refused.status_code == 403
    assert refused.json()["error"] == "sso_required"
    assert refused.json()["loginUrl"] == f"{settings.api_url}/api/auth/sso/{org['_id']}/login"
    # A wrong password still says only that (enforcement tells nothing to a guesser).
    wrong = await client.post(
        "/api/auth/login", json={"email": member["user"]["email"], "password": "not it at all"}
    )
    assert wrong.status_code == 401
    # The owner keeps a way in; a member of another domain and a non-member are unaffected.
    assert (
        await client.post(
            "/api/auth/login", json={"email": owner["user"]["email"], "password": owner["password"]}
        )
    ).status_code == 200
    assert (await login(outside)).status_code == 200
    assert (await login(bystander)).status_code == 200
    # And the member signs in through the provider, once the account is linked (a link is
    # not refused by enforcement: it needs the password and the provider both).
    linked = await oidc_browser_login(
        await link(client, member), member["user"]["email"], stop_at=settings.api_url + CALLBACK
    )
    assert (await client.get(on_server(linked, settings, server))).status_code == 302
    signed_in = await finish(
        client, settings, await sso_login(client, settings, server, org, member["user"]["email"])
    )
    assert signed_in["user"]["_id"] == member["user"]["_id"]

    audit = await client.get(f"/api/orgs/{org['_id']}/audit", headers=owner["headers"])
    updated = [e for e in audit.json()["entries"] if e["type"] == "sso.updated"]
    assert updated and updated[0]["data"]["changed"] == ["enforced"]
    assert updated[0]["data"]["clientSecretChanged"] is False


async def test_configuration_is_for_admins_and_keeps_secrets(
    client: httpx.AsyncClient, provider: OidcProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner, org, dom = await sso_org(client, provider)
    interviewer = await join(client, owner, org, "interviewer")
    read = await client.get(f"/api/orgs/{org['_id']}/sso", headers=owner["headers"])
    assert read.status_code == 200
    connection = read.json()["connection"]
    assert connection["clientSecretSet"] is True and "clientSecret" not in connection
    assert connection["redirectUri"].endswith(CALLBACK)
    for path in ("sso", "audit"):
        answer = await client.get(f"/api/orgs/{org['_id']}/{path}", headers=owner["headers"])
        assert provider.client_secret not in answer.text
    assert provider.client_secret not in caplog.text
    for method in ("get", "delete"):
        denied = await client.request(
            method, f"/api/orgs/{org['_id']}/sso", headers=interviewer["headers"]
        )
        assert denied.status_code == 403

    # A domain is one organization's; an issuer must be reachable, public (or loopback in
    # tests) and say it is that issuer.
    other_owner = await register(client, role="interviewer")
    other = await new_org(client, other_owner)
    body = {
        "protocol": "oidc",
        "issuer": provider.issuer,
        "clientId": "x",
        "clientSecret": "y",
        "domains": [dom],
    }
    taken = await client.put(
        f"/api/orgs/{other['_id']}/sso", json=body, headers=other_owner["headers"]
    )
    assert taken.status_code == 409 and taken.json()["error"] == "sso_domain_taken"
    for issuer, code in (
        ("http://169.254.169.254/latest", "unsafe_url"),
        ("http://10.0.0.1", "unsafe_url"),
        (provider.issuer + "/", "sso_issuer_mismatch"),
    ):
        bad = await client.put(
            f"/api/orgs/{other['_id']}/sso",
            json={**body, "issuer": issuer, "domains": [domain()]},
            headers=other_owner["headers"],
        )
        assert bad.status_code == 400 and bad.json()["error"] == code, (issuer, bad.text)
    await client.get("/api/orgs", headers=owner["headers"])  # makes the personal one
    personal = await client.put(
        f"/api/orgs/{owner['user']['_id']}/sso",
        json={**body, "domains": [domain()]},
        headers=owner["headers"],
    )
    assert personal.status_code == 409

    removed = await client.delete(f"/api/orgs/{org['_id']}/sso", headers=owner["headers"])
    assert removed.status_code == 204
    gone = await client.post("/api/auth/sso/discover", json={"email": f"x@{dom}"})
    assert gone.json()["method"] == "password"
    audit = await client.get(f"/api/orgs/{org['_id']}/audit", headers=owner["headers"])
    assert "sso.removed" in [e["type"] for e in audit.json()["entries"]]


def forge(key: dict[str, Any], claims: dict[str, Any], kid: str) -> str:
    header = {"alg": "RS256", "kid": kid}
    return jwt.encode(header, claims, JsonWebKey.import_key(key)).decode()


async def test_id_tokens_are_checked_and_used_once(
    client: httpx.AsyncClient,
    settings: Settings,
    server: str,
    provider: OidcProvider,
    engine: AIOEngine,
) -> None:
    """Tokens signed with the provider's own key (the suite holds it) but wrong in one claim
    each: the checks refuse them; the JWKS comes from the running provider."""
    _, org, _ = await sso_org(client, provider)
    async with open_clients(settings) as clients:
        conn = await sso.connection_of(clients.engine, ObjectId(org["_id"]))
        assert conn is not None
        found = await oidc.endpoints(settings, provider.issuer)
        now = int(time.time())
        good = {
            "iss": provider.issuer,
            "sub": "s1",
            "aud": provider.client_id,
            "exp": now + 300,
            "iat": now,
            "nonce": "n-1",
            "email": "x@y.test",
        }
        key, kid = provider.keys[0], provider.keys[0]["kid"]

        async def verify(token: str, nonce: str = "n-1") -> dict[str, Any]:
            return await sso.verify_id_token(clients, conn, found, token, nonce)

        valid = forge(key, good, kid)
        assert (await verify(valid))["sub"] == "s1"
        cases = {
            "replayed": valid,
            "expired": forge(key, {**good, "exp": now - 3600, "iat": now - 4000}, kid),
            "wrong audience": forge(key, {**good, "aud": "another-client"}, kid),
            "wrong issuer": forge(key, {**good, "iss": "http://127.0.0.1:1"}, kid),
            "no nonce": forge(key, {k: v for k, v in good.items() if k != "nonce"}, kid),
            "other key": forge(rsa_jwk(kid), good, kid),
        }
        header, payload, signature = forge(key, {**good, "nonce": "n-2"}, kid).split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["email"] = "admin@y.test"
        tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        cases["tampered"] = f"{header}.{tampered}.{signature}"
        none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        cases["unsigned"] = f"{none_header}.{payload}."
        for name, token in cases.items():
            with pytest.raises(AppError) as refused:
                await verify(token, "n-2" if name in ("tampered", "unsigned") else "n-1")
            assert refused.value.status_code == 401, name
            expected = "sso_replayed" if name == "replayed" else "sso_invalid_id_token"
            assert refused.value.code == expected, (name, refused.value.message)
        with pytest.raises(AppError) as wrong_nonce:
            await verify(forge(key, {**good, "nonce": "n-3"}, kid), "n-4")
        assert wrong_nonce.value.code == "sso_invalid_id_token"


async def test_a_rotated_signing_key_is_picked_up(
    client: httpx.AsyncClient, settings: Settings, server: str, provider: OidcProvider
) -> None:
    _, org, dom = await sso_org(client, provider)
    before = await finish(
        client, settings, await sso_login(client, settings, server, org, f"rot@{dom}")
    )
    provider.rotate()  # same issuer, a new key signs, the old one is still published
    after = await finish(
        client, settings, await sso_login(client, settings, server, org, f"rot@{dom}")
    )
    assert after["user"]["_id"] == before["user"]["_id"]


async def test_someone_scim_deactivated_does_not_come_back_through_sso(
    client: httpx.AsyncClient, settings: Settings, server: str, provider: OidcProvider
) -> None:
    owner, org, dom = await sso_org(client, provider)
    made = await client.post(
        f"/api/orgs/{org['_id']}/scim/tokens", json={"name": "idp"}, headers=owner["headers"]
    )
    scim = {"Authorization": f"Bearer {made.json()['token']}"}
    email = f"gone@{dom}"
    user = await client.post(
        "/scim/v2/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email},
        headers=scim,
    )
    assert user.status_code == 201, user.text
    signed_in = await finish(
        client, settings, await sso_login(client, settings, server, org, email)
    )
    assert signed_in["user"]["email"] == email  # the account SCIM made, signed in by the provider
    off = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert (
        await client.patch(f"/scim/v2/Users/{user.json()['id']}", json=off, headers=scim)
    ).status_code == 200
    headers = {"Authorization": f"Bearer {signed_in['token']}"}
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401
    refused = await sso_login(client, settings, server, org, email)
    assert refused.status_code == 403 and refused.json()["error"] == "sso_deactivated"
    # Deleted through SCIM: the provider no longer speaks for the account it made.
    deleted = await client.delete(f"/scim/v2/Users/{user.json()['id']}", headers=scim)
    assert deleted.status_code == 204
    after_delete = await sso_login(client, settings, server, org, email)
    assert after_delete.status_code == 403
    assert after_delete.json()["error"] == "sso_account_not_linked"


async def test_a_login_finishes_only_in_the_browser_that_started_it(
    client: httpx.AsyncClient, settings: Settings, server: str, provider: OidcProvider
) -> None:
    """Login CSRF: an attacker's own login, finished in the victim's browser (a link to our
    callback, or to the frontend with a one-time code), signs nobody in."""
    _, org, dom = await sso_org(client, provider)
    started = await client.get(f"/api/auth/sso/{org['_id']}/login", params={"client": CLIENT})
    callback = await oidc_browser_login(
        started.headers["location"], f"mallory@{dom}", stop_at=settings.api_url + CALLBACK
    )
    async with http_client(server) as victim:
        planted = await victim.get(on_server(callback, settings, server))
        assert planted.status_code == 401 and planted.json()["error"] == "sso_browser_mismatch"
    # The attacker's code, given to the victim's frontend: refused there too.
    answer = await sso_login(client, settings, server, org, f"mallory@{dom}")
    code = parse_qs(urlsplit(answer.headers["location"]).fragment)["code"][0]
    async with http_client(server) as victim:
        swapped = await victim.post(
            "/api/auth/sso/exchange", json={"code": code, "verifier": VERIFIER}
        )
        assert swapped.status_code == 401 and swapped.json()["error"] == "sso_browser_mismatch"
    # A login started by a link to our login URL (the attacker's org and provider, in the
    # victim's browser): the victim's frontend, which never started it, cannot swap its code.
    answer = await sso_login(client, settings, server, org, f"mallory@{dom}")
    code = parse_qs(urlsplit(answer.headers["location"]).fragment)["code"][0]
    foreign = await client.post(
        "/api/auth/sso/exchange", json={"code": code, "verifier": "another-frontends-secret" * 2}
    )
    assert foreign.status_code == 401 and foreign.json()["error"] == "sso_client_mismatch"
    unstarted = await client.get(f"/api/auth/sso/{org['_id']}/login")
    assert unstarted.status_code == 400


async def test_secrets_never_reach_the_logs(
    client: httpx.AsyncClient, settings: Settings, server: str, provider: OidcProvider
) -> None:
    """The client secret, our tokens and SCIM tokens, over configuration, a whole login and
    provisioning, in every log line of the process (the `tq` loggers do not propagate, so a
    handler of their own listens)."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    keep = Keep(logging.DEBUG)
    watched = [logging.getLogger(name) for name in ("tq", "sanic", "saml2", "authlib", "httpx2")]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.addHandler(keep)
        logger.setLevel(logging.DEBUG)
    try:
        owner, org, dom = await sso_org(client, provider)
        made = await client.post(
            f"/api/orgs/{org['_id']}/scim/tokens", json={"name": "idp"}, headers=owner["headers"]
        )
        scim_token = made.json()["token"]
        await client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {scim_token}"})
        answer = await sso_login(client, settings, server, org, f"logs@{dom}")
        signed_in = await finish(client, settings, answer)
    finally:
        for logger, level in zip(watched, levels, strict=True):
            logger.removeHandler(keep)
            logger.setLevel(level)
    text = "\n".join(records)
    assert "sso/oidc/callback" in text  # the handler heard the login
    for secret in (provider.client_secret, scim_token, signed_in["token"]):
        assert secret not in text


async def test_a_refused_or_forged_callback_signs_nobody_in(
    client: httpx.AsyncClient, provider: OidcProvider
) -> None:
    _, org, _ = await sso_org(client, provider)
    started = await client.get(f"/api/auth/sso/{org['_id']}/login", params={"client": CLIENT})
    state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
    denied = await client.get(CALLBACK, params={"state": state, "error": "access_denied"})
    assert denied.status_code == 401 and denied.json()["error"] == "sso_provider_error"
    # A code the provider never issued, with a live state: the provider refuses it.
    started = await client.get(f"/api/auth/sso/{org['_id']}/login", params={"client": CLIENT})
    state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
    forged = await client.get(CALLBACK, params={"state": state, "code": "forged-code"})
    assert forged.status_code == 401 and forged.json()["error"] == "sso_code_refused"
    # No state, or one we never issued (login CSRF): refused before anything else.
    for params in ({"code": "x"}, {"state": "made-up", "code": "x"}):
        unknown = await client.get(CALLBACK, params=params)
        assert unknown.status_code == 401 and unknown.json()["error"] == "sso_login_unknown"
    # Not our path: a `next` that leaves the frontend.
    for bad in ("//evil.test/x", "https://evil.test/", "/\\\\evil.test"):
        refused = await client.get(
            f"/api/auth/sso/{org['_id']}/login", params={"next": bad, "client": CLIENT}
        )
        assert refused.status_code == 400, bad
    missing = await client.get(f"/api/auth/sso/{ObjectId()}/login", params={"client": CLIENT})
    assert missing.status_code == 404


async def test_only_a_verified_domain_signs_in(
    client: httpx.AsyncClient,
    settings: Settings,
    server: str,
    provider: OidcProvider,
    fake_dns: FakeDns,
) -> None:
    """Listing a domain claims nothing: it signs in, provisions and enforces once the
    organization proved it holds it (a DNS TXT record), and then it is that organization's."""
    owner, org, dom = await sso_org(client, provider, verify=False)
    connection = (await client.get(f"/api/orgs/{org['_id']}/sso", headers=owner["headers"])).json()
    entry = connection["connection"]["domains"][0]
    assert entry["domain"] == dom and entry["verified"] is False
    assert entry["txtName"] == f"_tq-verification.{dom}"
    assert entry["txtValue"].startswith("tq-verification=")
    found = await client.post("/api/auth/sso/discover", json={"email": f"a@{dom}"})
    assert found.json()["method"] == "password"
    early = await sso_login(client, settings, server, org, f"a@{dom}")
    assert early.status_code == 403 and early.json()["error"] == "sso_domain_not_allowed"

    # Someone else listing the same domain (unverified) blocks nobody.
    squatter = await register(client, role="interviewer")
    squat_org = await new_org(client, squatter)
    squat = await client.put(
        f"/api/orgs/{squat_org['_id']}/sso",
        json={
            "protocol": "oidc",
            "issuer": provider.issuer,
            "clientId": "x",
            "clientSecret": "y",
            "domains": [dom],
        },
        headers=squatter["headers"],
    )
    assert squat.status_code == 200, squat.text

    verify = f"/api/orgs/{org['_id']}/sso/domains/{dom}/verify"
    missing = await client.post(verify, headers=owner["headers"])
    assert missing.status_code == 409 and missing.json()["error"] == "domain_not_verified"
    fake_dns.publish(entry["txtName"], "tq-verification=someone-elses-value")
    wrong = await client.post(verify, headers=owner["headers"])
    assert wrong.status_code == 409 and wrong.json()["error"] == "domain_not_verified"
    # The squatter's own value never verifies the domain for the first organization, and
    # the squatter cannot verify without the domain's DNS.
    squat_verify = await client.post(
        f"/api/orgs/{squat_org['_id']}/sso/domains/{dom}/verify", headers=squatter["headers"]
    )
    assert squat_verify.status_code == 409
    fake_dns.publish(entry["txtName"], entry["txtValue"])
    verified = await client.post(verify, headers=owner["headers"])
    assert verified.status_code == 200, verified.text
    assert verified.json()["connection"]["domains"][0]["verified"] is True

    found = await client.post("/api/auth/sso/discover", json={"email": f"a@{dom}"})
    assert found.json()["method"] == "sso" and found.json()["orgId"] == org["_id"]
    signed_in = await finish(
        client, settings, await sso_login(client, settings, server, org, f"a@{dom}")
    )
    assert signed_in["user"]["email"] == f"a@{dom}"
    # Now it is this organization's: nobody else lists it any more.
    again = await client.put(
        f"/api/orgs/{squat_org['_id']}/sso",
        json={"protocol": "oidc", "issuer": provider.issuer, "clientId": "x", "domains": [dom]},
        headers=squatter["headers"],
    )
    assert again.status_code == 409 and again.json()["error"] == "sso_domain_taken"
    audit = await client.get(f"/api/orgs/{org['_id']}/audit", headers=owner["headers"])
    assert "sso.domain_verified" in [e["type"] for e in audit.json()["entries"]]


async def test_the_owner_is_never_the_providers(
    client: httpx.AsyncClient, settings: Settings, server: str, provider: OidcProvider
) -> None:
    """The organization's own owner, with an email of its verified domain: the provider its
    admins control does not sign in as the owner, and enforcement leaves the owner a
    password."""
    dom = domain()
    owner = await register(client, role="interviewer", email=f"boss@{dom}")
    _, org, _ = await sso_org(client, provider, owner=owner, domain=dom, enforced=True)
    taken = await sso_login(client, settings, server, org, f"boss@{dom}")
    assert taken.status_code == 403 and taken.json()["error"] == "sso_account_not_linked"
    login = await client.post(
        "/api/auth/login", json={"email": f"boss@{dom}", "password": owner["password"]}
    )
    assert login.status_code == 200, login.text
