"""Notes, blind scorecards, the event log and the record, for each of the three people of a
session (host, a second interviewer, a candidate) and an outsider, on the real stack."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId

from config import Settings
from tests.support import ROOT, Chromium, act, iso, open_clients, register, save, wait_until
from tq.chat.archive import archive_finished_sessions
from tq.evaluation.jobs import flush_session_events
from tq.sessions.log import session_event
from tq.sessions.models import Session, SessionEventRecord
from tq.sessions.store import update as update_session_document

RATINGS = {"problem_solving": 4, "code_quality": 3, "communication": 3, "testing": 2}
FULL: dict[str, Any] = {"ratings": RATINGS, "recommendation": "yes", "summary": "Solid"}


async def panel(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """A session (room open) with its host, an interviewer and a candidate (both invited and
    accepted), and an outsider."""
    host = await register(client, role="interviewer", name="Hana Host")
    interviewer = await register(client, role="interviewer", name="Ivo Interviewer")
    candidate = await register(client, name="Cara Candidate")
    outsider = await register(client, name="Otto Outsider")
    body.setdefault("title", "Evaluated interview")
    body.setdefault("startTime", iso(datetime.now(UTC) + timedelta(minutes=5)))
    body.setdefault("maxParticipants", 2)
    created = await client.post("/api/sessions", json=body, headers=host["headers"])
    assert created.status_code == 201, created.text
    session = created.json()["session"]
    for person, role in ((interviewer, "interviewer"), (candidate, "candidate")):
        invited = await client.post(
            f"/api/sessions/{session['_id']}/invitations",
            json={"email": person["user"]["email"], "role": role},
            headers=host["headers"],
        )
        token = invited.json()["inviteUrl"].rsplit("/", 1)[1]
        accepted = await client.post(f"/api/invitations/{token}/accept", headers=person["headers"])
        assert accepted.status_code == 200, accepted.text
    return {
        "session": session,
        "base": f"/api/sessions/{session['_id']}",
        "host": host,
        "interviewer": interviewer,
        "candidate": candidate,
        "outsider": outsider,
    }


async def test_notes_for_each_role(client: httpx.AsyncClient) -> None:
    p = await panel(client)
    base, host, ivo = p["base"], p["host"], p["interviewer"]

    async def note(who: dict[str, Any], **body: Any) -> dict[str, Any]:
        made = await client.post(f"{base}/notes", json=body, headers=who["headers"])
        assert made.status_code == 201, made.text
        result: dict[str, Any] = made.json()["note"]
        return result

    private = await note(host, body="Host only: **strong** start", visibility="private", at=90)
    shared = await note(ivo, body="Panel: asked good questions", visibility="panel")
    await note(host, body="Panel: check the edge cases", visibility="panel")
    assert private["author"]["sessionRole"] == "host" and private["at"] == 90
    assert set(private) == {
        "_id",
        "sessionId",
        "authorId",
        "author",
        "body",
        "visibility",
        "at",
        "createdAt",
        "updatedAt",
    }

    def bodies(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [n["body"] for n in response.json()["notes"]]

    assert bodies(await client.get(f"{base}/notes", headers=host["headers"])) == [
        "Host only: **strong** start",
        "Panel: asked good questions",
        "Panel: check the edge cases",
    ]
    assert bodies(await client.get(f"{base}/notes", headers=ivo["headers"])) == [
        "Panel: asked good questions",
        "Panel: check the edge cases",
    ]
    page = await client.get(f"{base}/notes", params={"limit": 1}, headers=host["headers"])
    after = page.json()["nextCursor"]
    assert bodies(page) == ["Host only: **strong** start"] and after
    rest = await client.get(f"{base}/notes", params={"after": after}, headers=host["headers"])
    assert len(bodies(rest)) == 2 and rest.json()["nextCursor"] is None

    # Only the author changes a note; another's private note does not even exist for them.
    other = await client.patch(
        f"{base}/notes/{shared['_id']}", json={"body": "x"}, headers=host["headers"]
    )
    assert other.status_code == 403 and other.json()["error"] == "not_author"
    hidden = await client.patch(
        f"{base}/notes/{private['_id']}", json={"body": "x"}, headers=ivo["headers"]
    )
    assert hidden.status_code == 404
    edited = await client.patch(
        f"{base}/notes/{shared['_id']}",
        json={"body": "Panel: asked very good questions", "visibility": "private"},
        headers=ivo["headers"],
    )
    assert edited.status_code == 200 and edited.json()["note"]["visibility"] == "private"
    assert "Panel: asked very good questions" not in bodies(
        await client.get(f"{base}/notes", headers=host["headers"])
    )
    bad = await client.post(f"{base}/notes", json={"body": ""}, headers=host["headers"])
    assert bad.status_code == 400
    too_long = await client.post(
        f"{base}/notes", json={"body": "x" * 20_001}, headers=host["headers"]
    )
    assert too_long.status_code == 400
    assert (
        await client.delete(f"{base}/notes/{shared['_id']}", headers=ivo["headers"])
    ).status_code == 204

    # Nothing a candidate reads mentions notes or scores.
    cara = p["candidate"]["headers"]
    for path in (base, "/api/sessions", "/api/sessions/my-recent"):
        seen = await client.get(path, headers=cara)
        assert seen.status_code == 200
        assert "note" not in seen.text.lower() and "score" not in seen.text.lower()
        assert "criteria" not in seen.text

    # The candidate and the outsider: 404 on every notes route.
    for who in (p["candidate"], p["outsider"]):
        headers = who["headers"]
        for method, path, body in (
            ("GET", f"{base}/notes", None),
            ("POST", f"{base}/notes", {"body": "hello"}),
            ("PATCH", f"{base}/notes/{private['_id']}", {"body": "x"}),
            ("DELETE", f"{base}/notes/{private['_id']}", None),
        ):
            answer = await client.request(method, path, json=body, headers=headers)
            assert answer.status_code == 404, (method, path, answer.text)


async def test_blind_scorecards_before_and_after_own_submit(client: httpx.AsyncClient) -> None:
    p = await panel(client)
    base, host, ivo = p["base"], p["host"], p["interviewer"]
    mine = await client.get(f"{base}/scorecards/me", headers=ivo["headers"])
    assert mine.json() == {
        "scorecard": None,
        "criteria": ["problem_solving", "code_quality", "communication", "testing"],
        "rubric": None,
    }
    blind = await client.get(f"{base}/scorecards", headers=ivo["headers"])
    assert blind.status_code == 403 and blind.json()["error"] == "submit_own_first"

    draft = await client.put(
        f"{base}/scorecards/me", json={"ratings": {"testing": 2}}, headers=ivo["headers"]
    )
    assert draft.status_code == 200 and draft.json()["scorecard"]["status"] == "draft"
    incomplete = await client.post(f"{base}/scorecards/me/submit", headers=ivo["headers"])
    assert incomplete.status_code == 400 and incomplete.json()["error"] == "scorecard_incomplete"
    fields = {d["field"] for d in incomplete.json()["details"]}
    assert {"ratings.problem_solving", "recommendation"} <= fields
    unknown = await client.put(
        f"{base}/scorecards/me", json={"ratings": {"charisma": 4}}, headers=ivo["headers"]
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_criteria"
    out_of_range = await client.put(
        f"{base}/scorecards/me", json={"ratings": {"testing": 5}}, headers=ivo["headers"]
    )
    assert out_of_range.status_code == 400

    # The host has a draft too: drafts are never shown to anyone else.
    await client.put(
        f"{base}/scorecards/me",
        json={**FULL, "recommendation": "strong_yes"},
        headers=host["headers"],
    )
    assert (
        await client.put(f"{base}/scorecards/me", json=FULL, headers=ivo["headers"])
    ).status_code == 200
    submitted = await client.post(f"{base}/scorecards/me/submit", headers=ivo["headers"])
    assert submitted.status_code == 200
    assert submitted.json()["scorecard"]["status"] == "submitted"
    assert submitted.json()["scorecard"]["submittedAt"] is not None
    again = await client.post(f"{base}/scorecards/me/submit", headers=ivo["headers"])
    assert again.status_code == 409 and again.json()["error"] == "scorecard_submitted"
    changed = await client.put(f"{base}/scorecards/me", json=FULL, headers=ivo["headers"])
    assert changed.status_code == 409 and changed.json()["error"] == "scorecard_submitted"

    seen = await client.get(f"{base}/scorecards", headers=ivo["headers"])
    assert seen.status_code == 200
    body = seen.json()
    assert [c["authorId"] for c in body["scorecards"]] == [ivo["user"]["_id"]]
    assert body["summary"]["submitted"] == 1
    assert body["summary"]["criteria"]["testing"] == {"mean": 2.0, "count": 1}
    assert body["summary"]["recommendations"] == {
        "strong_no": 0,
        "no": 0,
        "yes": 1,
        "strong_yes": 0,
    }
    # The host is still blind until submitting their own.
    assert (await client.get(f"{base}/scorecards", headers=host["headers"])).status_code == 403
    for who in (p["candidate"], p["outsider"]):
        for method, path in (
            ("GET", f"{base}/scorecards"),
            ("GET", f"{base}/scorecards/me"),
            ("PUT", f"{base}/scorecards/me"),
            ("POST", f"{base}/scorecards/me/submit"),
        ):
            body_json = FULL if method == "PUT" else None
            answer = await client.request(method, path, json=body_json, headers=who["headers"])
            assert answer.status_code == 404, (method, path, answer.text)


async def test_two_interviewers_submit_at_once(client: httpx.AsyncClient) -> None:
    p = await panel(client)
    base, host, ivo = p["base"], p["host"], p["interviewer"]
    await client.put(f"{base}/scorecards/me", json=FULL, headers=ivo["headers"])
    other = {**FULL, "ratings": {**RATINGS, "testing": 4}, "recommendation": "strong_yes"}
    await client.put(f"{base}/scorecards/me", json=other, headers=host["headers"])
    answers = await asyncio.gather(
        client.post(f"{base}/scorecards/me/submit", headers=ivo["headers"]),
        client.post(f"{base}/scorecards/me/submit", headers=host["headers"]),
    )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    listed = (await client.get(f"{base}/scorecards", headers=host["headers"])).json()
    assert len(listed["scorecards"]) == 2
    assert listed["summary"]["criteria"]["testing"] == {"mean": 3.0, "count": 2}
    assert listed["summary"]["recommendations"]["strong_yes"] == 1
    assert listed["summary"]["recommendations"]["yes"] == 1


async def test_criteria_are_locked_after_the_first_submit(client: httpx.AsyncClient) -> None:
    p = await panel(client)
    base, host, ivo = p["base"], p["host"], p["interviewer"]
    for bad in (["a", "a"], [], [f"c{i}" for i in range(11)], ["Not Valid"]):
        refused = await client.patch(base, json={"criteria": bad}, headers=host["headers"])
        assert refused.status_code == 400, bad
    assert (
        await client.patch(base, json={"criteria": ["algorithms"]}, headers=ivo["headers"])
    ).status_code == 403
    changed = await client.patch(
        base, json={"criteria": ["algorithms", "communication"]}, headers=host["headers"]
    )
    assert changed.status_code == 200
    mine = await client.get(f"{base}/scorecards/me", headers=ivo["headers"])
    assert mine.json()["criteria"] == ["algorithms", "communication"]
    old = await client.put(f"{base}/scorecards/me", json=FULL, headers=ivo["headers"])
    assert old.status_code == 400 and old.json()["error"] == "unknown_criteria"
    card = {"ratings": {"algorithms": 3, "communication": 4}, "recommendation": "no"}
    await client.put(f"{base}/scorecards/me", json=card, headers=ivo["headers"])
    assert (
        await client.post(f"{base}/scorecards/me/submit", headers=ivo["headers"])
    ).status_code == 200
    locked = await client.patch(base, json={"criteria": ["algorithms"]}, headers=host["headers"])
    assert locked.status_code == 409 and locked.json()["error"] == "criteria_locked"


async def test_the_event_log_of_a_scripted_session(
    client: httpx.AsyncClient, settings: Settings, runner_worker: subprocess.Popen[bytes]
) -> None:
    p = await panel(client)
    base, host, ivo = p["base"], p["host"], p["interviewer"]
    walk_in = await register(client)
    assert (await act(client, walk_in, p["session"], "join")).status_code == 200
    assert (await act(client, host, p["session"], "start")).status_code == 200
    secret = "private observation 7f3a"
    await client.post(f"{base}/notes", json={"body": secret}, headers=host["headers"])
    await client.post(
        f"{base}/notes", json={"body": "shared", "visibility": "panel"}, headers=ivo["headers"]
    )
    run = await client.post(
        f"{base}/runs",
        json={"language": "python", "source": "print(6 * 7)"},
        headers=p["candidate"]["headers"],
    )
    assert run.status_code in (201, 202), run.text
    run_id = run.json()["run"]["_id"]

    async def finished() -> bool:
        got = await client.get(f"{base}/runs/{run_id}", headers=host["headers"])
        return got.json()["run"]["status"] in ("completed", "failed")

    await wait_until(finished, timeout=60)

    async def logged() -> bool:
        page = await client.get(f"{base}/events", params={"limit": 500}, headers=host["headers"])
        return "run.completed" in page.text

    # The runner writes run.completed with the run; announce_run (or the beat) moves it here.
    async with open_clients(settings) as clients:
        await wait_until(lambda: flush_then(clients, logged), timeout=30)
    assert (await act(client, host, p["session"], "end")).status_code == 200

    events: list[dict[str, Any]] = []
    cursor = None
    while True:  # small pages: the cursor is exercised
        params: dict[str, Any] = {"limit": 3, **({"after": cursor} if cursor else {})}
        page = await client.get(f"{base}/events", params=params, headers=ivo["headers"])
        assert page.status_code == 200, page.text
        events += page.json()["events"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    types = [e["type"] for e in events]
    expected = [
        "created",
        "scheduled",
        "invitation.sent",
        "invitation.accepted",
        "member.joined",
        "invitation.sent",
        "invitation.accepted",
        "member.joined",
        "member.joined",
        "started",
        "note.created",
        "note.created",
        "run.started",
        "run.completed",
        "completed",
    ]
    assert types[: len(expected)] == expected, types
    assert set(types[len(expected) :]) <= {"record.ready"}
    # As times, not strings: one on a whole second is written without a fraction.
    times = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in events]
    assert times == sorted(times)
    assert secret not in json.dumps(events)
    notes = [e for e in events if e["type"] == "note.created"]
    assert {n["data"]["visibility"] for n in notes} == {"private", "panel"}
    assert events[0]["actorId"] == host["user"]["_id"]
    bad = await client.get(f"{base}/events", params={"after": "nope"}, headers=host["headers"])
    assert bad.status_code == 400
    for who in (p["candidate"], p["outsider"]):
        assert (await client.get(f"{base}/events", headers=who["headers"])).status_code == 404


async def flush_then(clients: Any, check: Any) -> bool:
    await flush_session_events(clients)
    return bool(await check())


async def test_a_change_never_exists_without_its_event(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The process dies right after the write (here: the change is made the way the service
    makes it, and the step after it, moving the event to the log, never runs): the event was
    written by the same update, and the flush job moves it."""
    p = await panel(client)
    sid = ObjectId(p["session"]["_id"])
    async with open_clients(settings) as clients:
        event = session_event("updated", None, fields=["title"])
        changed = await update_session_document(
            clients, {"_id": sid}, {"$set": {"title": "Renamed by a dying process"}}, [event]
        )
        assert changed is not None and changed.title == "Renamed by a dying process"
        log = clients.engine.get_collection(SessionEventRecord)
        key = f"{sid}:{event.id}"
        assert await log.find_one({"_id": key}) is None  # not in the log yet...
        doc = await clients.engine.get_collection(Session).find_one({"_id": sid})
        assert doc is not None and doc["eventsPending"] is True
        assert event.id in [e["id"] for e in doc["outboxEvents"]]  # ...but kept with the change
        counts = await flush_session_events(clients)
        assert counts["events"] >= 1
        stored = await log.find_one({"_id": key})
        assert stored is not None and stored["type"] == "updated"
        doc = await clients.engine.get_collection(Session).find_one({"_id": sid})
        assert doc is not None and doc["outboxEvents"] == [] and doc["eventsPending"] is False
        again = await flush_session_events(clients)  # nothing left, nothing doubled
        assert await log.count_documents({"_id": key}) == 1 and again["events"] == 0
    page = await client.get(f"{p['base']}/events", headers=p["host"]["headers"])
    assert "updated" in [e["type"] for e in page.json()["events"]]


