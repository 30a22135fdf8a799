"""A runner that dies mid-run: the run is redelivered a bounded number of times, then fails with
a reason; a run nobody takes is failed by the stale-run sweep. Never queued or running forever."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from typing import Any, cast

from bson import ObjectId

from config import Settings
from tests.support import (
    ROOT,
    app_on_own_database,
    create,
    register,
    sandbox_processes,
    settings_env,
    start_worker,
    stop_worker,
    wait_until,
)
from tq.core.celery import create_celery
from tq.core.queue import JobQueue
from tq.jobs.registry import TASK_ROUTES
from tq.runner.models import CodeRun
from tq.runner.service import fail_runs_older_than

SLOW = "import time\ntime.sleep(2.5)\nprint('done')\n"


def lone_settings(settings: Settings) -> Settings:
    """A Redis database of its own, so that only this test's runner takes these runs."""
    base = settings.redis_url.rsplit("/", 1)[0]
    db = (int(settings.redis_url.rsplit("/", 1)[1]) + 1) % 15 + 1
    return settings.model_copy(update={"redis_url": f"{base}/{db}", "runner_max_attempts": 2})


async def test_a_run_whose_runner_dies_fails_after_bounded_redelivery(settings: Settings) -> None:
    mine = lone_settings(settings)
    async with app_on_own_database(mine, f"loss_{uuid.uuid4().hex[:6]}") as stack:
        await stack["redis"].flushdb()
        runner, _ = start_worker(stack["settings"], queues="runs", name="lossy")
        try:
            await wait_until(lambda: stack["redis"].get("runner:runtimes"), timeout=30)
            http, engine = stack["http"], stack["engine"]
            user = await register(http)
            session = await create(http, user, title="Loss")
            response = await http.post(
                f"/api/sessions/{session['_id']}/runs",
                json={"language": "python", "source": SLOW},
                headers=user["headers"],
            )
            assert response.status_code == 202, response.text
            run_id = ObjectId(response.json()["run"]["_id"])
            killed: list[int] = []
            for attempt in (1, 2):

                async def running(attempt: int = attempt) -> CodeRun | None:
                    run = await engine.find_one(CodeRun, CodeRun.id == run_id)
                    ok = run and run.status == "running" and run.attempts == attempt
                    return run if ok else None

                run = await wait_until(running, timeout=30, interval=0.05)
                pid = int(cast(Any, run).worker.rsplit(":", 1)[1])
                os.kill(pid, signal.SIGKILL)  # the pool process running the sandbox
                killed.append(pid)

            async def ended() -> CodeRun | None:
                run = await engine.find_one(CodeRun, CodeRun.id == run_id)
                return run if run and run.status in ("completed", "failed") else None

            final: CodeRun = await wait_until(ended, timeout=60)  # type: ignore[assignment]
            assert final.status == "failed", final
            assert final.attempts == 2 and "lost" in (final.error or "")
            assert final.finished_at is not None
            assert len(set(killed)) == 2
            # The sandboxes died with their parents (--die-with-parent, PID namespace).
            await wait_until(lambda: not sandbox_processes(), timeout=10)
        finally:
            stop_worker(runner)


async def test_a_run_nobody_takes_is_failed_by_the_sweep(settings: Settings) -> None:
    mine = lone_settings(settings)
    async with app_on_own_database(mine, f"stale_{uuid.uuid4().hex[:6]}") as stack:
        redis = stack["redis"]
        await redis.flushdb()
        # As if a runner had published its runtimes and then gone away for good.
        await redis.set(
            "runner:runtimes", '[{"language": "python", "version": "3", "aliases": ["py"]}]'
        )
        http, engine = stack["http"], stack["engine"]
        user = await register(http)
        session = await create(http, user, title="Stale")
        response = await http.post(
            f"/api/sessions/{session['_id']}/runs",
            json={"language": "python", "source": "print(1)"},
            headers=user["headers"],
        )
        run_id = ObjectId(response.json()["run"]["_id"])
        celery = create_celery(stack["settings"], routes=TASK_ROUTES)
        celery.conf.task_routes = TASK_ROUTES
        queue = JobQueue(celery, engine)
        try:
            fresh = await fail_runs_older_than(engine, queue, stale_after_s=60)
            assert fresh == {"failed": 0}  # not stale yet
            await asyncio.sleep(0.05)
            counts = await fail_runs_older_than(engine, queue, stale_after_s=0.01)
        finally:
            celery.close()
        assert counts == {"failed": 1}
        run = await engine.find_one(CodeRun, CodeRun.id == run_id)
        assert run is not None and run.status == "failed" and "not finished" in (run.error or "")
        view = await http.get(
            f"/api/sessions/{session['_id']}/runs/{run_id}", headers=user["headers"]
        )
        assert view.json()["run"]["status"] == "failed"


def test_the_web_process_never_loads_the_sandbox(settings: Settings) -> None:
    probe = (
        "import sys, server\n"
        "assert server.app is not None\n"
        "print('tq.runner.sandbox' in sys.modules, 'tq.runner.judge' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["False", "False"]


async def test_no_runner_answering_gives_504_and_a_backlog_gives_429(settings: Settings) -> None:
    """No runner consumes this Redis database: Piston waits RUNNER_WAIT_S then answers 504;
    session runs queue up until RUNNER_MAX_BACKLOG, then 429 runner_busy."""
    mine = lone_settings(settings).model_copy(
        update={"runner_wait_s": 0.5, "runner_max_backlog": 2}
    )
    async with app_on_own_database(mine, f"busy_{uuid.uuid4().hex[:6]}") as stack:
        redis, http = stack["redis"], stack["http"]
        await redis.flushdb()
        await redis.set(
            "runner:runtimes", '[{"language": "python", "version": "3", "aliases": ["py"]}]'
        )
        user = await register(http)
        waited = await http.post(
            "/api/v2/piston/execute",
            json={"language": "python", "files": [{"content": "print(1)"}]},
            headers=user["headers"],
        )
        assert waited.status_code == 504, waited.text
        assert waited.json()["error"] == "runner_timeout"
        await redis.delete("runs")  # the expired Piston request
        session = await create(http, user, title="Busy")
        url = f"/api/sessions/{session['_id']}/runs"
        body = {"language": "python", "source": "print(1)"}
        for _ in range(2):
            assert (await http.post(url, json=body, headers=user["headers"])).status_code == 202
        refused = await http.post(url, json=body, headers=user["headers"])
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "runner_busy" and refused.headers["Retry-After"]
        await redis.delete("runner:runtimes")
        none = await http.post(url, json=body, headers=user["headers"])
        assert none.status_code == 503 and none.json()["error"] == "runner_unavailable"
