"""The code runner's tasks. Only the `runner` process consumes the `runs` queue (Procfile), so
only it ever starts a sandbox; the announce and sweep jobs run on the ordinary workers."""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any

import redis
from billiard.process import current_process
from celery import Task
from celery.signals import worker_ready

from tq.jobs.registry import (
    ANNOUNCE_RUN,
    EXECUTE_SESSION_RUN,
    FAIL_STALE_RUNS,
    RUN_CODE,
    RUNS_QUEUE,
)
from tq.runner import jobs as runner_jobs
from tq.runner.judge import Placement
from tq.runner.languages import Runtime, discover
from tq.runner.service import RUNTIMES_KEY, result_key
from workers import app, settings
from workers.jobs import job
from workers.runtime import WorkerRuntime, get_runtime

log = logging.getLogger("tq.runner")
_runtimes: list[Runtime] | None = None


def runtimes() -> list[Runtime]:
    """What this machine serves, found once per process from the installed binaries."""
    global _runtimes
    if _runtimes is None:
        _runtimes = discover()
    return _runtimes


def placement() -> Placement:
    # Each pool process runs its sandboxes as a uid of its own, so one run's process limit
    # and the kill sweep after it never touch a concurrent run.
    slot = getattr(current_process(), "index", None) or 0
    return Placement(settings.runner_work_dir, settings.runner_uid_base + int(slot))


@worker_ready.connect
def publish_runtimes(sender: Any = None, **_: Any) -> None:
    """A runner (a worker consuming `runs`) tells the web processes what it serves."""
    # The worker's -Q selection (None when it takes the default queue only).
    consumed = app.amqp.queues.consume_from or {}
    if RUNS_QUEUE not in consumed:
        return
    served = [
        {"language": r.language, "version": r.version, "aliases": list(r.aliases)}
        for r in runtimes()
    ]
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        client.set(RUNTIMES_KEY, json.dumps(served))
    finally:
        client.close()
    log.info("runner serves %s", ", ".join(f"{r['language']} {r['version']}" for r in served))


@app.task(name=RUN_CODE, bind=True)
def run_code(self: Task, payload: dict[str, Any]) -> None:
    """run_code(payload): one Piston execute; the answer goes to the waiting web process."""
    answer = runner_jobs.run_piston(payload, settings, placement(), runtimes())
    runtime = get_runtime(settings)
    key = result_key(payload["request_id"])

    async def reply() -> None:
        async with runtime.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(answer))
            pipe.expire(key, 120)
            await pipe.execute()

    runtime.loop.run_until_complete(reply())


@job(EXECUTE_SESSION_RUN)
async def execute_session_run(runtime: WorkerRuntime, run_id: str) -> dict[str, int]:
    """execute_session_run(run_id): run (or judge) a session's code in the sandbox."""
    return await runner_jobs.execute_session_run(
        runtime.engine,
        runtime.queue,
        runtime.settings,
        run_id,
        f"{socket.gethostname()}:{os.getpid()}",
        placement(),
        runtimes(),
    )


@job(ANNOUNCE_RUN)
async def announce_run(runtime: WorkerRuntime, run_id: str) -> dict[str, int]:
    """announce_run(run_id): send `run.completed` to the session's Stream channel."""
    return await runner_jobs.announce_run(runtime.engine, runtime.stream, run_id)


@job(FAIL_STALE_RUNS, scheduled=True)
async def fail_stale_runs(runtime: WorkerRuntime) -> dict[str, int]:
    """fail_stale_runs(): fail runs left queued or running past RUNNER_STALE_AFTER_S."""
    return await runner_jobs.fail_stale_runs(
        runtime.engine, runtime.queue, runtime.settings.runner_stale_after_s
    )
