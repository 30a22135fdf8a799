"""SCIM 2.0 provisioning: the compliance checker `scim2-tester` against our /scim/v2, and
what provisioning does to accounts, memberships, roles and tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import httpx2
import pytest
import scim2_tester.filling as filling
from bson import ObjectId
from odmantic import AIOEngine
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from config import Settings
from tests.orgs.test_orgs import new_org
from tests.sso.support import FakeDns, idp_metadata, self_signed, verify_domains
from tests.support import http_client, register, running_app
from tq.scim.models import ScimToken

SCIM_JSON = {"content-type": "application/scim+json"}
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
METADATA = idp_metadata(
    "https://idp.example.com/scim", "https://idp.example.com/sso", self_signed("scim")[0]
)


async def provisioned_org(client: httpx.AsyncClient, fake_dns: FakeDns) -> dict[str, Any]:
    """An organization with single sign-on for a fresh domain (SCIM provisions its emails),
    group roles, room for people, and a SCIM token."""
    owner = await register(client, role="interviewer", name="Owner")
    org = await new_org(client, owner, seatLimit=60)
    domain = f"corp-{ObjectId()}.test"
    configured = await client.put(
        f"/api/orgs/{org['_id']}/sso",
        json={
            "protocol": "saml",
            "idpMetadataXml": METADATA,
            "domains": [domain],
            "defaultRole": "interviewer",
            "groupRoles": {"TQ Admins": "admin", "Recruiting": "recruiter"},
        },
        headers=owner["headers"],
    )
    assert configured.status_code == 200, configured.text
    await verify_domains(client, fake_dns, owner, org["_id"])
    created = await client.post(
        f"/api/orgs/{org['_id']}/scim/tokens", json={"name": "Okta"}, headers=owner["headers"]
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return {
        "owner": owner,
        "org": org,
        "domain": domain,
        "token": body["token"],
        "scim": {"Authorization": f"Bearer {body['token']}"},
        "token_id": body["scimToken"]["id"],
    }


async def roles(client: httpx.AsyncClient, world: dict[str, Any]) -> dict[str, str]:
    members = await client.get(
        f"/api/orgs/{world['org']['_id']}/members", headers=world["owner"]["headers"]
    )
    assert members.status_code == 200, members.text
    return {m["email"]: m["role"] for m in members.json()["members"]}


async def test_scim2_tester_passes(
    client: httpx.AsyncClient, fake_dns: FakeDns, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await provisioned_org(client, fake_dns)

    # The checker fills userName and emails with random UUIDs; ours are the organization's
    # email addresses, so it is given those (every other attribute stays its own).
    original = filling.get_random_example_value

    def org_emails(path: Any) -> Any:
        bound = path.resolve()
        if bound is not None:
            model = bound.target_model.__name__ if bound.target_model else ""
            field = bound.target_field_name
            if field == "user_name" or (field == "value" and model == "Email"):
                return f"{uuid.uuid4().hex[:12]}@{world['domain']}"
        return original(path)

    monkeypatch.setattr(filling, "get_random_example_value", org_emails)

    def run() -> list[Any]:
        with httpx2.Client(base_url=f"{server}/scim/v2", headers=world["scim"], timeout=30) as http:
            return check_server(SyncSCIMClient(http))

    results = await asyncio.to_thread(run)
    tally = Counter(r.status.name for r in results)
    report = "\n".join(
        f"{r.status.name:8} {('[' + r.resource_type + '] ') if r.resource_type else ''}{r.title}: "
        f"{(r.reason or '').splitlines()[0] if r.reason else ''}"
        for r in results
    )
    print(f"scim2-tester: {dict(tally)}\n{report}")
    failed = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    assert not failed, report
    # Discovery, CRUD and PATCH (add, remove, replace) of Users and Groups all ran.
    assert tally["SUCCESS"] >= 60, report
    titles = {r.title for r in results if r.status == Status.SUCCESS}
    for check in (
        "object_creation",
        "object_query",
        "object_replacement",
        "object_deletion",
        "check_add_attribute",
        "check_remove_attribute",
        "check_replace_attribute",
    ):
        assert check in titles, (check, report)


async def test_deactivation_removes_membership_and_fails_tokens(
    client: httpx.AsyncClient, fake_dns: FakeDns, engine: AIOEngine
) -> None:
    world = await provisioned_org(client, fake_dns)
    org, owner, scim = world["org"], world["owner"], world["scim"]
    # Someone who is a member already, signed in with a password.
    email = f"carol@{world['domain']}"
    carol = await register(client, role="interviewer", email=email)
    invited = await client.post(
        f"/api/orgs/{org['_id']}/invitations",
        json={"email": email, "role": "interviewer"},
        headers=owner["headers"],
    )
    token = invited.json()["inviteUrl"].rsplit("/", 1)[1]
    assert (
        await client.post(f"/api/org-invitations/{token}/accept", headers=carol["headers"])
    ).status_code == 200

    created = await client.post(
        "/scim/v2/Users",
        json={
            "schemas": [USER],
            "userName": email.upper(),
            "externalId": "00u1",
            "name": {"givenName": "Carol"},
        },
        headers=scim | SCIM_JSON,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["id"] and user["meta"]["location"].endswith(f"/scim/v2/Users/{user['id']}")
    assert created.headers["content-type"].startswith("application/scim+json")
    assert (await client.get("/api/auth/me", headers=carol["headers"])).status_code == 200

    found = await client.get(
        "/scim/v2/Users", params={"filter": f'userName eq "{email}"'}, headers=scim
    )
    assert found.json()["totalResults"] == 1 and found.json()["Resources"][0]["id"] == user["id"]
    by_external = await client.get(
        "/scim/v2/Users", params={"filter": 'externalId eq "00u1"'}, headers=scim
    )
    assert by_external.json()["totalResults"] == 1
    unsupported = await client.get(
        "/scim/v2/Users", params={"filter": 'name.givenName co "Ca"'}, headers=scim
    )
    assert unsupported.status_code == 400 and unsupported.json()["scimType"] == "invalidFilter"

    deactivated = await client.patch(
        f"/scim/v2/Users/{user['id']}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
        headers=scim | SCIM_JSON,
    )
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["active"] is False
    # Her token fails on its very next request, and she is no member.
    after = await client.get("/api/auth/me", headers=carol["headers"])
    assert after.status_code == 401
    assert email not in await roles(client, world)

    # Active again: a member again (a new login needed: the old token stays dead).
    await asyncio.sleep(1.1)  # tokens count whole seconds
    reactivated = await client.patch(
        f"/scim/v2/Users/{user['id']}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": True}],
        },
        headers=scim | SCIM_JSON,
    )
    assert reactivated.status_code == 200, reactivated.text
    assert (await roles(client, world))[email] == "interviewer"
    assert (await client.get("/api/auth/me", headers=carol["headers"])).status_code == 401
    login = await client.post(
        "/api/auth/login", json={"email": email, "password": carol["password"]}
    )
    assert login.status_code == 200, login.text
    fresh = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await client.get("/api/auth/me", headers=fresh)).status_code == 200

    # Deleted through SCIM: out of the organization, tokens fail; the account stays hers.
    deleted = await client.delete(f"/scim/v2/Users/{user['id']}", headers=scim)
    assert deleted.status_code == 204
    assert (await client.get("/api/auth/me", headers=fresh)).status_code == 401
    assert email not in await roles(client, world)
    gone = await client.get(f"/scim/v2/Users/{user['id']}", headers=scim)
    assert gone.status_code == 404 and gone.json()["schemas"] == [
        "urn:ietf:params:scim:api:messages:2.0:Error"
    ]

    audit = await client.get(f"/api/orgs/{org['_id']}/audit", headers=owner["headers"])
    types = [e["type"] for e in audit.json()["entries"]]
    for expected in (
        "scim.token_created",
        "scim.user_created",
        "scim.user_updated",
        "scim.user_deleted",
        "member.removed",
    ):
        assert expected in types, expected


async def test_groups_map_to_roles_and_new_people_get_accounts(
    client: httpx.AsyncClient, fake_dns: FakeDns
) -> None:
    world = await provisioned_org(client, fake_dns)
    scim = world["scim"] | SCIM_JSON
    email = f"ann@{world['domain']}"
    ann = (
        await client.post(
            "/scim/v2/Users",
            json={"schemas": [USER], "userName": email, "displayName": "Ann Lee"},
            headers=scim,
        )
    ).json()
    assert (await roles(client, world))[email] == "interviewer"
    admins = await client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "TQ Admins", "members": [{"value": ann["id"]}]},
        headers=scim,
    )
    assert admins.status_code == 201, admins.text
    assert (await roles(client, world))[email] == "admin"
    recruiting = await client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "recruiting", "members": [{"value": ann["id"]}]},
        headers=scim,
    )
    assert recruiting.status_code == 201
    assert (await roles(client, world))[email] == "admin"  # the strongest role wins
    removed = await client.patch(
        f"/scim/v2/Groups/{admins.json()['id']}",
        json={"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]},
        headers=scim,
    )
    assert removed.status_code == 200, removed.text
    assert (await roles(client, world))[email] == "recruiter"
    assert (
        await client.delete(f"/scim/v2/Groups/{recruiting.json()['id']}", headers=scim)
    ).status_code == 204
    assert (await roles(client, world))[email] == "interviewer"
    # A group of that name again (an identity provider retrying its create): 409.
    twice = await client.post(
        "/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "tq admins"}, headers=scim
    )
    assert twice.status_code == 409 and twice.json()["scimType"] == "uniqueness"
    unknown_member = await client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "x", "members": [{"value": str(ObjectId())}]},
        headers=scim,
    )
    assert unknown_member.status_code == 400
    # A group renamed to another's name: refused as a create would be.
    other = await client.post(
        "/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "Other"}, headers=scim
    )
    assert other.status_code == 201, other.text
    rename = {"op": "replace", "path": "displayName", "value": "OTHER"}
    renamed = await client.patch(
        f"/scim/v2/Groups/{admins.json()['id']}",
        json={"schemas": [PATCH], "Operations": [rename]},
        headers=scim,
    )
    assert renamed.status_code == 409 and renamed.json()["scimType"] == "uniqueness"
    # Deleted, then created again (an identity provider unassigning and reassigning): the
    # account it made is the organization's again, and a member.
    assert (await client.delete(f"/scim/v2/Users/{ann['id']}", headers=scim)).status_code == 204
    assert email not in await roles(client, world)
    again = await client.post(
        "/scim/v2/Users", json={"schemas": [USER], "userName": email}, headers=scim
    )
    assert again.status_code == 201, again.text
    assert (await roles(client, world))[email] == "interviewer"
    # An internationalised domain: listed and verified in its xn-- form, its people's
    # emails written either way.
    idn = f"xn--bcher-kva.d{ObjectId()}.test"
    configured = await client.put(
        f"/api/orgs/{world['org']['_id']}/sso",
        json={"protocol": "saml", "idpMetadataXml": METADATA, "domains": [world["domain"], idn]},
        headers=world["owner"]["headers"],
    )
    assert configured.status_code == 200, configured.text
    await verify_domains(client, fake_dns, world["owner"], world["org"]["_id"])
    unicode_name = "ann@bücher." + idn.split(".", 1)[1]
    made = await client.post(
        "/scim/v2/Users", json={"schemas": [USER], "userName": unicode_name}, headers=scim
    )
    assert made.status_code == 201, made.text
    # A page past the end, however far: empty, not an error.
    far = await client.get("/scim/v2/Users", params={"startIndex": str(10**30)}, headers=scim)
    assert far.status_code == 200, far.text
    assert far.json().get("Resources", []) == [] and far.json()["totalResults"] == 2


async def test_scim_refuses_what_it_must(
    client: httpx.AsyncClient, fake_dns: FakeDns, engine: AIOEngine
) -> None:
    world = await provisioned_org(client, fake_dns)
    scim = world["scim"] | SCIM_JSON
    for headers in ({}, {"Authorization": "Bearer tqscim_nope"}, {"Authorization": "Basic eDp5"}):
        answer = await client.get("/scim/v2/Users", headers=headers)
        assert answer.status_code == 401 and answer.json()["status"] == "401"
    outside = await client.post(
        "/scim/v2/Users", json={"schemas": [USER], "userName": "x@elsewhere.test"}, headers=scim
    )
    assert outside.status_code == 400 and outside.json()["scimType"] == "invalidValue"
    not_email = await client.post(
        "/scim/v2/Users", json={"schemas": [USER], "userName": "just-a-name"}, headers=scim
    )
    assert not_email.status_code == 400
    # Someone's own account, not a member: never taken over by a provisioning.
    own = await register(client, role="interviewer", email=f"own@{world['domain']}")
    taken = await client.post(
        "/scim/v2/Users", json={"schemas": [USER], "userName": own["user"]["email"]}, headers=scim
    )
    assert taken.status_code == 409 and taken.json()["scimType"] == "uniqueness"
    first = await client.post(
        "/scim/v2/Users",
        json={"schemas": [USER], "userName": f"dup@{world['domain']}"},
        headers=scim,
    )
    assert first.status_code == 201
    again = await client.post(
        "/scim/v2/Users",
        json={"schemas": [USER], "userName": f"DUP@{world['domain']}"},
        headers=scim,
    )
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"
    garbage = await client.post("/scim/v2/Users", content=b"{nope", headers=scim)
    assert garbage.status_code == 400
    assert (await client.put("/scim/v2/Schemas", json={}, headers=scim)).status_code == 405
    assert (await client.get("/scim/v2/Nothing", headers=scim)).status_code == 404

    # Another organization's token sees none of it.
    other = await provisioned_org(client, fake_dns)
    mine = await client.get(f"/scim/v2/Users/{first.json()['id']}", headers=other["scim"])
    assert mine.status_code == 404
    listed = await client.get("/scim/v2/Users", headers=other["scim"])
    assert listed.json()["totalResults"] == 0

    # Tokens: shown once, kept as a hash, listed without it, revoked at once.
    listing = await client.get(
        f"/api/orgs/{world['org']['_id']}/scim/tokens", headers=world["owner"]["headers"]
    )
    assert (
        world["token"] not in listing.text
        and listing.json()["tokens"][0]["prefix"] == world["token"][:12]
    )
    stored = await engine.get_collection(ScimToken).find_one({"_id": ObjectId(world["token_id"])})
    assert stored is not None and world["token"] not in str(stored)
    # With single sign-on removed, a deactivation still goes through (an identity provider
    # deprovisions whatever happened to the connection).
    late = f"late@{world['domain']}"
    member = await client.post(
        "/scim/v2/Users", json={"schemas": [USER], "userName": late}, headers=scim
    )
    assert member.status_code == 201, member.text
    removed = await client.delete(
        f"/api/orgs/{world['org']['_id']}/sso", headers=world["owner"]["headers"]
    )
    assert removed.status_code == 204
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    deactivated = await client.patch(
        f"/scim/v2/Users/{member.json()['id']}", json=off, headers=scim
    )
    assert deactivated.status_code == 200, deactivated.text
    assert late not in await roles(client, world)

    revoked = await client.delete(
        f"/api/orgs/{world['org']['_id']}/scim/tokens/{world['token_id']}",
        headers=world["owner"]["headers"],
    )
    assert revoked.status_code == 204
    assert (await client.get("/scim/v2/Users", headers=world["scim"])).status_code == 401


async def test_each_scim_token_has_its_own_rate_budget(
    client: httpx.AsyncClient, fake_dns: FakeDns, settings: Settings
) -> None:
    """An identity provider's requests come from addresses it shares with its other
    customers: SCIM is limited per token (RATE_LIMIT_SCIM), not per address."""
    first, second = await provisioned_org(client, fake_dns), await provisioned_org(client, fake_dns)
    tight = settings.model_copy(
        update={"rate_limit_scim": "3/10second", "rate_limit_public": "1/10second"}
    )
    async with running_app(tight) as (_app, url), http_client(url) as http:
        answers = [
            (await http.get("/scim/v2/Users", headers=first["scim"])).status_code for _ in range(4)
        ]
        assert answers == [200, 200, 200, 429]
        assert (await http.get("/scim/v2/Users", headers=second["scim"])).status_code == 200
