"""Organizations on the real stack: members invited by email through a real worker and SMTP
server, seats taken atomically, roles, removal with hand-over, ownership, the audit log, and
nothing of one organization visible to another."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from odmantic import AIOEngine
from standardwebhooks import Webhook

from config import Settings
from tests.evaluation.test_evaluation import RATINGS
from tests.integrations.test_webhooks import pump_until
from tests.support import (
    SmtpCatcher,
    WebhookReceiver,
    iso,
    open_clients,
    register,
    text_and_html,
    unique_email,
)
from tq.orgs.models import AuditRecord, Organization
from tq.sessions.models import Session

ORGS = "/api/orgs"


async def new_org(http: httpx.AsyncClient, owner: dict[str, Any], **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Acme hiring")
    response = await http.post(ORGS, json=body, headers=owner["headers"])
    assert response.status_code == 201, response.text
    org: dict[str, Any] = response.json()["org"]
    return org


def token_of(created: httpx.Response) -> str:
    assert created.status_code == 201, created.text
    url: str = created.json()["inviteUrl"]
    assert url.startswith("https://app.example.com/org-invitations/")
    return url.rsplit("/", 1)[1]


async def join(
    http: httpx.AsyncClient, admin: dict[str, Any], org: dict[str, Any], role: str
) -> dict[str, Any]:
    """A new account, invited with `role` and accepted: the member's register body."""
    member = await register(http, role="interviewer", name=f"A {role}")
    created = await http.post(
        f"{ORGS}/{org['_id']}/invitations",
        json={"email": member["user"]["email"], "role": role},
        headers=admin["headers"],
    )
    accepted = await http.post(
        f"/api/org-invitations/{token_of(created)}/accept", headers=member["headers"]
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["org"]["myRole"] == role
    return member


async def audit_types(
    http: httpx.AsyncClient, admin: dict[str, Any], org: dict[str, Any], **params: Any
) -> list[dict[str, Any]]:
    response = await http.get(f"{ORGS}/{org['_id']}/audit", params=params, headers=admin["headers"])
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def test_create_list_and_personal_org(client: httpx.AsyncClient, engine: AIOEngine) -> None:
    owner = await register(client, role="interviewer", name="Olga Owner")
    org = await new_org(client, owner, seatLimit=3)
    assert org["myRole"] == "owner" and org["seatLimit"] == 3 and org["seatsUsed"] == 1
    listed = await client.get(ORGS, headers=owner["headers"])
    assert listed.status_code == 200
    orgs = listed.json()["orgs"]
    # The personal one exists too (made on first need), its id the account's.
    personal = [o for o in orgs if o["personal"]]
    assert [o["_id"] for o in personal] == [owner["user"]["_id"]]
    assert org["_id"] in [o["_id"] for o in orgs]
    # A session made the usual way belongs to the personal organization; one made in the
    # team's path belongs to the team.
    mine = await client.post("/api/sessions", json={"title": "Mine"}, headers=owner["headers"])
    assert mine.status_code == 201
    team = await client.post(
        f"{ORGS}/{org['_id']}/sessions", json={"title": "Team's"}, headers=owner["headers"]
    )
    assert team.status_code == 201, team.text
    in_team = await client.get(f"{ORGS}/{org['_id']}/sessions", headers=owner["headers"])
    assert [s["title"] for s in in_team.json()["sessions"]] == ["Team's"]
    in_personal = await client.get(
        f"{ORGS}/{personal[0]['_id']}/sessions", headers=owner["headers"]
    )
    assert [s["title"] for s in in_personal.json()["sessions"]] == ["Mine"]
    # Each organization's default criteria go to the sessions created in it.
    for org_ref, criteria in ((personal[0]["_id"], ["design"]), (org["_id"], ["testing", "speed"])):
        changed = await client.patch(
            f"{ORGS}/{org_ref}", json={"defaultCriteria": criteria}, headers=owner["headers"]
        )
        assert changed.status_code == 200 and changed.json()["org"]["defaultCriteria"] == criteria
    again = await client.post("/api/sessions", json={"title": "P"}, headers=owner["headers"])
    in_org = await client.post(
        f"{ORGS}/{org['_id']}/sessions", json={"title": "T"}, headers=owner["headers"]
    )
    for made, criteria in ((again, ["design"]), (in_org, ["testing", "speed"])):
        stored = await engine.get_collection(Session).find_one(
            {"_id": ObjectId(made.json()["session"]["_id"])}
        )
        assert stored is not None and stored["criteria"] == criteria


async def test_bad_input_is_a_clear_4xx(client: httpx.AsyncClient) -> None:
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner)
    for body in (
        {},
        {"name": ""},
        {"name": "x\r\nBcc: a@b"},
        {"name": "ok", "seatLimit": 0},
        {"name": "ok", "seatLimit": "3"},
        {"name": "ok", "extra": 1},
    ):
        response = await client.post(ORGS, json=body, headers=owner["headers"])
        assert response.status_code == 400, (body, response.text)
    too_many = await client.patch(
        f"{ORGS}/{org['_id']}", json={"seatLimit": 10**6}, headers=owner["headers"]
    )
    assert too_many.status_code in (400, 409), too_many.text
    bad_role = await client.post(
        f"{ORGS}/{org['_id']}/invitations",
        json={"email": unique_email(), "role": "god"},
        headers=owner["headers"],
    )
    assert bad_role.status_code == 400
    for path in (f"{ORGS}/nope", f"{ORGS}/{'0' * 24}", f"{ORGS}/{org['_id']}/members/nope"):
        response = await client.get(path, headers=owner["headers"])
        assert response.status_code in (404, 405), path
        assert response.headers["content-type"].startswith("application/json")
    bad_cursor = await client.get(
        f"{ORGS}/{org['_id']}/audit", params={"after": "x"}, headers=owner["headers"]
    )
    assert bad_cursor.status_code == 400


