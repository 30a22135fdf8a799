"""`make bench-beat`: a beat job with a backlog far past what one run can do, bounded by time.

BENCH_SESSIONS (default 100,000) completed sessions wait for `record.ready`; `announce_records`
runs BENCH_RUNS times (default 3) with JOB_TIME_BUDGET_S (BENCH_BUDGET_S, default the
setting's 60 s), as beat would run it. Reported per run: wall time (it must end soon after
the budget, far inside Celery's 240 s soft limit), sessions announced, and how many still
wait; then that no session was announced twice. Writes bench/results/<date>-beat.json/.md.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

from bench.procs import Stack, log
from bench.report import machine, save, today
from bench.seed import completed_sessions
from tq.app import DOCUMENT_MODELS
from tq.core.celery import create_celery
from tq.core.clients import Clients
from tq.core.db import ensure_indexes
from tq.evaluation.jobs import announce_records
from tq.jobs.registry import TASK_ROUTES
from tq.sessions.models import Session, SessionEventRecord

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "100000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
BUDGET_S = os.environ.get("BENCH_BUDGET_S")


async def seed(clients: Clients) -> None:
    sessions = clients.engine.get_collection(Session)
    for start in range(0, SESSIONS, 5_000):
        batch = completed_sessions(min(5_000, SESSIONS - start))
        await sessions.insert_many([session.model_dump_doc() for session in batch], ordered=False)


async def main() -> None:
    stack = Stack()
    overrides: dict[str, Any] = {"job_time_budget_s": float(BUDGET_S)} if BUDGET_S else {}
    settings = stack.settings(**overrides)
    celery = create_celery(settings, routes=TASK_ROUTES)
    clients = Clients.open(settings, celery)
    try:
        await ensure_indexes(clients.engine, DOCUMENT_MODELS)
        began = time.monotonic()
        await seed(clients)
        log(f"seeded {SESSIONS:,} completed sessions in {time.monotonic() - began:.0f} s")
        runs = []
        left = SESSIONS
        for number in range(1, RUNS + 1):
            began = time.monotonic()
            counts = await announce_records(clients)
            wall = time.monotonic() - began
            # Counted, not queried: a count over the backlog is itself a scan on the embedded
            # engine, longer than a socket timeout at this size.
            left -= counts["announced"]
            runs.append({"run": number, "wall_s": round(wall, 2), **counts, "waiting_after": left})
            log(f"run {number}: {runs[-1]}")
        twice = await (
            clients.engine.get_collection(SessionEventRecord)
            .aggregate(
                [
                    {"$match": {"type": "record.ready"}},
                    {"$group": {"_id": "$sessionId", "n": {"$sum": 1}}},
                    {"$match": {"n": {"$gt": 1}}},
                    {"$count": "sessions"},
                ]
            )
            .to_list(None)
        )
        report = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "database": stack.engine,
            "sessions": SESSIONS,
            "budget_s": settings.job_time_budget_s,
            "soft_time_limit_s": settings.celery_task_soft_time_limit,
            "runs": runs,
            "announced_twice": twice[0]["sessions"] if twice else 0,
        }
        lines = [
            f"# Beat job time budget {report['date']}",
            "",
            f"Machine: {report['machine']}. Database: {stack.engine}. {SESSIONS:,} completed "
            f"sessions waiting; JOB_TIME_BUDGET_S {settings.job_time_budget_s:g} s; Celery "
            f"soft limit {settings.celery_task_soft_time_limit} s.",
            "",
            "| run | wall time | announced | stopped at the budget | still waiting |",
            "|---|---|---|---|---|",
            *(
                f"| {r['run']} | {r['wall_s']} s | {r['announced']:,} | "
                f"{'yes' if r['stopped_at_budget'] else 'no'} | {r['waiting_after']:,} |"
                for r in runs
            ),
            "",
            f"Sessions announced twice: {report['announced_twice']}.",
            "",
        ]
        save(f"{today()}-beat", report, "\n".join(lines))
    finally:
        await clients.close()
        celery.close()
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
