"""Jobs through a real worker: run records, retries with backoff, 429, permanent failures,
a worker child killed mid-task, scheduled-job locks, and the ops CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine

from config import Settings
from tests.fakes.stream import FakeStream
from tests.support import ROOT, register, settings_env, wait_until
from tq.core.queue import JobRun
from tq.jobs.service import list_runs


async def sync_run(engine: AIOEngine, user_id: str) -> JobRun | None:
    runs = await engine.find(JobRun, JobRun.job == "sync_user")
    return next((r for r in runs if r.args == [user_id]), None)


async def finished(engine: AIOEngine, user_id: str) -> JobRun | None:
    run = await sync_run(engine, user_id)
    return run if run and run.status in ("succeeded", "failed") else None


async def test_event_run_is_recorded(client, engine, celery_worker) -> None:
    user = await register(client)
    run = await wait_until(lambda: finished(engine, user["user"]["_id"]), timeout=20)
    assert isinstance(run, JobRun)
    assert run.status == "succeeded" and run.trigger == "event" and run.attempts == 1
    assert run.counts == {"upserted": 1}
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    assert run.worker and run.error is None


async def test_transient_failures_retry_then_succeed(
    client, engine, fake_stream, celery_worker
) -> None:
    fake_stream.fail(times=2, status=500, path_contains="/users")
    user = await register(client)
    run = await wait_until(lambda: finished(engine, user["user"]["_id"]), timeout=30)
    assert isinstance(run, JobRun)
    assert run.status == "succeeded" and run.attempts == 3
    assert user["user"]["streamId"] in fake_stream.users


async def test_429_waits_for_the_rate_limit_reset(
    client, engine, fake_stream, celery_worker
) -> None:
    reset = int(time.time()) + 4
    fake_stream.fail(
        times=1, status=429, path_contains="/users", headers={"X-RateLimit-Reset": str(reset)}
    )
    user = await register(client)
    run = await wait_until(lambda: finished(engine, user["user"]["_id"]), timeout=30)
    assert isinstance(run, JobRun)
    assert run.status == "succeeded" and run.attempts == 2
    # Backoff alone would wait under a second here (JOB_RETRY_BASE_S=0.2).
    assert run.retry_in_s is not None and run.retry_in_s >= 2.0


async def test_permanent_failures_are_not_retried(
    client, engine, fake_stream, celery_worker
) -> None:
    fake_stream.fail(times=1, status=400, path_contains="/users")
    user = await register(client)
    run = await wait_until(lambda: finished(engine, user["user"]["_id"]), timeout=20)
    assert isinstance(run, JobRun)
    assert run.status == "failed" and run.attempts == 1
    assert run.error and "StreamRejected" in run.error


async def test_worker_child_killed_mid_task_still_completes_once(
    client, engine, fake_stream: FakeStream, celery_worker
) -> None:
    fake_stream.fail(times=1, status=200, delay_s=1.5, path_contains="/users")
    user = await register(client)
    uid = user["user"]["_id"]

    async def running() -> JobRun | None:
        run = await sync_run(engine, uid)
        return run if run and run.status == "running" else None

    run = await wait_until(running, timeout=20)
    assert isinstance(run, JobRun) and run.worker
    child = int(run.worker.rsplit(":", 1)[1])
    os.kill(child, signal.SIGKILL)
    done = await wait_until(lambda: finished(engine, uid), timeout=60)
    assert isinstance(done, JobRun) and done.status == "succeeded"
    assert done.worker != run.worker  # another process finished it
    assert user["user"]["streamId"] in fake_stream.users
    assert len(await engine.find(JobRun, JobRun.job == "sync_user", JobRun.args == [uid])) == 1


def cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tq", "jobs", *args],
        cwd=ROOT,
        env=env or settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_lists_jobs_and_rejects_bad_requests(settings: Settings) -> None:
    listing = cli(settings, "list")
    assert listing.returncode == 0, listing.stderr
    for name in ("sync_user", "expire_sessions", "archive_chat_history", "purge_job_runs"):
        assert name in listing.stdout
    assert "every 60s" in listing.stdout

    unknown = cli(settings, "run", "make_coffee")
    assert unknown.returncode == 2 and "unknown job 'make_coffee'" in unknown.stderr
    wrong = cli(settings, "run", "sync_user")
    assert wrong.returncode == 2 and "<user_id>" in wrong.stderr
    extra = cli(settings, "run", "expire_sessions", "now")
    assert extra.returncode == 2
    runs_unknown = cli(settings, "runs", "--job", "nope")
    assert runs_unknown.returncode == 2


def test_cli_says_when_no_worker_is_reachable(settings: Settings, services) -> None:
    lonely = settings_env(settings) | {"REDIS_URL": f"{services['redis']}/15"}
    result = cli(settings, "run", "purge_job_runs", env=lonely)
    assert result.returncode == 3
    assert "no worker is reachable" in result.stderr


def test_cli_runs_a_job_and_shows_runs(settings: Settings, celery_worker) -> None:
    result = cli(settings, "run", "purge_job_runs", "--wait")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["job"] == "purge_job_runs" and record["trigger"] == "ops"
    assert record["status"] == "succeeded"
    assert set(record["counts"]) == {"runs_deleted"}

    failing = cli(settings, "run", "sync_session_channel", "not-an-id", "--wait")
    assert failing.returncode == 0  # an invalid id is a no-op, not a crash
    assert json.loads(failing.stdout)["counts"] == {"invalid": 1}

    listing = cli(settings, "runs", "--job", "purge_job_runs", "--limit", "5")
    lines = [json.loads(line) for line in listing.stdout.splitlines()]
    assert lines and lines[0]["runId"] == record["runId"]


async def test_cli_failed_run_exits_non_zero(
    settings: Settings, fake_stream, client, celery_worker
) -> None:
    user = await register(client)
    fake_stream.fail(times=5, status=403, path_contains="/users")
    result = cli(settings, "run", "sync_user", user["user"]["_id"], "--wait")
    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == "failed"
    failed = cli(settings, "runs", "--failed", "--job", "sync_user")
    assert any(
        json.loads(line)["runId"] == json.loads(result.stdout)["runId"]
        for line in failed.stdout.splitlines()
    )


async def test_scheduled_jobs_do_not_overlap(
    settings: Settings, redis_client, celery_worker
) -> None:
    lock = redis_client.lock("job-lock:expire_sessions", timeout=30)
    assert await lock.acquire(blocking=False)
    try:
        held = cli(settings, "run", "expire_sessions", "--wait")
    finally:
        await lock.release()
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout)["counts"] == {"skipped_locked": 1}
    free = cli(settings, "run", "expire_sessions", "--wait")
    assert set(json.loads(free.stdout)["counts"]) == {"cancelled", "completed"}


def test_plain_celery_call_is_an_ops_run(settings: Settings, celery_worker) -> None:
    sent = subprocess.run(
        [str(ROOT / ".venv/bin/celery"), "-A", "workers", "call", "purge_job_runs"],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip()
    deadline = time.monotonic() + 30
    while True:
        runs = cli(settings, "runs", "--job", "purge_job_runs", "--limit", "20")
        records: dict[str, Any] = {
            json.loads(line)["runId"].replace("-", ""): json.loads(line)
            for line in runs.stdout.splitlines()
        }
        record = records.get(task_id.replace("-", ""))
        if record and record["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, (runs.stdout, runs.stderr)
        time.sleep(0.3)
    assert record["trigger"] == "ops"


async def test_run_listing_skips_records_of_the_old_shape(engine: AIOEngine) -> None:
    """Run records from before the run id became the _id do not break `jobs runs`."""
    job = f"listing-{ObjectId()}"
    await engine.get_collection(JobRun).insert_one(
        {"_id": ObjectId(), "runId": "old", "job": job, "queuedAt": datetime.now(UTC)}
    )
    current = await engine.save(JobRun(run_id=str(ObjectId()), job=job))  # type: ignore[call-arg]
    runs = await list_runs(engine, job=job)
    assert [run.run_id for run in runs] == [current.run_id]