async def test_invitation_email_accept_and_roles(
    client: httpx.AsyncClient,
    engine: AIOEngine,
    celery_worker: subprocess.Popen[bytes],
    mail_server: SmtpCatcher,
) -> None:
    owner = await register(client, role="interviewer", name="Olga Owner")
    org = await new_org(client, owner, name="Globex recruiting", seatLimit=3)
    invitee = await register(client, role="interviewer", name="Ivan Interviewer")
    created = await client.post(
        f"{ORGS}/{org['_id']}/invitations",
        json={"email": invitee["user"]["email"], "role": "recruiter"},
        headers=owner["headers"],
    )
    token = token_of(created)
    # The link is mailed, by the worker, to that address only.
    [mail] = await mail_server.wait_for(invitee["user"]["email"], "Join Globex recruiting")
    text, html = text_and_html(mail)
    assert token in text and token in html and "recruiter" in text
    # Nobody stores it: the database holds its hash only.
    raw = await engine.get_collection(Organization).find_one({"_id": org_id(org)})
    assert token not in str(raw)

    preview = await client.get(f"/api/org-invitations/{token}")
    assert preview.status_code == 200
    assert preview.json()["orgName"] == "Globex recruiting"
    assert preview.json()["status"] == "pending"

    stranger = await register(client, role="interviewer")
    wrong = await client.post(f"/api/org-invitations/{token}/accept", headers=stranger["headers"])
    assert wrong.status_code == 403
    accepted = await client.post(f"/api/org-invitations/{token}/accept", headers=invitee["headers"])
    assert accepted.status_code == 200, accepted.text
    # A recruiter takes no seat.
    assert accepted.json()["org"]["seatsUsed"] == 1
    again = await client.post(f"/api/org-invitations/{token}/accept", headers=invitee["headers"])
    assert again.status_code in (404, 410)

    members = await client.get(f"{ORGS}/{org['_id']}/members", headers=invitee["headers"])
    assert {(m["name"], m["role"], m["takesSeat"]) for m in members.json()["members"]} == {
        ("Olga Owner", "owner", True),
        ("Ivan Interviewer", "recruiter", False),
    }
    # Roles: a recruiter cannot manage members; the owner can, within the seats.
    uid = invitee["user"]["_id"]
    refused = await client.patch(
        f"{ORGS}/{org['_id']}/members/{uid}", json={"role": "admin"}, headers=invitee["headers"]
    )
    assert refused.status_code == 403 and refused.json()["error"] == "org_role_forbids"
    promoted = await client.patch(
        f"{ORGS}/{org['_id']}/members/{uid}",
        json={"role": "interviewer"},
        headers=owner["headers"],
    )
    assert promoted.status_code == 200 and promoted.json()["org"]["seatsUsed"] == 2
    owner_role = await client.patch(
        f"{ORGS}/{org['_id']}/members/{uid}", json={"role": "owner"}, headers=owner["headers"]
    )
    assert owner_role.status_code == 409
    # One seat left: a third seat-taking member fills it, then a promotion needs a seat.
    await join(client, owner, org, "admin")
    recruiter = await join(client, owner, org, "recruiter")
    full = await client.patch(
        f"{ORGS}/{org['_id']}/members/{recruiter['user']['_id']}",
        json={"role": "interviewer"},
        headers=owner["headers"],
    )
    assert full.status_code == 409 and full.json()["error"] == "no_seats_left"
    below = await client.patch(
        f"{ORGS}/{org['_id']}", json={"seatLimit": 2}, headers=owner["headers"]
    )
    assert below.status_code == 409 and below.json()["error"] == "below_seats_taken"

    entries = await audit_types(client, owner, org)
    types = [e["type"] for e in entries]
    assert types.count("member.invited") == 3 and types.count("member.joined") == 3
    assert "member.role_changed" in types and types[-1] == "org.created"
    changed = next(e for e in entries if e["type"] == "member.role_changed")
    assert changed["data"] == {"userId": uid, "fromRole": "recruiter", "toRole": "interviewer"}
    assert changed["actorId"] == owner["user"]["_id"]


