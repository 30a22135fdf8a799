"""Seeding for the benchmarks: users, sessions and messages written through the project's own
documents (ODMantic models, the password hasher), in bulk."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient

from bench.procs import Stack
from config import load_settings
from tq.chat.models import ChatMessage
from tq.core.security import PasswordHasher
from tq.sessions.models import Session, Status, channel_id_for
from tq.users.models import User

PASSWORD = "bench-password-123"
# The status mix of a mature deployment, in percent.
STATUS_MIX: dict[Status, int] = {"completed": 70, "active": 10, "scheduled": 15, "cancelled": 5}
STATUSES: list[Status] = [status for status, share in STATUS_MIX.items() for _ in range(share)]


class Seeder:
    """Bulk inserts of the project's own documents (ODMantic models → model_dump_doc)."""

    def __init__(self, stack: Stack) -> None:
        self.client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
            stack.env["MONGODB_URI"], tz_aware=True
        )
        self.db = self.client.get_default_database()
        self.user_ids: list[ObjectId] = []
        self.sessions = 0
        self.rng = random.Random(7)

    async def users(self, count: int) -> None:
        settings = load_settings(_env_file=None, jwt_secret="x" * 40)
        hasher = PasswordHasher(settings)
        shared_hash = await hasher.hash(PASSWORD)  # one real argon2id hash, shared
        hasher.close()
        docs = []
        for i in range(count):
            oid = ObjectId()
            user = User(
                id=oid,
                email=f"seed{i}-{oid}@bench.example",
                password=shared_hash,
                name=f"Seed User {i}",
                role="candidate" if i % 3 else "interviewer",
                stream_id=str(oid),
                stream_sync="ok",
            )
            docs.append(user.model_dump_doc())
            self.user_ids.append(oid)
        await self.db.users.insert_many(docs)

    async def sessions_up_to(self, total: int, member: ObjectId, share: float) -> None:
        """Add sessions until there are `total`; `member` is in about `share` of them."""
        now = datetime.now(UTC)
        while self.sessions < total:
            batch = []
            for _ in range(min(1000, total - self.sessions)):
                self.sessions += 1
                oid = ObjectId()
                host = self.rng.choice(self.user_ids)
                guest = self.rng.choice(self.user_ids)
                if self.rng.random() < share:
                    host, guest = (member, guest) if self.rng.random() < 0.5 else (host, member)
                status = self.rng.choice(STATUSES)
                start = now - timedelta(minutes=self.rng.randint(0, 60 * 24 * 90))
                session = Session(
                    id=oid,
                    title=f"Seeded interview {self.sessions}",
                    problem="Two Sum",
                    difficulty=self.rng.choice(["easy", "medium", "hard"]),
                    created_by=host,
                    participants=[guest],
                    members=[host, guest],
                    max_participants=1,
                    seats_left=0,
                    status=status,
                    stream_channel_id=channel_id_for(oid),
                    stream_sync="ok",
                    start_time=start,
                    end_time=start + timedelta(minutes=45) if status == "completed" else None,
                    duration=45 if status == "completed" else None,
                    created_at=start,
                    updated_at=start,
                )
                batch.append(session.model_dump_doc())
            await self.db.sessions.insert_many(batch)

    async def messages(self, session_id: ObjectId, user_id: ObjectId, count: int) -> None:
        start = datetime.now(UTC) - timedelta(days=1)
        for offset in range(0, count, 2000):
            batch = []
            for i in range(offset, min(count, offset + 2000)):
                oid = ObjectId()
                message = ChatMessage(
                    id=oid,
                    session_id=session_id,
                    key=f"tq-{oid}",
                    user_id=user_id,
                    stream_user_id=str(user_id),
                    text=f"message number {i} " + "x" * 40,
                    created_at=start + timedelta(milliseconds=i * 10),
                )
                batch.append(message.model_dump_doc())
            await self.db.chat_messages.insert_many(batch)

    async def explain(self, member: ObjectId, session_id: ObjectId) -> dict[str, Any]:
        queries = {
            "list (members, -createdAt)": (
                self.db.sessions,
                {"members": member},
                [("createdAt", -1), ("_id", -1)],
            ),
            "my-recent (members+status)": (
                self.db.sessions,
                {"members": member, "status": "completed"},
                [("createdAt", -1), ("_id", -1)],
            ),
            "active (status, -createdAt)": (
                self.db.sessions,
                {"status": "active"},
                [("createdAt", -1), ("_id", -1)],
            ),
            "history (sessionId, createdAt)": (
                self.db.chat_messages,
                {"sessionId": session_id},
                [("createdAt", -1), ("_id", -1)],
            ),
        }
        plans = {}
        for name, (collection, filter_, sort) in queries.items():
            plan = await collection.find(filter_).sort(sort).limit(20).explain()
            planner = plan.get("queryPlanner", {})
            plans[name] = planner.get("winningPlan") or planner.get("Plan") or planner
        return plans


def completed_sessions(count: int) -> list[Session]:
    """`count` completed sessions that ended an hour ago, nobody in them: a backlog for the
    jobs that work through completed sessions (bench-beat, and the beat test)."""
    now = datetime.now(UTC)
    return [
        Session(
            title=f"Backlog {index}",
            created_by=ObjectId(),
            members=[],
            participants=[],
            status="completed",
            stream_channel_id=f"backlog-{ObjectId()}",
            start_time=now - timedelta(hours=2),
            end_time=now - timedelta(hours=1),
            created_at=now,
            updated_at=now,
        )
        for index in range(count)
    ]
