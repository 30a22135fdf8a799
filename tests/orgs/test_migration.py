"""The migration into personal organizations, on a database of its own: killed midway (a
real process, SIGKILL), run again to the end, then run once more from the start: every
account ends with exactly one personal organization holding its sessions and endpoints, and
the repeated runs change nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

from bson import ObjectId

from config import Settings
from tests.support import ROOT, app_on_own_database, open_clients, settings_env
from tq.core.time import Deadline, utcnow
from tq.integrations.models import WebhookEndpoint
from tq.orgs.models import AuditRecord, Organization, OrgMigration
from tq.orgs.service import MIGRATION, migrate_to_personal_orgs
from tq.sessions.models import Session
from tq.users.models import User

ACCOUNTS = 240

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from config import load_settings
    from tests.support import open_clients
    from tq.core.time import Deadline
    from tq.orgs.service import migrate_to_personal_orgs

    async def main():
        async with open_clients(load_settings()) as clients:
            print(await migrate_to_personal_orgs(clients, Deadline(600)))

    asyncio.run(main())
    """
)


async def seed(engine: Any) -> list[ObjectId]:
    """Accounts as they were before organizations: sessions and endpoints with no orgId."""
    users, sessions, endpoints = [], [], []
    now = utcnow()
    for i in range(ACCOUNTS):
        uid = ObjectId()
        users.append(
            User(
                id=uid,
                email=f"legacy-{i}-{uid}@example.com",
                password="x",
                name=f"Legacy {i}",
                role="interviewer",
                stream_id=f"legacy-{uid}",
            ).model_dump_doc()
        )
        sid = ObjectId()
        session = Session(
            id=sid,
            title=f"Old {i}",
            created_by=uid,
            members=[uid],
            status="completed",
            stream_channel_id=f"session-{sid}",
            start_time=now,
        ).model_dump_doc()
        del session["orgId"]  # written before the field existed
        sessions.append(session)
        if i % 3 == 0:
            endpoint = WebhookEndpoint(
                owner_id=uid, url="https://example.com/hook", events=["session.created"]
            ).model_dump_doc()
            del endpoint["orgId"]
            endpoints.append(endpoint)
    await engine.get_collection(User).insert_many(users)
    await engine.get_collection(Session).insert_many(sessions)
    await engine.get_collection(WebhookEndpoint).insert_many(endpoints)
    return [u["_id"] for u in users]


async def snapshot(engine: Any) -> dict[str, Any]:
    async def docs(model: Any) -> list[dict[str, Any]]:
        return await engine.get_collection(model).find({}).sort("_id", 1).to_list(None)

    return {
        "orgs": await docs(Organization),
        "audit": await docs(AuditRecord),
        "sessions": await docs(Session),
        "endpoints": await docs(WebhookEndpoint),
    }


async def test_migration_killed_midway_then_run_twice(settings: Settings) -> None:
    async with app_on_own_database(settings, "orgmigration") as env:
        engine, mine = env["engine"], env["settings"]
        ids = await seed(engine)
        # A real process, saving how far it got every 20 accounts, killed once it has started.
        process_env = settings_env(mine) | {"JOB_BATCH_SIZE": "20"}
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, env=process_env, start_new_session=True
        )
        states = engine.get_collection(OrgMigration)
        deadline = time.monotonic() + 60
        while not await states.find_one({"_id": MIGRATION, "after": {"$ne": None}}):
            assert proc.poll() is None and time.monotonic() < deadline, "never got going"
            await asyncio.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        orgs = engine.get_collection(Organization)
        halfway = await orgs.count_documents({})
        assert 20 <= halfway < ACCOUNTS, halfway
        state = await states.find_one({"_id": MIGRATION})
        assert state is not None and state["finishedAt"] is None

        # Run again: it goes on from where it was, to the end.
        async with open_clients(mine) as clients:
            second = await migrate_to_personal_orgs(clients, Deadline(600))
        assert second["stopped_at_budget"] == 0
        assert second["accounts"] < ACCOUNTS  # it did not start over
        after_two = await snapshot(engine)
        assert [o["_id"] for o in after_two["orgs"]] == sorted(ids)
        for org in after_two["orgs"]:
            assert org["personal"] and org["memberIds"] == [org["_id"]]
            assert [m["role"] for m in org["members"]] == ["owner"]
            assert org["outboxAudit"] == []
        # One creation entry per organization, however often it was attempted.
        created = [a["orgId"] for a in after_two["audit"] if a["type"] == "org.created"]
        assert sorted(created) == sorted(ids)
        assert all(s["orgId"] == s["createdBy"] for s in after_two["sessions"])
        assert all(e["orgId"] == e["ownerId"] for e in after_two["endpoints"])

        # And once more from the very start: nothing changes.
        await states.delete_one({"_id": MIGRATION})
        async with open_clients(mine) as clients:
            third = await migrate_to_personal_orgs(clients, Deadline(600))
        assert third == {"accounts": ACCOUNTS, "created": 0, "stopped_at_budget": 0}
        again = await snapshot(engine)
        for name in ("orgs", "audit", "sessions", "endpoints"):
            assert again[name] == after_two[name], name


async def test_migration_stops_at_its_budget_and_goes_on(settings: Settings) -> None:
    async with app_on_own_database(settings, "orgbudget") as env:
        engine, mine = env["engine"], env["settings"]
        ids = await seed(engine)
        async with open_clients(mine) as clients:
            first = await migrate_to_personal_orgs(clients, Deadline(0.3))
            assert first["stopped_at_budget"] == 1 and first["accounts"] < ACCOUNTS
            second = await migrate_to_personal_orgs(clients, Deadline(600))
        assert first["accounts"] + second["accounts"] >= ACCOUNTS
        assert await engine.get_collection(Organization).count_documents({}) == len(ids)