def org_id(org: dict[str, Any]) -> Any:
    from bson import ObjectId

    return ObjectId(org["_id"])


async def test_twenty_concurrent_accepts_for_the_last_seat(
    client: httpx.AsyncClient, engine: AIOEngine
) -> None:
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner, seatLimit=2)  # the owner's, and one more
    people = [await register(client, role="interviewer") for _ in range(20)]
    tokens = []
    for person in people:
        created = await client.post(
            f"{ORGS}/{org['_id']}/invitations",
            json={"email": person["user"]["email"], "role": "interviewer"},
            headers=owner["headers"],
        )
        tokens.append(token_of(created))
    answers = await asyncio.gather(
        *(
            client.post(f"/api/org-invitations/{token}/accept", headers=person["headers"])
            for token, person in zip(tokens, people, strict=True)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 19, [a.text for a in answers if a.status_code != 409]
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"no_seats_left"}
    doc = await engine.get_collection(Organization).find_one({"_id": org_id(org)})
    assert doc is not None
    assert doc["seatsLeft"] == 0 and len(doc["members"]) == 2 == len(doc["memberIds"])


async def test_removal_hands_upcoming_sessions_to_an_admin(client: httpx.AsyncClient) -> None:
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner, seatLimit=5)
    admin = await join(client, owner, org, "admin")
    leaver = await join(client, owner, org, "interviewer")
    start = iso(datetime.now(UTC) + timedelta(days=3))
    upcoming = await client.post(
        f"{ORGS}/{org['_id']}/sessions",
        json={"title": "Upcoming", "startTime": start, "visibility": "invite_only"},
        headers=leaver["headers"],
    )
    assert upcoming.status_code == 201
    sid = upcoming.json()["session"]["_id"]
    past = await client.post(
        f"{ORGS}/{org['_id']}/sessions",
        json={"title": "Past", "visibility": "invite_only"},
        headers=leaver["headers"],
    )
    past_id = past.json()["session"]["_id"]
    ended = await client.post(f"/api/sessions/{past_id}/end", headers=leaver["headers"])
    assert ended.status_code == 200
    # Only owners and admins can be given the sessions; the leaver cannot be.
    wrong = await client.delete(
        f"{ORGS}/{org['_id']}/members/{leaver['user']['_id']}",
        params={"handTo": leaver["user"]["_id"]},
        headers=admin["headers"],
    )
    assert wrong.status_code == 409
    removed = await client.delete(
        f"{ORGS}/{org['_id']}/members/{leaver['user']['_id']}", headers=admin["headers"]
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["org"]["seatsUsed"] == 2  # the seat is free again
    session = (await client.get(f"/api/sessions/{sid}", headers=admin["headers"])).json()
    assert session["session"]["createdBy"] == admin["user"]["_id"]
    # The leaver sees nothing of the organization any more.
    gone = await client.get(f"/api/sessions/{sid}", headers=leaver["headers"])
    assert gone.status_code == 404
    # Past sessions too: the leaver can neither read nor delete them.
    for method in ("GET", "DELETE"):
        answer = await client.request(method, f"/api/sessions/{past_id}", headers=leaver["headers"])
        assert answer.status_code == 404, (method, answer.text)
    kept = await client.get(f"/api/sessions/{past_id}/record", headers=admin["headers"])
    assert kept.status_code == 200
    assert (await client.get(f"{ORGS}/{org['_id']}", headers=leaver["headers"])).status_code == 404
    log = await client.get(f"/api/sessions/{sid}/events", headers=admin["headers"])
    assert any(e["type"] == "host.changed" for e in log.json()["events"])
    # The owner cannot be removed; ownership is transferred first.
    no = await client.delete(
        f"{ORGS}/{org['_id']}/members/{owner['user']['_id']}", headers=admin["headers"]
    )
    assert no.status_code == 409
    handed = await client.post(
        f"{ORGS}/{org['_id']}/transfer",
        json={"userId": admin["user"]["_id"]},
        headers=owner["headers"],
    )
    assert handed.status_code == 200 and handed.json()["org"]["myRole"] == "admin"
    entries = await audit_types(client, admin, org, type="member.removed")
    assert [e["data"]["handedTo"] for e in entries] == [admin["user"]["_id"]]


async def test_nothing_of_one_org_is_visible_to_another(client: httpx.AsyncClient) -> None:
    a_owner = await register(client, role="interviewer")
    b_owner = await register(client, role="interviewer")
    org_a = await new_org(client, a_owner, name="Org A")
    org_b = await new_org(client, b_owner, name="Org B")
    session = await client.post(
        f"{ORGS}/{org_a['_id']}/sessions",
        json={"title": "A's secret", "visibility": "invite_only"},
        headers=a_owner["headers"],
    )
    sid = session.json()["session"]["_id"]
    a = org_a["_id"]
    for method, path in [
        ("GET", f"{ORGS}/{a}"),
        ("PATCH", f"{ORGS}/{a}"),
        ("DELETE", f"{ORGS}/{a}"),
        ("GET", f"{ORGS}/{a}/members"),
        ("GET", f"{ORGS}/{a}/invitations"),
        ("GET", f"{ORGS}/{a}/audit"),
        ("GET", f"{ORGS}/{a}/sessions"),
        ("POST", f"{ORGS}/{a}/sessions"),
        ("GET", f"/api/sessions/{sid}"),
        ("GET", f"/api/sessions/{sid}/record"),
        ("GET", f"/api/sessions/{sid}/events"),
        ("PATCH", f"/api/sessions/{sid}"),
    ]:
        body = None
        if method in ("PATCH", "POST"):
            body = {"name": "x"} if path == f"{ORGS}/{a}" else {"title": "x"}
        response = await client.request(method, path, json=body, headers=b_owner["headers"])
        assert response.status_code == 404, (method, path, response.text)
        assert "A's secret" not in response.text and "Org A" not in response.text
    listed = await client.get(ORGS, headers=b_owner["headers"])
    assert org_a["_id"] not in listed.text
    assert org_b["_id"] in listed.text


async def test_audit_log_pages_filters_and_record_views(
    client: httpx.AsyncClient, engine: AIOEngine
) -> None:
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner, seatLimit=5)
    recruiter = await join(client, owner, org, "recruiter")
    for i in range(5):
        renamed = await client.patch(
            f"{ORGS}/{org['_id']}", json={"name": f"Name {i}"}, headers=owner["headers"]
        )
        assert renamed.status_code == 200
    session = await client.post(
        f"{ORGS}/{org['_id']}/sessions", json={"title": "Panel"}, headers=owner["headers"]
    )
    sid = session.json()["session"]["_id"]
    note = await client.post(
        f"/api/sessions/{sid}/notes",
        json={"body": "For the panel", "visibility": "panel"},
        headers=owner["headers"],
    )
    assert note.status_code == 201
    # A recruiter reads the record (every view is audited) but no notes, there or listed.
    record = await client.get(f"/api/sessions/{sid}/record", headers=recruiter["headers"])
    assert record.status_code == 200 and record.json()["notes"] == []
    own_record = await client.get(f"/api/sessions/{sid}/record", headers=owner["headers"])
    assert [n["body"] for n in own_record.json()["notes"]] == ["For the panel"]
    # Nor can they seat themselves on the panel.
    themselves = await client.post(
        f"/api/sessions/{sid}/invitations",
        json={"email": recruiter["user"]["email"], "role": "interviewer"},
        headers=recruiter["headers"],
    )
    assert themselves.status_code == 409 and themselves.json()["error"] == "self_invite"
    notes = await client.get(f"/api/sessions/{sid}/notes", headers=recruiter["headers"])
    assert notes.status_code == 403
    audit = await client.get(f"{ORGS}/{org['_id']}/audit", headers=recruiter["headers"])
    assert audit.status_code == 403

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["after"] = cursor
        page = await client.get(
            f"{ORGS}/{org['_id']}/audit", params=params, headers=owner["headers"]
        )
        assert page.status_code == 200, page.text
        seen += page.json()["entries"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    stored = await engine.get_collection(AuditRecord).count_documents({"orgId": org_id(org)})
    assert len(seen) == stored == len({e["_id"] for e in seen})
    assert [e["at"] for e in seen] == sorted((e["at"] for e in seen), reverse=True)
    viewed = await audit_types(client, owner, org, type="record.viewed")
    assert [(e["actorId"], e["sessionId"]) for e in viewed] == [
        (owner["user"]["_id"], sid),
        (recruiter["user"]["_id"], sid),
    ]
    exported = await client.get(f"/api/sessions/{sid}/code/export", headers=owner["headers"])
    assert exported.status_code == 200
    exports = await audit_types(client, owner, org, type="code.exported")
    assert [(e["actorId"], e["sessionId"]) for e in exports] == [(owner["user"]["_id"], sid)]
    by_owner = await audit_types(client, owner, org, actor=owner["user"]["_id"])
    assert {e["actorId"] for e in by_owner} == {owner["user"]["_id"]}
    assert sum(e["type"] == "org.updated" for e in by_owner) == 5
    future = await audit_types(client, owner, org, since=iso(datetime.now(UTC) + timedelta(days=1)))
    assert future == []


async def test_account_deletion_and_organizations(client: httpx.AsyncClient) -> None:
    """An owner of a team leaves only after handing it over; a member who deletes the account
    frees the seat, and the audit log keeps the change, not who it was."""
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner, seatLimit=4)
    member = await join(client, owner, org, "interviewer")

    async def close(who: dict[str, Any]) -> httpx.Response:
        return await client.request(
            "DELETE", "/api/auth/me", json={"password": who["password"]}, headers=who["headers"]
        )

    refused = await close(owner)
    assert refused.status_code == 409 and refused.json()["error"] == "owns_organization"
    assert (await client.get("/api/auth/me", headers=owner["headers"])).status_code == 200
    assert (await close(member)).status_code == 204
    after = await client.get(f"{ORGS}/{org['_id']}", headers=owner["headers"])
    assert after.json()["org"]["seatsUsed"] == 1 and after.json()["org"]["members"] == 1
    removed = await audit_types(client, owner, org, type="member.removed")
    assert [(e["actorId"], e["data"]["reason"]) for e in removed] == [(None, "account_deleted")]
    joined = await audit_types(client, owner, org, type="member.joined")
    assert [e["actorId"] for e in joined] == [None]  # the deleted account is not named


