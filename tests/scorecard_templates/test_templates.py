"""Scorecard templates: versioned rubrics of an organization, pinned by a session at creation;
editing one never changes a past session's scorecards, summary or record."""

from __future__ import annotations

from typing import Any

import httpx

from tests.orgs.test_orgs import audit_types, join, new_org
from tests.support import register


def rubric(*keys: str, flavour: str = "v1") -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "title": key.replace("_", " ").title(),
            "description": f"How well the candidate shows {key} ({flavour})",
            "ratings": {
                "1": f"no {key}",
                "2": f"some {key}",
                "3": f"good {key}",
                "4": f"outstanding {key} ({flavour})",
            },
        }
        for key in keys
    ]


async def test_a_session_pins_its_template_and_an_edit_changes_nothing_past(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, role="interviewer", name="Olga Owner")
    org = await new_org(client, owner, name="Rubric team")
    host = await join(client, owner, org, "interviewer")
    recruiter = await join(client, owner, org, "recruiter")
    base = f"/api/orgs/{org['_id']}/scorecard-templates"
    body = {"slug": "backend", "name": "Backend loop", "criteria": rubric("design", "testing")}
    refused = await client.post(base, json=body, headers=recruiter["headers"])
    assert refused.status_code == 403 and refused.json()["error"] == "org_role_forbids"
    created = await client.post(base, json=body, headers=owner["headers"])
    assert created.status_code == 201, created.text
    assert created.json()["template"]["version"] == 1
    duplicate = await client.post(
        base, json=body | {"criteria": rubric("a", "a")}, headers=owner["headers"]
    )
    assert duplicate.status_code == 400
    made_default = await client.put(
        f"{base}/default", json={"slug": "backend"}, headers=owner["headers"]
    )
    assert made_default.status_code == 200, made_default.text
    listed = (await client.get(base, headers=recruiter["headers"])).json()["templates"]
    assert [(t["slug"], t["isDefault"]) for t in listed] == [("backend", True)]

    # A session that names no template pins the default's current version.
    created_session = await client.post(
        f"/api/orgs/{org['_id']}/sessions",
        json={"title": "Loop one", "language": "python"},
        headers=host["headers"],
    )
    assert created_session.status_code == 201, created_session.text
    sid = created_session.json()["session"]["_id"]
    mine = (await client.get(f"/api/sessions/{sid}/scorecards/me", headers=host["headers"])).json()
    assert mine["criteria"] == ["design", "testing"]
    assert mine["rubric"]["template"] == "backend" and mine["rubric"]["version"] == 1
    assert mine["rubric"]["criteria"][0]["ratings"]["4"] == "outstanding design (v1)"
    card = {
        "ratings": {"design": 3, "testing": 2},
        "recommendation": "yes",
        "summary": "Solid design, thin tests",
    }
    saved = await client.put(
        f"/api/sessions/{sid}/scorecards/me", json=card, headers=host["headers"]
    )
    assert saved.status_code == 200, saved.text
    assert (
        await client.post(f"/api/sessions/{sid}/scorecards/me/submit", headers=host["headers"])
    ).status_code == 200
    assert (
        await client.post(f"/api/sessions/{sid}/end", headers=host["headers"])
    ).status_code == 200
    past = {
        path: (await client.get(f"/api/sessions/{sid}{path}", headers=host["headers"]))
        for path in ("/scorecards", "/scorecards/me", "/record")
    }
    assert all(r.status_code == 200 for r in past.values()), {p: r.text for p, r in past.items()}
    assert past["/scorecards"].json()["summary"]["criteria"]["design"] == {"mean": 3.0, "count": 1}

    # Version 2 rates other things and means other things by each rating.
    edited = await client.patch(
        f"{base}/backend",
        json={"criteria": rubric("design", "communication", flavour="v2")},
        headers=owner["headers"],
    )
    assert edited.status_code == 200 and edited.json()["template"]["version"] == 2
    for path, before in past.items():
        after = await client.get(f"/api/sessions/{sid}{path}", headers=host["headers"])
        assert after.json() == before.json(), path
    assert "v2" not in past["/scorecards/me"].text

    later = await client.post(
        f"/api/orgs/{org['_id']}/sessions", json={"title": "Loop two"}, headers=host["headers"]
    )
    later_id = later.json()["session"]["_id"]
    later_mine = (
        await client.get(f"/api/sessions/{later_id}/scorecards/me", headers=host["headers"])
    ).json()
    assert later_mine["criteria"] == ["design", "communication"]
    assert later_mine["rubric"]["version"] == 2
    pinned_old = await client.post(
        f"/api/orgs/{org['_id']}/sessions",
        json={"title": "Loop three", "scorecardTemplate": "backend@1"},
        headers=host["headers"],
    )
    assert pinned_old.status_code == 201, pinned_old.text
    old_id = pinned_old.json()["session"]["_id"]
    old_mine = (
        await client.get(f"/api/sessions/{old_id}/scorecards/me", headers=host["headers"])
    ).json()
    assert old_mine["criteria"] == ["design", "testing"] and old_mine["rubric"]["version"] == 1
    unknown = await client.post(
        f"/api/orgs/{org['_id']}/sessions",
        json={"title": "Loop four", "scorecardTemplate": "frontend"},
        headers=host["headers"],
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_template"
    versions = (await client.get(f"{base}/backend/versions", headers=host["headers"])).json()
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    first = await client.get(f"{base}/backend/versions/1", headers=host["headers"])
    assert first.json()["template"]["criteria"][1]["key"] == "testing"

    # Deleted: no longer the default; new sessions get the default criteria.
    assert (await client.delete(f"{base}/backend", headers=owner["headers"])).status_code == 204
    plain = await client.post(
        f"/api/orgs/{org['_id']}/sessions", json={"title": "Loop five"}, headers=host["headers"]
    )
    plain_mine = (
        await client.get(
            f"/api/sessions/{plain.json()['session']['_id']}/scorecards/me", headers=host["headers"]
        )
    ).json()
    assert plain_mine["rubric"] is None and "design" not in plain_mine["criteria"]
    for path, before in past.items():
        after = await client.get(f"/api/sessions/{sid}{path}", headers=host["headers"])
        assert after.json() == before.json(), path
    types = [e["type"] for e in await audit_types(client, owner, org)]
    for expected in ("template.created", "template.updated", "template.default_set"):
        assert expected in types
    assert "template.deleted" in types

    outsider = await register(client, role="interviewer")
    hidden = await client.get(base, headers=outsider["headers"])
    assert hidden.status_code == 404 and hidden.json()["error"] == "org_not_found"
