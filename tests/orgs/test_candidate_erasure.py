"""Deleting a candidate's data from an organization: afterwards nothing readable through the
API, and nothing stored in MongoDB (on a database of its own, every collection read whole),
holds their email or name; notes and scorecards keep their authors; the audit log says what
went, without the address."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from bson import ObjectId

from config import Settings
from tests.evaluation.test_evaluation import RATINGS
from tests.orgs.test_orgs import new_org
from tests.support import app_on_own_database, open_clients, register, save
from tq.chat.archive import archive_session
from tq.chat.models import ChatArchiveChunk
from tq.chat.store import chunk_docs
from tq.core.time import Deadline
from tq.integrations.service import pump
from tq.orgs.models import Organization
from tq.sessions import store
from tq.users.models import User


async def invite_and_accept(
    http: httpx.AsyncClient, host: dict[str, Any], sid: str, person: dict[str, Any], name: str
) -> None:
    invited = await http.post(
        f"/api/sessions/{sid}/invitations",
        json={"email": person["user"]["email"], "role": "candidate", "name": name},
        headers=host["headers"],
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["inviteUrl"].rsplit("/", 1)[1]
    accepted = await http.post(f"/api/invitations/{token}/accept", headers=person["headers"])
    assert accepted.status_code == 200, accepted.text


async def everything_stored(engine: Any, skip: dict[str, set[Any]]) -> dict[str, str]:
    """Every document of every collection, as text, but the person's own account."""
    database = engine.database
    stored: dict[str, str] = {}
    for name in await database.list_collection_names():
        async for doc in database[name].find({}):
            if doc["_id"] in skip.get(name, set()):
                continue
            text = str(doc)
            if name == ChatArchiveChunk.model_config["collection"]:
                # compressed: what it holds is read through
                text += str(chunk_docs(ChatArchiveChunk.model_validate_doc(doc)))
            stored[f"{name}/{doc['_id']}"] = text
    return stored


async def test_nothing_of_the_candidate_is_left(settings: Settings) -> None:
    async with app_on_own_database(settings, "erasure") as env:
        http, engine = env["http"], env["engine"]
        tag = uuid.uuid4().hex[:8]
        name = f"Zoltan Quimby{tag}"
        owner = await register(http, role="interviewer", name="Hana Host")
        candidate = await register(
            http, role="candidate", name=name, email=f"zoltan.{tag}@example.com"
        )
        email = candidate["user"]["email"]
        org = await new_org(http, owner, name="Erasing Org")
        endpoint = await http.post(
            "/api/webhooks/endpoints",
            json={
                "url": "http://127.0.0.1:9/hooks",
                "events": ["member.joined", "session.created"],
            },
            headers=owner["headers"],
        )
        assert endpoint.status_code == 201, endpoint.text

        sids = []
        for title in ("Archived one", "Open one"):
            made = await http.post(
                f"/api/orgs/{org['_id']}/sessions", json={"title": title}, headers=owner["headers"]
            )
            sid = made.json()["session"]["_id"]
            sids.append(sid)
            await invite_and_accept(http, owner, sid, candidate, name)
            session = {"_id": sid}
            assert (await save(http, candidate, session, f"Hi, I am {name}")).status_code == 201
            said = await save(http, owner, session, f"Welcome {name} ({email})")
            assert said.status_code == 201
            run = await http.post(
                f"/api/sessions/{sid}/runs",
                json={"language": "python", "source": f"print('{name}')"},
                headers=candidate["headers"],
            )
            assert run.status_code in (202, 503), run.text
            note = await http.post(
                f"/api/sessions/{sid}/notes",
                json={
                    "body": f"{name} <{email}> explained the approach well",
                    "visibility": "panel",
                },
                headers=owner["headers"],
            )
            assert note.status_code == 201
            card = {"ratings": RATINGS, "recommendation": "yes", "summary": f"{name} did well"}
            saved = await http.put(
                f"/api/sessions/{sid}/scorecards/me", json=card, headers=owner["headers"]
            )
            assert saved.status_code == 200, saved.text
        # The first session ends and its chat goes to the archive.
        assert (
            await http.post(f"/api/sessions/{sids[0]}/end", headers=owner["headers"])
        ).is_success
        async with open_clients(env["settings"]) as clients:
            await pump(clients, Deadline(30))
            ended = await store.find(engine, ObjectId(sids[0]))
            assert ended is not None
            await archive_session(
                engine, clients.redis, clients.locks, clients.stream, ended, chunk_size=2
            )
        assert await engine.get_collection(ChatArchiveChunk).count_documents({}) >= 1

        account = candidate["user"]["_id"]
        own = {"users": {ObjectId(account)}}
        before = await everything_stored(engine, own)
        assert sum(name in text or email in text for text in before.values()) >= 10

        # Only owners and admins may; the person's address is the query.
        refused = await http.delete(
            f"/api/orgs/{org['_id']}/candidates",
            params={"email": email},
            headers=candidate["headers"],
        )
        assert refused.status_code == 404
        erased = await http.delete(
            f"/api/orgs/{org['_id']}/candidates",
            params={"email": email.upper()},
            headers=owner["headers"],
        )
        assert erased.status_code == 200, erased.text
        report = erased.json()
        assert report["sessions"] == 2
        assert report["removed"]["invitations"] == 2 and report["removed"]["memberships"] == 2
        assert report["removed"]["chat_messages"] >= 1
        assert report["removed"]["notes_scrubbed"] == 2

        after = await everything_stored(engine, own)
        leaks = [where for where, text in after.items() if name in text or email in text]
        assert leaks == []
        # The notes and scorecards stay, with their author.
        for sid in sids:
            notes = await http.get(f"/api/sessions/{sid}/notes", headers=owner["headers"])
            [kept] = notes.json()["notes"]
            assert kept["authorId"] == owner["user"]["_id"]
            assert kept["body"] == "[removed] <[removed]> explained the approach well"
        # Nothing the API shows holds them either.
        for sid in sids:
            for path in (
                "",
                "/record",
                "/record.html",
                "/events?limit=500",
                "/notes",
                "/invitations",
                "/runs",
            ):
                shown = await http.get(f"/api/sessions/{sid}{path}", headers=owner["headers"])
                assert shown.status_code == 200, (path, shown.text)
                assert name not in shown.text and email not in shown.text, path
            history = await http.get(f"/api/chat/history/{sid}", headers=owner["headers"])
            assert name not in history.text and email not in history.text
        # The candidate is no longer in those sessions.
        still_open = await http.get(f"/api/sessions/{sids[1]}", headers=owner["headers"])
        assert still_open.json()["session"]["participants"] == []
        assert still_open.json()["session"]["seatsLeft"] == 1  # the seat is free again
        # The audit log says what went, and keeps a digest, not the address.
        audit = await http.get(
            f"/api/orgs/{org['_id']}/audit",
            params={"type": "candidate.deleted"},
            headers=owner["headers"],
        )
        [entry] = audit.json()["entries"]
        assert entry["data"]["sessions"] == 2 and entry["data"]["removed"] == report["removed"]
        assert email not in audit.text and len(entry["data"]["emailSha256"]) == 64
        # Their own account stays theirs.
        assert await engine.get_collection(User).count_documents({"email": email}) == 1
        assert await engine.get_collection(Organization).count_documents({}) >= 1
