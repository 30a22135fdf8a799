"""Every operation of the OpenAPI spec, called by each organization role and by a member of
another organization, against tq.orgs.permissions: an allowed role gets past the access check,
a refused one gets 403, the other organization 404 (nothing of it exists for them), and every
answer is one the spec documents for that operation. An operation missing from the table fails
here, so a route added later cannot skip the decision."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.evaluation.test_evaluation import RATINGS
from tests.orgs.test_orgs import join, new_org
from tests.problems.test_bank import add_problem
from tests.problems.test_packages import PACKAGES, ZIP, zipped
from tests.scorecard_templates.test_templates import rubric
from tests.sso.support import idp_metadata, self_signed
from tests.support import iso, register, unique_email
from tq.orgs.models import ORG_ROLES
from tq.orgs.permissions import OPERATIONS, TABLE, Access

ROLES = ("owner", "admin", "recruiter", "interviewer")
WALK_IDP_METADATA = idp_metadata(
    "https://idp.example.com/walk", "https://idp.example.com/sso", self_signed("walk")[0]
)
PACKAGE = zipped(PACKAGES / "addtwo")
# Refusals of the access check: an organization's (403) and "not here" (404) codes. Any
# other 404 is about what the path names further (a note, a run, an invitation).
REFUSED_403 = {"org_role_forbids", "not_a_participant", "not_host"}
HIDDEN_404 = {"session_not_found", "org_not_found", "endpoint_not_found"}
# Last, in this order: what changes the world the walk stands in.
FINAL = [
    "DELETE /api/orgs/{org_id}/problems/{slug}",
    "DELETE /api/orgs/{org_id}/scorecard-templates/{slug}",
    "POST /api/sessions/{session_id}/end",
    "POST /api/sessions/{session_id}/cancel",
    "DELETE /api/sessions/{session_id}",
    "DELETE /api/webhooks/endpoints/{endpoint_id}",
    "DELETE /api/orgs/{org_id}/members/{user_id}",
    "POST /api/orgs/{org_id}/transfer",
    "DELETE /api/orgs/{org_id}",
]


async def spec_operations(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    spec = (await client.get("/docs/openapi.json")).json()
    return {
        f"{method.upper()} {path}": operation
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }


async def test_every_operation_has_a_table_entry(client: httpx.AsyncClient) -> None:
    operations = await spec_operations(client)
    assert set(operations) - set(OPERATIONS) == set(), "operations without a table entry"
    assert set(OPERATIONS) - set(operations) == set(), "table entries of no operation"
    for key, access in OPERATIONS.items():
        assert (access.kind == "org") == (access.action is not None), key
        public = "security" not in operations[key]
        assert public == (access.kind == "public"), key
    # Every role appears in the table, and the table is what the README shows.
    assert {role for roles in TABLE.values() for role in roles} == set(ORG_ROLES)


async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Organization A with one member of each role, a host (an interviewer) and the
    session they run with a candidate, a note and invitations; a spare member to change;
    and organization B's owner."""
    owner = await register(client, role="interviewer", name="Owner")
    org = await new_org(client, owner, name="Org A", seatLimit=20)
    people = {"owner": owner}
    for role in ("admin", "recruiter", "interviewer"):
        people[role] = await join(client, owner, org, role)
    host = await join(client, owner, org, "interviewer")
    spare = await join(client, owner, org, "interviewer")
    start = iso(datetime.now(UTC) + timedelta(minutes=5))  # the room is open
    created = await client.post(
        f"/api/orgs/{org['_id']}/sessions",
        json={"title": "Walk", "startTime": start, "visibility": "invite_only"},
        headers=host["headers"],
    )
    assert created.status_code == 201, created.text
    session = created.json()["session"]
    sid = session["_id"]
    candidate = await register(client, role="candidate")
    invited = await client.post(
        f"/api/sessions/{sid}/invitations",
        json={"email": candidate["user"]["email"], "role": "candidate"},
        headers=host["headers"],
    )
    token = invited.json()["inviteUrl"].rsplit("/", 1)[1]
    accepted = await client.post(f"/api/invitations/{token}/accept", headers=candidate["headers"])
    assert accepted.status_code == 200, accepted.text
    pending = await client.post(
        f"/api/sessions/{sid}/invitations",
        json={"email": unique_email(), "role": "interviewer"},
        headers=host["headers"],
    )
    assert pending.status_code == 201, pending.text
    note = await client.post(
        f"/api/sessions/{sid}/notes",
        json={"body": "Shared with the panel", "visibility": "panel"},
        headers=host["headers"],
    )
    assert note.status_code == 201, note.text
    org_invitation = await client.post(
        f"/api/orgs/{org['_id']}/invitations",
        json={"email": unique_email(), "role": "recruiter"},
        headers=owner["headers"],
    )
    endpoint = await client.post(
        f"/api/orgs/{org['_id']}/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "events": ["session.created"]},
        headers=owner["headers"],
    )
    assert endpoint.status_code == 201, endpoint.text
    bank = f"/api/orgs/{org['_id']}/problems"
    problem = await client.post(bank, json=add_problem("walk"), headers=owner["headers"])
    assert problem.status_code == 201, problem.text
    started = await client.post(
        f"{bank}/import",
        content=PACKAGE,
        params={"slug": "walk-import"},
        headers=owner["headers"] | ZIP,
    )
    assert started.status_code == 202, started.text
    templates = f"/api/orgs/{org['_id']}/scorecard-templates"
    template = await client.post(
        templates,
        json={"slug": "walk-rubric", "name": "Walk", "criteria": rubric("design")},
        headers=owner["headers"],
    )
    assert template.status_code == 201, template.text
    scim_token = await client.post(
        f"/api/orgs/{org['_id']}/scim/tokens", json={"name": "walk"}, headers=owner["headers"]
    )
    assert scim_token.status_code == 201, scim_token.text
    outsider = await register(client, role="interviewer", name="Org B owner")
    await new_org(client, outsider, name="Org B")
    return {
        "org": org,
        "people": people,
        "outsider": outsider,
        "params": {
            "org_id": org["_id"],
            "session_id": sid,
            "user_id": spare["user"]["_id"],
            "note_id": note.json()["note"]["_id"],
            "run_id": str(ObjectId()),
            "endpoint_id": endpoint.json()["endpoint"]["_id"],
            "delivery_id": "msg_" + "0" * 24,
            "slug": "walk",
            "version": 1,
            "import_id": started.json()["problemImport"]["id"],
            "token_id": scim_token.json()["scimToken"]["id"],
            "domain": "walk.test",
            "invitation_id": {
                "org": org_invitation.json()["invitation"]["_id"],
                "session": pending.json()["invitation"]["_id"],
            },
        },
        "transfer_to": people["admin"]["user"]["_id"],
    }