async def test_audit_entries_stream_to_the_orgs_webhooks(
    client: httpx.AsyncClient, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner)
    async with WebhookReceiver() as receiver, open_clients(settings) as clients:
        made = await client.post(
            f"{ORGS}/{org['_id']}/webhooks/endpoints",
            json={"url": receiver.url, "events": ["audit.entry"]},
            headers=owner["headers"],
        )
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        renamed = await client.patch(
            f"{ORGS}/{org['_id']}", json={"name": "Streamed"}, headers=owner["headers"]
        )
        assert renamed.status_code == 200

        def streamed() -> list[dict[str, Any]]:
            return [json.loads(r["body"]) for r in receiver.of_type("audit.entry")]

        await pump_until(
            clients, lambda: any(b["data"]["type"] == "org.updated" for b in streamed())
        )
        bodies = streamed()
        kinds = [b["data"]["type"] for b in bodies]
        assert "webhook_endpoint.created" in kinds and "org.updated" in kinds
        update = next(b for b in bodies if b["data"]["type"] == "org.updated")
        assert update["data"]["orgId"] == org["_id"]
        assert update["data"]["actorId"] == owner["user"]["_id"]
        assert update["data"]["data"] == {"fields": ["name"]}
        # Signed as every delivery is (Standard Webhooks), with the endpoint's secret.
        delivered = next(r for r in receiver.of_type("audit.entry") if '"org.updated"' in r["body"])
        Webhook(secret).verify(delivered["body"], delivered["headers"])


