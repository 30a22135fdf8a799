"""The runner's raw task and start-up hook. Only the `runner` process consumes the `runs` queue
(Procfile), so only it ever starts a sandbox. The session-run jobs live in tq/runner/jobs.py,
the Piston adapter in tq/runner/piston.py."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from celery import Task
from celery.signals import worker_ready

from tq.jobs.registry import RUN_CODE, RUNS_QUEUE
from tq.runner.execution import placement, served_runtimes
from tq.runner.piston import failed_answer, run_piston
from tq.runner.service import RUNTIMES_KEY, result_key
from workers import app, settings
from workers.runtime import get_runtime

log = logging.getLogger("tq.runner")


@worker_ready.connect
def publish_runtimes(sender: Any = None, **_: Any) -> None:
    """A runner (a worker consuming `runs`) tells the web processes what it serves."""
    # The worker's -Q selection (None when it takes the default queue only).
    consumed = app.amqp.queues.consume_from or {}
    if RUNS_QUEUE not in consumed:
        return
    served = [
        {"language": r.language, "version": r.version, "aliases": list(r.aliases)}
        for r in served_runtimes()
    ]
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        client.set(RUNTIMES_KEY, json.dumps(served))
    finally:
        client.close()
    log.info("runner serves %s", ", ".join(f"{r['language']} {r['version']}" for r in served))


@app.task(name=RUN_CODE, bind=True)
def run_code(self: Task[Any, Any], payload: dict[str, Any]) -> None:
    """run_code(payload): one Piston execute; the answer goes to the waiting web process."""
    try:
        answer = run_piston(
            payload,
            settings,
            placement(settings),
            served_runtimes(),
        )
    except Exception as exc:
        # The web process waits for this answer: it gets one, not a 30-second silence.
        log.exception("execute %s failed", payload.get("request_id"))
        # The type only: the message may name host paths.
        answer = failed_answer(payload, f"runner error: {type(exc).__name__}")
    runtime = get_runtime(settings)
    key = result_key(payload["request_id"])

    async def reply() -> None:
        async with runtime.clients.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(answer))
            pipe.expire(key, 120)
            await pipe.execute()

    runtime.loop.run_until_complete(reply())