def request_for(key: str, w: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(method, url, httpx options) for operation `key` in world `w`."""
    method, template = key.split(" ", 1)
    params = w["params"]

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "slug" and "scorecard-templates" in template:
            return "walk-rubric"
        if name == "invitation_id":
            return str(params[name]["org" if template.startswith("/api/orgs") else "session"])
        return str(params[name])

    url = re.sub(r"\{(\w+)\}", fill, template)
    sid = params["session_id"]
    bodies: dict[str, Any] = {
        "POST /api/orgs/{org_id}/sessions": {"title": "Another"},
        "POST /api/orgs/{org_id}/webhooks/endpoints": {
            "url": "http://127.0.0.1:9/other",
            "events": ["record.ready"],
        },
        "PATCH /api/webhooks/endpoints/{endpoint_id}": {"description": "changed"},
        "PATCH /api/sessions/{session_id}": {"title": "Renamed"},
        "PUT /api/sessions/{session_id}": {"title": "Renamed again"},
        "POST /api/sessions/{session_id}/invitations": {
            "email": unique_email(),
            "role": "interviewer",
        },
        "PATCH /api/orgs/{org_id}": {"name": "Org A renamed"},
        "POST /api/orgs/{org_id}/transfer": {"userId": w["transfer_to"]},
        "PATCH /api/orgs/{org_id}/members/{user_id}": {"role": "recruiter"},
        "POST /api/orgs/{org_id}/invitations": {"email": unique_email(), "role": "recruiter"},
        "POST /api/sessions/{session_id}/notes": {"body": "mine"},
        "PATCH /api/sessions/{session_id}/notes/{note_id}": {"body": "changed"},
        "PUT /api/sessions/{session_id}/scorecards/me": {"ratings": RATINGS},
        "POST /api/sessions/{session_id}/code/signals": {"kind": "paste", "length": 3},
        "POST /api/sessions/{session_id}/runs": {"language": "python", "source": "print(1)"},
        "POST /api/chat/save-message": {"sessionId": sid, "text": "hello"},
        "POST /api/chat/channel": {"sessionId": sid},
        "POST /api/orgs/{org_id}/problems": add_problem("walk-new"),
        "POST /api/orgs/{org_id}/problems/copy": {"slug": "two-sum"},
        "PATCH /api/orgs/{org_id}/problems/{slug}": {"title": "Walked"},
        "POST /api/orgs/{org_id}/scorecard-templates": {
            "slug": "walk-new",
            "name": "New",
            "criteria": rubric("testing"),
        },
        "PUT /api/orgs/{org_id}/scorecard-templates/default": {"slug": "walk-rubric"},
        "PATCH /api/orgs/{org_id}/scorecard-templates/{slug}": {"name": "Renamed"},
        "PUT /api/orgs/{org_id}/sso": {
            "protocol": "saml",
            "domains": [f"walk-{ObjectId()}.test"],
            "idpMetadataXml": WALK_IDP_METADATA,
        },
        "POST /api/orgs/{org_id}/scim/tokens": {"name": "another"},
    }
    queries: dict[str, Any] = {
        "GET /api/chat/token": {"sessionId": sid},
        "GET /api/sessions/{session_id}/code/diff": {"from": 0, "to": 0},
        "DELETE /api/orgs/{org_id}/candidates": {"email": unique_email("gone")},
    }
    options: dict[str, Any] = {}
    if key == "POST /api/orgs/{org_id}/problems/import":
        options["content"] = PACKAGE
        options["headers"] = ZIP
        queries[key] = {"slug": "walk-imported"}
    if key in bodies:
        options["json"] = bodies[key]
    if key in queries:
        options["params"] = queries[key]
    return method, url, options


def walk_order(keys: list[str]) -> list[str]:
    return [k for k in keys if k not in FINAL] + [k for k in FINAL if k in keys]


def scoped(access: Access) -> bool:
    return access.kind in ("org", "session")


@pytest.mark.parametrize("walker", [*ROLES, "other_org"])
async def test_each_role_can_do_what_the_table_says_and_no_more(
    client: httpx.AsyncClient, walker: str
) -> None:
    operations = await spec_operations(client)
    w = await world(client)
    who = w["outsider"] if walker == "other_org" else w["people"][walker]
    org_name = w["org"]["name"]
    checked = 0
    for key in walk_order(sorted(k for k in operations if scoped(OPERATIONS[k]))):
        access = OPERATIONS[key]
        if key == "DELETE /api/orgs/{org_id}":
            # A world of its own: the owner's transfer just before made the walker an admin.
            w = await world(client)
            who = w["outsider"] if walker == "other_org" else w["people"][walker]
        method, url, options = request_for(key, w)
        headers = who["headers"] | options.pop("headers", {})
        response = await client.request(method, url, headers=headers, **options)
        status = response.status_code
        body = response.json() if "json" in response.headers.get("content-type", "") else {}
        code = body.get("error") if isinstance(body, dict) else None
        where = f"{walker}: {key} -> {status} {response.text[:200]}"
        assert str(status) in operations[key]["responses"], "undocumented answer " + where
        assert status != 400 and status < 500, where
        if walker == "other_org":
            assert status == 404 and code in HIDDEN_404 | {"invitation_not_found"}, where
            assert org_name not in response.text and "Walk" not in response.text, where
        elif access.kind == "session" or walker not in TABLE[access.action]:  # type: ignore[index]
            # Refused: the organization's members learn it exists, nothing more.
            assert status == 403 and code in REFUSED_403, where
        else:
            assert status not in (401, 403), where
            assert not (status == 404 and code in HIDDEN_404), where
        checked += 1
    assert checked >= 45