async def test_the_record_of_a_session_whose_chat_was_archived(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    p = await panel(client)
    base, host, ivo, cara = p["base"], p["host"], p["interviewer"], p["candidate"]
    session = p["session"]
    assert (await act(client, host, session, "start")).status_code == 200
    said = [f"message {i} <b>not html</b>" for i in range(7)]
    for i, text in enumerate(said):
        who = cara if i % 2 else host
        assert (await save(client, who, session, text)).status_code == 201
    await client.post(f"{base}/notes", json={"body": "Host private"}, headers=host["headers"])
    await client.post(
        f"{base}/notes", json={"body": "Ivo panel", "visibility": "panel"}, headers=ivo["headers"]
    )
    await client.put(f"{base}/scorecards/me", json=FULL, headers=ivo["headers"])
    await client.post(f"{base}/scorecards/me/submit", headers=ivo["headers"])
    assert (await act(client, host, session, "end")).status_code == 200
    async with open_clients(settings) as clients:
        counts = await archive_finished_sessions(
            clients.engine,
            clients.redis,
            clients.locks,
            clients.stream,
            after_days=0,
            chunk_size=3,  # several chunks, and a partial last one
            now=datetime.now(UTC) + timedelta(minutes=1),
        )
        assert counts["archived"] >= len(said)
        doc = await clients.engine.get_collection(Session).find_one(
            {"_id": ObjectId(session["_id"])}
        )
        assert doc is not None and doc["archivedAt"] is not None

    # The host: blind (no own scorecard), sees their private note and the panel note.
    record = await client.get(f"{base}/record", headers=host["headers"])
    assert record.status_code == 200, record.text
    body = record.json()
    assert [m["text"] for m in body["transcript"]] == said
    assert body["session"]["status"] == "completed"
    roles = {p_["name"]: p_["sessionRole"] for p_ in body["session"]["participantsInfo"]}
    assert roles == {"Ivo Interviewer": "interviewer", "Cara Candidate": "candidate"}
    assert sorted(n["body"] for n in body["notes"]) == ["Host private", "Ivo panel"]
    assert body["scorecards"] == {"visible": False, "scorecards": [], "summary": None}
    types = [e["type"] for e in body["events"]]
    assert types[0] == "created" and "completed" in types and "scorecard.submitted" in types
    # The interviewer: submitted, so the scores show; not the host's private note.
    theirs = (await client.get(f"{base}/record", headers=ivo["headers"])).json()
    assert [n["body"] for n in theirs["notes"]] == ["Ivo panel"]
    assert theirs["scorecards"]["visible"] is True
    assert theirs["scorecards"]["summary"]["criteria"]["problem_solving"]["mean"] == 4.0
    for who in (cara, p["outsider"]):
        for path in (f"{base}/record", f"{base}/record.html"):
            assert (await client.get(path, headers=who["headers"])).status_code == 404

    # The page, as a real browser renders it (served with our headers).
    page = await client.get(f"{base}/record.html", headers=ivo["headers"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<b>not html</b>" not in page.text and "&lt;b&gt;" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")
    async with Chromium(tmp_path / "chromium") as browser:
        await browser.open(f"{str(client.base_url).rstrip('/')}{base}/record.html", ivo["headers"])
        text = await browser.evaluate("document.body.innerText")
        assert "Evaluated interview" in text
        assert all(line in text for line in said)
        assert "Ivo panel" in text and "Host private" not in text
        bars = await browser.evaluate(
            "[...document.querySelectorAll('#score-chart rect.score')]"
            ".map(r => [r.closest('g').dataset.criterion, r.getBoundingClientRect().width])"
        )
        widths = dict(bars)
        assert set(widths) == {"problem_solving", "code_quality", "communication", "testing"}
        # Drawn to scale: 4 of 4 is the full bar, 2 of 4 half of it.
        assert widths["problem_solving"] > 0
        assert abs(widths["testing"] * 2 - widths["problem_solving"]) <= 2
        await browser.screenshot(ROOT / "var" / "test-logs" / "record-page.png")


async def test_account_deletion_leaves_the_log_without_its_actor(
    client: httpx.AsyncClient,
) -> None:
    p = await panel(client)
    base, host, ivo = p["base"], p["host"], p["interviewer"]
    await client.post(
        f"{base}/notes", json={"body": "by Ivo", "visibility": "panel"}, headers=ivo["headers"]
    )
    await client.put(f"{base}/scorecards/me", json=FULL, headers=ivo["headers"])
    await client.post(f"{base}/scorecards/me/submit", headers=ivo["headers"])
    ivo_id = ivo["user"]["_id"]
    gone = await client.request(
        "DELETE", "/api/auth/me", json={"password": ivo["password"]}, headers=ivo["headers"]
    )
    assert gone.status_code == 204
    events = (
        await client.get(f"{base}/events", params={"limit": 500}, headers=host["headers"])
    ).json()["events"]
    assert ivo_id not in [e["actorId"] for e in events]
    accepted = [
        e
        for e in events
        if e["type"] == "invitation.accepted" and e["data"]["role"] == "interviewer"
    ]
    assert accepted and accepted[0]["actorId"] is None
    assert "member.removed" in [e["type"] for e in events]
    # Their notes go with them; their submitted scorecard stays, anonymous, as evidence.
    notes = (await client.get(f"{base}/notes", headers=host["headers"])).json()["notes"]
    assert "by Ivo" not in [n["body"] for n in notes]
    await client.put(f"{base}/scorecards/me", json=FULL, headers=host["headers"])
    await client.post(f"{base}/scorecards/me/submit", headers=host["headers"])
    cards = (await client.get(f"{base}/scorecards", headers=host["headers"])).json()["scorecards"]
    assert sorted(str(c["authorId"]) for c in cards) == sorted(["None", host["user"]["_id"]])