async def test_deleting_an_org_keeps_its_sessions_with_the_owner(
    client: httpx.AsyncClient, engine: AIOEngine
) -> None:
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner)
    admin = await join(client, owner, org, "admin")
    made = await client.post(
        f"{ORGS}/{org['_id']}/sessions",
        json={"title": "Kept", "visibility": "invite_only"},
        headers=owner["headers"],
    )
    sid = made.json()["session"]["_id"]
    endpoint = await client.post(
        f"{ORGS}/{org['_id']}/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "events": ["session.created"]},
        headers=admin["headers"],
    )
    assert endpoint.status_code == 201
    assert (
        await client.delete(f"{ORGS}/{org['_id']}", headers=admin["headers"])
    ).status_code == 403
    assert (await client.get(ORGS, headers=owner["headers"])).status_code == 200  # made now
    personal = await client.delete(f"{ORGS}/{owner['user']['_id']}", headers=owner["headers"])
    assert personal.status_code == 409  # a personal organization goes with its account
    assert (
        await client.delete(f"{ORGS}/{org['_id']}", headers=owner["headers"])
    ).status_code == 204
    assert (await client.get(f"{ORGS}/{org['_id']}", headers=admin["headers"])).status_code == 404
    # The session is now the owner's personal organization's: the owner still sees it, the
    # former admin does not.
    assert (await client.get(f"/api/sessions/{sid}", headers=owner["headers"])).status_code == 200
    assert (await client.get(f"/api/sessions/{sid}", headers=admin["headers"])).status_code == 404
    stored = await engine.get_collection(Session).find_one({"_id": ObjectId(sid)})
    assert stored is not None and str(stored["orgId"]) == owner["user"]["_id"]
    gone = await client.get(
        f"/api/webhooks/endpoints/{endpoint.json()['endpoint']['_id']}", headers=owner["headers"]
    )
    assert gone.status_code == 404
    assert await engine.get_collection(AuditRecord).count_documents({"orgId": org_id(org)}) == 0
    kept = await audit_types(client, owner, {"_id": owner["user"]["_id"]}, type="org.deleted")
    assert [e["data"]["orgId"] for e in kept] == [org["_id"]]


