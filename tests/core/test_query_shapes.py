"""Every query the code sends is in the catalogue (tq/query_catalogue.py): a walk through the
API and the jobs is recorded with a pymongo command listener, each filter and sort is reduced to
its shape, and each shape must match a catalogued one. On a real MongoDB (TEST_MONGODB_URL) the
catalogued list and history pages are also explained: IXSCAN, no in-memory SORT, and at most
twice the page's documents examined."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo.monitoring
import pytest
from bson import ObjectId

from config import Settings
from tests.problems.test_bank import add_problem
from tests.problems.test_packages import PACKAGES, ZIP, zipped
from tests.scorecard_templates.test_templates import rubric
from tests.sso.support import FakeDns, idp_metadata, self_signed, verify_domains
from tests.support import (
    act,
    create,
    http_client,
    iso,
    open_clients,
    register,
    running_app,
    save,
)
from tq.chat.archive import archive_finished_sessions
from tq.collab.history import forget_session_code, index_history
from tq.evaluation.jobs import announce_records, flush_session_events
from tq.integrations.jobs import pump_webhooks
from tq.jobs.registry import SYNC_USER
from tq.jobs.service import list_runs, purge_finished_runs
from tq.notifications.jobs import send_reminders
from tq.query_catalogue import CATALOGUE, QueryShape
from tq.runner.service import fail_runs_older_than
from tq.sessions.models import Session
from tq.sessions.store import close_overdue
from tq.users.models import User

PACKAGE = zipped(PACKAGES / "addtwo")
EQUALITY_OPS = {"$eq", "$in", "$all"}
RANGE_OPS = {"$lt", "$lte", "$gt", "$gte"}
QUERY_COMMANDS = {"find", "aggregate", "count", "findAndModify", "update", "delete"}


class Recorder(pymongo.monitoring.CommandListener):
    def __init__(self, database: str) -> None:
        self.database = database
        self.commands: list[dict[str, Any]] = []

    def started(self, event: pymongo.monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database and event.command_name in QUERY_COMMANDS:
            self.commands.append(dict(event.command))

    def succeeded(self, event: pymongo.monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: pymongo.monitoring.CommandFailedEvent) -> None:
        pass


Shape = tuple[str, frozenset[str], tuple[tuple[str, int], ...], frozenset[str], frozenset[str]]


def classify(filter_: dict[str, Any]) -> list[tuple[set[str], set[str], set[str]]]:
    """(equality, range, residual) field sets; one per `$or` branch that compares fields."""
    eq: set[str] = set()
    rng: set[str] = set()
    rest: set[str] = set()
    branches: list[dict[str, Any]] = []
    for field, value in filter_.items():
        if field == "$or":
            branches = value
        elif isinstance(value, dict) and value and all(k.startswith("$") for k in value):
            ops = set(value)
            if ops <= EQUALITY_OPS:
                eq.add(field)
            elif ops <= RANGE_OPS:
                rng.add(field)
            else:
                rest.add(field)
        else:
            eq.add(field)
    if not branches:
        return [(eq, rng, rest)]
    shapes = []
    for branch in branches:
        for b_eq, b_rng, b_rest in classify(branch):
            shapes.append((eq | b_eq, rng | b_rng, rest | b_rest))
    return shapes


def shapes_of(command: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[tuple[str, int]]]]:
    """(collection, filter, sort) of each query in a command."""
    name = next(iter(command))
    collection = command[name]
    if name == "find":
        return [(collection, command.get("filter", {}), list(command.get("sort", {}).items()))]
    if name == "findAndModify":
        return [(collection, command.get("query", {}), list(command.get("sort", {}).items()))]
    if name == "count":
        return [(collection, command.get("query", {}), [])]
    if name == "update":
        return [(collection, u["q"], []) for u in command["updates"]]
    if name == "delete":
        return [(collection, d["q"], []) for d in command["deletes"]]
    match: dict[str, Any] = {}
    sort: list[tuple[str, int]] = []
    for stage in command.get("pipeline", []):
        if "$match" in stage:
            match = stage["$match"]
        if "$sort" in stage:
            sort = list(stage["$sort"].items())
    return [(collection, match, sort)]


def catalogued(
    collection: str, eq: set[str], rng: set[str], rest: set[str], sort: list[tuple[str, int]]
) -> bool:
    for shape in CATALOGUE:
        if shape.collection != collection:
            continue
        if shape.equality == ("_id",) and "_id" in eq:
            return True  # one document by _id: the other conditions narrow that one
        if matches(shape, eq, rng, rest, sort):
            return True
    return False


def matches(
    shape: QueryShape, eq: set[str], rng: set[str], rest: set[str], sort: list[tuple[str, int]]
) -> bool:
    allowed = set(shape.residual) | set(shape.range)
    sort_fields = {f for f, _ in shape.sort}
    # Sorting on an equality field first changes nothing; a sort all reversed is the same scan.
    sort = [(f, int(d)) for f, d in sort if f not in shape.equality]
    reversed_sort = [(f, -d) for f, d in sort]
    return (
        set(shape.equality) <= eq
        # Equality on a sort field (a page's tie position) is a point in the index's order.
        and eq - set(shape.equality) <= set(shape.residual) | sort_fields
        and rng <= allowed | sort_fields
        and rest <= allowed
        and (not sort or list(shape.sort) in (sort, reversed_sort))
    )


FAKE_DNS: list[FakeDns] = []  # the run's (the walk publishes its records there)
METADATA = idp_metadata(
    "https://idp.example.com/q", "https://idp.example.com/sso", self_signed("q")[0]
)


async def walk(http: Any) -> None:
    """The API's reads and writes, with the parameters that change a query's shape."""
    host = await register(http, role="interviewer")
    guest = await register(http)
    await http.post(
        "/api/auth/login", json={"email": host["user"]["email"], "password": host["password"]}
    )
    soon = datetime.now(UTC) + timedelta(days=60)
    later = await create(http, host, title="Shapes later", startTime=iso(soon))
    session = await create(http, host, title="Shapes")
    await act(http, guest, session, "join")
    saved = (await save(http, guest, session, "hi")).json()["message"]
    await save(http, guest, session, "again", messageId="stream-shape-1")
    headers = host["headers"]
    sid = session["_id"]
    for params in (
        {},
        {"status": "active,completed"},
        {"sort": "startTime"},
        {"status": "scheduled", "sort": "-startTime"},
        {"scope": "open"},
        {"scope": "open", "sort": "startTime"},
        {"difficulty": "easy", "language": "python", "q": "Sha"},
    ):
        assert (await http.get("/api/sessions", headers=headers, params=params)).status_code == 200
    await http.get(f"/api/sessions/user/{guest['user']['_id']}", headers=headers)
    await http.get("/api/sessions/active", headers=headers)
    await http.get("/api/sessions/my-recent", headers=headers)
    await http.get(f"/api/sessions/{sid}", headers=headers)
    page = (await http.get(f"/api/chat/history/{sid}", headers=headers, params={"limit": 1})).json()
    await http.get(
        f"/api/chat/history/{sid}", headers=headers, params={"before": page["nextCursor"]}
    )
    await http.get(f"/api/chat/history/{sid}", headers=headers, params={"after": saved["_id"]})
    await http.post("/api/chat/channel", headers=headers, json={"sessionId": sid})
    await http.get(f"/api/sessions/{sid}/runs", headers=headers)
    await walk_invitations(http, host, later)
    await http.patch(f"/api/sessions/{later['_id']}", headers=headers, json={"title": "Moved"})
    await http.patch(
        f"/api/sessions/{later['_id']}",
        headers=headers,
        json={"startTime": iso(soon + timedelta(days=31))},
    )
    await walk_evaluation(http, host, session)
    await walk_webhooks(http, host)
    await walk_bank(http, host)
    await walk_identity(http, host)
    await act(http, host, later, "start")
    await act(http, host, later, "end")
    await act(http, guest, session, "leave")
    await http.get("/api/health/ready")
    gone = await register(http)
    await act(http, gone, session, "join")
    await http.request(
        "DELETE", "/api/auth/me", headers=gone["headers"], json={"password": gone["password"]}
    )
    await http.delete(f"/api/sessions/{later['_id']}", headers=headers)


async def walk_invitations(http: Any, host: dict[str, Any], session: dict[str, Any]) -> None:
    headers = host["headers"]
    base = f"/api/sessions/{session['_id']}"
    invited = await register(http)
    created = await http.post(
        f"{base}/invitations",
        headers=headers,
        json={"email": invited["user"]["email"], "role": "interviewer"},
    )
    token = created.json()["inviteUrl"].rsplit("/", 1)[1]
    await http.get(f"/api/invitations/{token}")
    await http.post(f"/api/invitations/{token}/accept", headers=invited["headers"])
    other = await http.post(
        f"{base}/invitations",
        headers=headers,
        json={"email": "shape@example.test", "role": "candidate"},
    )
    invitation_id = other.json()["invitation"]["_id"]
    await http.post(f"{base}/invitations/{invitation_id}/resend", headers=headers)
    await http.delete(f"{base}/invitations/{invitation_id}", headers=headers)
    await http.get(f"{base}/invitations", headers=headers)
    await http.get(f"{base}/calendar.ics", headers=headers)


async def walk_evaluation(http: Any, host: dict[str, Any], session: dict[str, Any]) -> None:
    headers = host["headers"]
    base = f"/api/sessions/{session['_id']}"
    note = (await http.post(f"{base}/notes", headers=headers, json={"body": "n"})).json()["note"]
    await http.get(f"{base}/notes", headers=headers, params={"limit": 1})
    await http.get(f"{base}/notes", headers=headers, params={"after": note["_id"]})
    await http.patch(f"{base}/notes/{note['_id']}", headers=headers, json={"body": "m"})
    await http.delete(f"{base}/notes/{note['_id']}", headers=headers)
    await http.patch(base, headers=headers, json={"criteria": ["one"]})
    await http.put(f"{base}/scorecards/me", headers=headers, json={"ratings": {"one": 3}})
    await http.get(f"{base}/scorecards/me", headers=headers)
    await http.put(
        f"{base}/scorecards/me",
        headers=headers,
        json={"ratings": {"one": 3}, "recommendation": "yes"},
    )
    await http.post(f"{base}/scorecards/me/submit", headers=headers)
    await http.get(f"{base}/scorecards", headers=headers)
    page = (await http.get(f"{base}/events", headers=headers, params={"limit": 2})).json()
    await http.get(f"{base}/events", headers=headers, params={"after": page["nextCursor"]})
    await http.get(f"{base}/record", headers=headers)
    await http.get(f"{base}/record.html", headers=headers)
    # The code's history (an empty log: the queries are what matters here).
    await http.get(f"{base}/code/timeline", headers=headers, params={"limit": 5, "after": 1})
    await http.get(f"{base}/code", headers=headers, params={"position": 3})
    await http.get(f"{base}/code", headers=headers, params={"at": iso(datetime.now(UTC))})
    await http.get(f"{base}/code/diff", headers=headers, params={"from": 0, "to": 1})
    await http.get(f"{base}/code/export", headers=headers)
    await http.get(f"{base}/code/signals", headers=headers)


async def walk_bank(http: Any, host: dict[str, Any]) -> None:
    """The question bank and scorecard templates of an organization, and what sessions pin."""
    headers = host["headers"]
    org = (await http.post("/api/orgs", headers=headers, json={"name": "Shapes"})).json()["org"]
    bank = f"/api/orgs/{org['_id']}/problems"
    await http.post(bank, headers=headers, json=add_problem("shape"))
    await http.patch(f"{bank}/shape", headers=headers, json={"title": "Shape two"})
    await http.post(f"{bank}/copy", headers=headers, json={"slug": "two-sum"})
    listed = (await http.get(bank, headers=headers, params={"limit": 1})).json()
    await http.get(bank, headers=headers, params={"after": listed["nextCursor"]})
    await http.get(f"{bank}/shape", headers=headers)
    await http.get(f"{bank}/shape/versions", headers=headers)
    await http.get(f"{bank}/shape/versions/1", headers=headers)
    await http.get(f"{bank}/shape/export", headers=headers)
    started = await http.post(
        f"{bank}/import", content=PACKAGE, params={"slug": "shape-import"}, headers=headers | ZIP
    )
    await http.get(f"{bank}/imports/{started.json()['problemImport']['id']}", headers=headers)
    templates = f"/api/orgs/{org['_id']}/scorecard-templates"
    made = {"slug": "shape", "name": "Shape", "criteria": rubric("design")}
    await http.post(templates, headers=headers, json=made)
    await http.patch(f"{templates}/shape", headers=headers, json={"name": "Shape two"})
    await http.put(f"{templates}/default", headers=headers, json={"slug": "shape"})
    await http.get(templates, headers=headers, params={"limit": 1})
    await http.get(f"{templates}/shape", headers=headers)
    await http.get(f"{templates}/shape/versions", headers=headers)
    await http.get(f"{templates}/shape/versions/1", headers=headers)
    pinned = await http.post(
        f"/api/orgs/{org['_id']}/sessions",
        headers=headers,
        json={"title": "Pinned", "problemId": "shape@1"},
    )
    sid = pinned.json()["session"]["_id"]
    await http.get(f"/api/sessions/{sid}/problem", headers=headers)
    await http.get(f"/api/sessions/{sid}/scorecards/me", headers=headers)
    await http.patch(f"/api/sessions/{sid}", headers=headers, json={"problemId": "shape"})
    await http.delete(f"{templates}/shape", headers=headers)
    await http.delete(f"{bank}/shape", headers=headers)


async def walk_identity(http: Any, host: dict[str, Any]) -> None:
    """Single sign-on's configuration, discovery and enforcement; SCIM tokens, Users, Groups."""
    headers = host["headers"]
    org = (await http.post("/api/orgs", headers=headers, json={"name": "Identity"})).json()["org"]
    domain = f"shape-{ObjectId()}.test"
    sso: dict[str, Any] = {"protocol": "saml", "idpMetadataXml": METADATA, "domains": [domain]}
    sso["groupRoles"] = {"Admins": "admin"}
    await http.put(f"/api/orgs/{org['_id']}/sso", headers=headers, json=sso)
    await http.put(f"/api/orgs/{org['_id']}/sso", headers=headers, json={**sso, "enforced": True})
    await verify_domains(http, FAKE_DNS[0], host, org["_id"])
    await http.get(f"/api/orgs/{org['_id']}/sso", headers=headers)
    await http.post("/api/auth/sso/discover", json={"email": f"a@{domain}"})
    await http.get(f"/api/auth/sso/{org['_id']}/login", params={"client": "0" * 64})
    await http.get(f"/api/auth/sso/saml/{org['_id']}/metadata")
    await http.post("/api/auth/login", json={"email": host["user"]["email"], "password": "x" * 8})
    await http.post("/api/auth/sso/exchange", json={"code": "c" * 43, "verifier": "v" * 43})
    made = await http.post(
        f"/api/orgs/{org['_id']}/scim/tokens", headers=headers, json={"name": "s"}
    )
    await http.get(f"/api/orgs/{org['_id']}/scim/tokens", headers=headers)
    scim = {"Authorization": f"Bearer {made.json()['token']}", "content-type": "application/json"}
    user_schema = "urn:ietf:params:scim:schemas:core:2.0:User"
    patch = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    user = await http.post(
        "/scim/v2/Users", headers=scim, json={"schemas": [user_schema], "userName": f"u@{domain}"}
    )
    uid = user.json()["id"]
    await http.get("/scim/v2/Users", headers=scim, params={"filter": f'userName eq "u@{domain}"'})
    await http.get("/scim/v2/Users", headers=scim, params={"filter": 'externalId eq "e"'})
    await http.get("/scim/v2/Users", headers=scim, params={"startIndex": 2, "count": 1})
    await http.get(f"/scim/v2/Users/{uid}", headers=scim)
    group = await http.post(
        "/scim/v2/Groups",
        headers=scim,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Admins",
            "members": [{"value": uid}],
        },
    )
    await http.get("/scim/v2/Groups", headers=scim, params={"filter": 'displayName eq "admins"'})
    off = {"schemas": [patch], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    await http.patch(f"/scim/v2/Users/{uid}", headers=scim, json=off)
    await http.delete(f"/scim/v2/Groups/{group.json()['id']}", headers=scim)
    await http.delete(f"/scim/v2/Users/{uid}", headers=scim)
    await http.delete(
        f"/api/orgs/{org['_id']}/scim/tokens/{made.json()['scimToken']['id']}", headers=headers
    )
    await http.delete(f"/api/orgs/{org['_id']}/sso", headers=headers)


async def walk_webhooks(http: Any, host: dict[str, Any]) -> None:
    headers = host["headers"]
    base = "/api/webhooks/endpoints"
    made = await http.post(
        base,
        headers=headers,
        json={"url": "http://127.0.0.1:9/hook", "events": ["session.created"]},
    )
    endpoint = made.json()["endpoint"]["_id"]
    await http.get(base, headers=headers, params={"limit": 1})
    await http.get(base, headers=headers, params={"after": endpoint})
    await http.get(f"{base}/{endpoint}", headers=headers)
    await http.patch(f"{base}/{endpoint}", headers=headers, json={"description": "d"})
    await http.post(f"{base}/{endpoint}/rotate-secret", headers=headers)
    sent = (await http.post(f"{base}/{endpoint}/test", headers=headers)).json()["delivery"]
    await http.get(f"{base}/{endpoint}/deliveries", headers=headers)
    await http.get(f"{base}/{endpoint}/deliveries/{sent['_id']}", headers=headers)
    await http.post(f"{base}/{endpoint}/deliveries/{sent['_id']}/replay", headers=headers)


async def test_every_query_sent_is_catalogued(
    settings: Settings, fake_stream, fake_dns: FakeDns
) -> None:
    FAKE_DNS[:] = [fake_dns]
    recorder = Recorder(settings.mongodb_database)
    pymongo.monitoring.register(recorder)  # clients created from now on report to it
    async with running_app(settings) as (_app, url), http_client(url) as http:
        await walk(http)
    async with open_clients(settings) as clients:
        await close_overdue(
            clients.engine, clients.locks, grace_minutes=15, max_session_minutes=240
        )
        await send_reminders(clients)
        await flush_session_events(clients)
        await announce_records(clients)
        await pump_webhooks(clients)
        later = datetime.now(UTC) + timedelta(days=30)
        await archive_finished_sessions(
            clients.engine,
            clients.redis,
            clients.locks,
            clients.stream,
            after_days=7,
            chunk_size=50,
            max_chunks=1,
            now=later,
        )
        await clients.queue.requeue_pending_syncs(User, SYNC_USER, older_than_s=0, limit=5)
        await fail_runs_older_than(clients.engine, clients.queue, stale_after_s=3600)
        await list_runs(clients.engine, job="sync_user", limit=3)
        await list_runs(clients.engine, failed_only=True, limit=3)
        await list_runs(clients.engine, limit=3)
        await purge_finished_runs(clients.engine, 30)
        await index_history(clients.engine, ObjectId(), 16)
        await forget_session_code(clients.engine, ObjectId())
        await clients.queue.flush_outbox()
    unlisted = []
    for command in recorder.commands:
        for collection, filter_, sort in shapes_of(command):
            for eq, rng, rest in classify(filter_):
                if not catalogued(collection, eq, rng, rest, sort):
                    unlisted.append((collection, sorted(eq), sorted(rng), sorted(rest), sort))
    assert len(recorder.commands) > 50, "the walk recorded too little to mean anything"
    assert not unlisted, "queries not in tq/query_catalogue.py:\n" + "\n".join(map(str, unlisted))


@pytest.mark.skipif(
    not os.environ.get("TEST_MONGODB_URL"), reason="explain() plans are MongoDB's own"
)
async def test_pages_are_index_served_on_mongodb(settings: Settings) -> None:
    async with open_clients(settings) as clients:
        sessions = clients.engine.get_collection(Session)
        someone = (await sessions.find_one({}, {"members": 1})) or {"members": [None]}
        member = someone["members"][0]
        plans = {
            "mine": sessions.find({"members": member}).sort([("createdAt", -1), ("_id", -1)]),
            "active": sessions.find({"status": "active"}).sort([("createdAt", -1), ("_id", -1)]),
        }
        for name, cursor in plans.items():
            plan = await cursor.limit(20).explain()
            text = str(plan["queryPlanner"]["winningPlan"])
            assert "IXSCAN" in text and "'SORT'" not in text, (name, text)
            examined = plan.get("executionStats", {}).get("totalDocsExamined", 0)
            assert examined <= 40, (name, examined)
        # The expiry job's candidates: each branch on status_start_id, so what it reads grows
        # with the sessions due, not with the collection.
        now = datetime.now(UTC)
        due = {
            "$or": [
                {"status": "scheduled", "startTime": {"$lt": now}},
                {"status": "active", "startTime": {"$lt": now}},
            ]
        }
        plan = await sessions.find(due, {"_id": 1}).explain()
        text = str(plan["queryPlanner"]["winningPlan"])
        assert "COLLSCAN" not in text and "IXSCAN" in text, text
        stats = plan.get("executionStats", {})
        matched = await sessions.count_documents(due)
        assert stats.get("totalKeysExamined", 0) <= 2 * matched + 2, stats
