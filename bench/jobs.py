"""`make bench-jobs`: the two bulk jobs at the scale the jobs issue names, through the very
functions the Celery tasks call, on the same kind of servers as `make bench`.

- expire_sessions over BENCH_SESSIONS (default 100,000) sessions of which about a fifth are due:
  wall time, and the end state checked against what the seed says should happen.
- archive_chat_history on one session with BENCH_MESSAGES (default 100,000) messages and on one
  with a tenth of that: wall time and peak Python memory (tracemalloc) of each. Memory bounded
  by the chunk means both peaks are about the same; memory that grew with the session would
  show as a tenfold difference.

Writes bench/results/<date>-jobs.json and .md.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from bench.procs import Stack, log
from bench.report import jobs_table, machine, save, today
from bench.seed import Seeder
from config import load_settings
from tq.app import DOCUMENT_MODELS
from tq.chat.archive import archive_session
from tq.chat.models import ChatArchiveChunk, ChatMessage
from tq.core.celery import create_celery
from tq.core.db import create_engine, ensure_indexes
from tq.core.locks import WriteLocks
from tq.core.queue import JobQueue
from tq.core.redis import create_redis
from tq.core.stream import StreamGateway
from tq.jobs.registry import SYNC_SESSION_CHANNEL, TASK_ROUTES
from tq.sessions.models import Session, Status, channel_id_for
from tq.sessions.store import close_overdue

ENGINE_NAMES = {
    "secantus": "embedded SecantusDB 0.7.0b3 (WiredTiger)",
    "ferretdb": "embedded FerretDB v1.24.2 / SQLite (scripts/ferretdb-patches applied)",
}
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "100000"))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "100000"))
GRACE, MAX_MINUTES = 15, 240
DURATIONS = [None, 30, 45, 60, 90, 120]


def seeded_session(rng: random.Random, now: datetime, host: ObjectId) -> tuple[Session, str]:
    """One session of a realistic mix, and what expire_sessions must make of it."""
    oid = ObjectId()
    roll = rng.random()
    participants: list[ObjectId] = []
    duration = None
    end = None
    status: Status
    if roll < 0.55:
        status, start = "completed", now - timedelta(minutes=rng.randint(60, 60 * 24 * 90))
        duration, end = 45, start + timedelta(minutes=45)
    elif roll < 0.65:
        status, start = "cancelled", now - timedelta(minutes=rng.randint(60, 60 * 24 * 90))
        end = start
    elif roll < 0.80:
        status, start = "scheduled", now + timedelta(minutes=rng.randint(-600, 600))
        participants = [ObjectId()] if rng.random() < 0.5 else []
    else:
        status, start = "active", now - timedelta(minutes=rng.randint(0, 600))
        participants = [ObjectId()]
        duration = rng.choice(DURATIONS)
    expected = status
    if status == "scheduled" and not participants and start < now - timedelta(minutes=GRACE):
        expected = "cancelled"
    deadline = timedelta(minutes=(duration or MAX_MINUTES) + GRACE)
    if status == "active" and now > start + deadline:
        expected = "completed"
    session = Session(
        id=oid,
        title=f"Seeded interview {oid}",
        problem="Two Sum",
        difficulty="medium",
        created_by=host,
        participants=participants,
        members=[host, *participants],
        max_participants=1,
        seats_left=1 - len(participants),
        status=status,
        stream_channel_id=channel_id_for(oid),
        stream_sync="ok",
        start_time=start,
        end_time=end,
        duration=duration,
        created_at=start - timedelta(days=1),
        updated_at=start - timedelta(days=1),
    )
    return session, expected


async def bench_expiry(settings: Any, engine: Any, redis: Any) -> dict[str, Any]:
    rng = random.Random(11)
    now = datetime.now(UTC).replace(microsecond=0)
    host = ObjectId()
    expected: dict[str, int] = {}
    sessions = engine.get_collection(Session)
    started = time.perf_counter()
    for offset in range(0, SESSIONS, 5000):
        batch = []
        for _ in range(min(5000, SESSIONS - offset)):
            session, outcome = seeded_session(rng, now, host)
            expected[outcome] = expected.get(outcome, 0) + 1
            batch.append(session.model_dump_doc())
        await sessions.insert_many(batch, ordered=False)
    seeded_s = time.perf_counter() - started
    before = {s: await sessions.count_documents({"status": s}) for s in expected}
    log(f"seeded {SESSIONS} sessions in {seeded_s:.1f} s: {before}")

    started = time.perf_counter()
    locks = WriteLocks(redis, settings.document_locks)
    counts, to_sync = await close_overdue(
        engine, locks, grace_minutes=GRACE, max_session_minutes=MAX_MINUTES, now=now
    )
    first_s = time.perf_counter() - started
    log(f"expire_sessions: {counts} in {first_s:.1f} s")
    # The job then queues one sync_session_channel per closed session (run records + broker).
    celery = create_celery(settings, routes=TASK_ROUTES)
    started = time.perf_counter()
    taken = await JobQueue(celery, engine).enqueue_many(
        SYNC_SESSION_CHANNEL, [[str(sid)] for sid in to_sync]
    )
    fan_out_s = time.perf_counter() - started
    celery.close()
    log(f"queued {taken} of {len(to_sync)} channel syncs in {fan_out_s:.1f} s")
    started = time.perf_counter()
    again, _ = await close_overdue(
        engine, locks, grace_minutes=GRACE, max_session_minutes=MAX_MINUTES, now=now
    )
    second_s = time.perf_counter() - started
    after = {s: await sessions.count_documents({"status": s}) for s in expected}
    correct = (
        after == expected
        and counts["cancelled"] == expected["cancelled"] - before["cancelled"]
        and counts["completed"] == expected["completed"] - before["completed"]
        and len(to_sync) == taken == counts["cancelled"] + counts["completed"]
        and again == {"cancelled": 0, "completed": 0}
    )
    log(f"re-run: {again} in {second_s:.1f} s; end state {'as seeded' if correct else after}")
    return {
        "sessions": SESSIONS,
        "seed_s": round(seeded_s, 1),
        "status_before": before,
        "changed": counts,
        "seconds": round(first_s, 2),
        "fan_out_queued": taken,
        "fan_out_seconds": round(fan_out_s, 2),
        "rerun_changed": again,
        "rerun_seconds": round(second_s, 2),
        "status_after": after,
        "expected_after": expected,
        "correct": correct,
    }


async def bench_archive(
    engine: Any, redis: Any, locks: WriteLocks, seeder: Seeder, count: int, chunk_size: int
) -> dict[str, Any]:
    user = ObjectId()
    oid = ObjectId()
    ended = datetime.now(UTC) - timedelta(days=30)
    session = Session(
        id=oid,
        title=f"{count} messages",
        created_by=user,
        members=[user],
        status="completed",
        stream_channel_id=channel_id_for(oid),
        stream_sync="ok",
        start_time=ended - timedelta(hours=1),
        end_time=ended,
    )
    await engine.save(session)
    started = time.perf_counter()
    await seeder.messages(oid, user, count)
    log(f"seeded {count} messages in {time.perf_counter() - started:.1f} s")
    stream = StreamGateway(load_settings(_env_file=None, stream_api_key="", stream_api_secret=""))

    tracemalloc.start()
    started = time.perf_counter()
    counts = await archive_session(engine, redis, locks, stream, session, chunk_size)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await stream.close()

    hot = await engine.get_collection(ChatMessage).count_documents({"sessionId": oid})
    archived = 0
    async for chunk in engine.get_collection(ChatArchiveChunk).find(
        {"sessionId": oid}, {"count": 1}
    ):
        archived += chunk["count"]
    correct = hot == 0 and archived == count == counts["archived"]
    log(f"archived {count} messages: {counts} in {seconds:.1f} s, peak {peak / 2**20:.1f} MiB")
    return {
        "messages": count,
        "chunk_size": chunk_size,
        "counts": counts,
        "seconds": round(seconds, 2),
        "peak_traced_mib": round(peak / 2**20, 2),
        "hot_left": hot,
        "archived_in_chunks": archived,
        "correct": correct,
    }


async def main() -> None:
    stack = Stack()
    settings = stack.settings()
    engine = create_engine(settings, socket_timeout_ms=600_000)
    redis = create_redis(settings)
    try:
        await ensure_indexes(engine, DOCUMENT_MODELS)
        report: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "database": "MongoDB at BENCH_MONGODB_URL"
            if os.environ.get("BENCH_MONGODB_URL")
            else ENGINE_NAMES[stack.engine],
        }
        locks = WriteLocks(redis, settings.document_locks)
        report["expire_sessions"] = await bench_expiry(settings, engine, redis)
        seeder = Seeder(stack)
        chunk = settings.chat_archive_chunk_size
        report["archive"] = [
            await bench_archive(engine, redis, locks, seeder, MESSAGES // 10, chunk),
            await bench_archive(engine, redis, locks, seeder, MESSAGES, chunk),
        ]
        seeder.client.close()
        save(f"{today()}-jobs", report, jobs_table(report))
    finally:
        await redis.aclose()
        engine.client.close()
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