async def test_personal_orgs_take_no_members_and_one_may_leave_a_team(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, role="interviewer")
    assert (await client.get(ORGS, headers=owner["headers"])).status_code == 200
    refused = await client.post(
        f"{ORGS}/{owner['user']['_id']}/invitations",
        json={"email": unique_email(), "role": "interviewer"},
        headers=owner["headers"],
    )
    assert refused.status_code == 409 and refused.json()["error"] == "personal_org"
    org = await new_org(client, owner)
    admin = await join(client, owner, org, "admin")
    left = await client.delete(
        f"{ORGS}/{org['_id']}/members/{admin['user']['_id']}",
        params={"handTo": owner["user"]["_id"]},
        headers=admin["headers"],
    )
    assert left.status_code == 204, left.text
    assert (await client.get(f"{ORGS}/{org['_id']}", headers=admin["headers"])).status_code == 404


async def test_a_teams_endpoints_never_carry_scorecard_content(
    client: httpx.AsyncClient, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    """Every owner and admin reads a team endpoint's delivery log, whatever they submitted:
    a submitted scorecard goes out as who and when only, even when the host could read it."""
    owner = await register(client, role="interviewer")
    org = await new_org(client, owner)
    secret = f"Team-only verdict {uuid.uuid4().hex}"
    async with WebhookReceiver() as receiver, open_clients(settings) as clients:
        made = await client.post(
            f"{ORGS}/{org['_id']}/webhooks/endpoints",
            json={"url": receiver.url, "events": ["scorecard.submitted"]},
            headers=owner["headers"],
        )
        assert made.status_code == 201
        session = await client.post(
            f"{ORGS}/{org['_id']}/sessions",
            json={"title": "Scored", "startTime": iso(datetime.now(UTC) + timedelta(minutes=5))},
            headers=owner["headers"],
        )
        sid = session.json()["session"]["_id"]
        assert (
            await client.post(f"/api/sessions/{sid}/start", headers=owner["headers"])
        ).is_success
        card = {"ratings": RATINGS, "recommendation": "yes", "summary": secret}
        saved = await client.put(
            f"/api/sessions/{sid}/scorecards/me", json=card, headers=owner["headers"]
        )
        assert saved.status_code == 200, saved.text
        submitted = await client.post(
            f"/api/sessions/{sid}/scorecards/me/submit", headers=owner["headers"]
        )
        assert submitted.status_code == 200, submitted.text
        await pump_until(clients, lambda: bool(receiver.of_type("scorecard.submitted")))
        [delivery] = receiver.of_type("scorecard.submitted")
        body = json.loads(delivery["body"])
        assert secret not in delivery["body"] and "ratings" not in delivery["body"]
        assert body["data"]["scorecard"]["authorId"] == owner["user"]["_id"]
        # The host reads their own card in the API all the same.
        mine = await client.get(f"/api/sessions/{sid}/scorecards/me", headers=owner["headers"])
        assert secret in mine.text
