"""`python -m tq jobs ...`: list jobs, run one through Celery, and read the run log.

Exit codes: 0 ok; 1 the run failed (or --wait timed out); 2 bad usage (unknown job, wrong
arguments); 3 nothing to talk to (no worker answering, Redis or MongoDB unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime
from typing import Any

from config import Settings, load_settings
from tq.core.celery import create_celery
from tq.core.db import create_engine
from tq.core.queue import JobName, JobQueue, JobRun
from tq.jobs import service as runs
from tq.jobs.registry import JOBS, TASK_ROUTES, schedules


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def run_json(run: JobRun) -> dict[str, Any]:
    """The run as stored (camelCase keys, as in job_runs), dates in ISO-8601."""
    doc = run.model_dump_doc()
    doc = {"runId": doc.pop("_id"), **doc}
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in doc.items()
    }


async def cmd_list(settings: Settings) -> int:
    engine = create_engine(settings)
    every = schedules(settings)
    try:
        print(f"{'job':<24} {'arguments':<14} {'schedule':<14} last run")
        for name, spec in JOBS.items():
            last = await runs.last_run(engine, name)
            when = f"every {every[name]:g}s" if name in every else "on event"
            last_text = f"{last.status} {last.queued_at:%Y-%m-%d %H:%M:%S}" if last else "-"
            print(f"{name:<24} {','.join(spec.args) or '-':<14} {when:<14} {last_text}")
    finally:
        engine.client.close()
    return 0


async def cmd_run(settings: Settings, job: str, args: list[str], wait: bool, wait_s: float) -> int:
    spec = JOBS.get(JobName(job))
    if spec is None:
        raise CliError(f"unknown job {job!r}; jobs: {', '.join(JOBS)}", 2)
    if len(args) != len(spec.args):
        wanted = " ".join(f"<{a}>" for a in spec.args) or "no arguments"
        raise CliError(f"{job} takes {wanted}; got {len(args)} argument(s)", 2)
    celery = create_celery(settings, routes=TASK_ROUTES)
    engine = create_engine(settings)
    try:
        loop = asyncio.get_running_loop()
        try:
            replies = await loop.run_in_executor(None, lambda: celery.control.ping(timeout=1.5))
        except Exception as exc:
            raise CliError(
                f"cannot reach the broker at REDIS_URL ({type(exc).__name__})", 3
            ) from None
        if not replies:
            raise CliError("no worker is reachable: start one with `celery -A workers worker`", 3)
        queue = JobQueue(celery, engine)
        before = time.time()
        if not await queue.enqueue(spec.name, *args, trigger="ops"):
            raise CliError("the job could not be handed to the broker", 3)
        recent = await runs.list_runs(engine, job=job, limit=5)
        run = next(
            (r for r in recent if r.trigger == "ops" and r.queued_at.timestamp() >= before - 1),
            None,
        )
        if run is None:
            raise CliError("the run record was not written (is MongoDB reachable?)", 3)
        deadline = time.monotonic() + wait_s
        while wait and run.status not in ("succeeded", "failed"):
            if time.monotonic() > deadline:
                print(json.dumps(run_json(run), indent=2))
                raise CliError(f"still {run.status} after {wait_s:g}s", 1)
            await asyncio.sleep(0.2)
            run = await runs.get_run(engine, run.run_id) or run
        print(json.dumps(run_json(run), indent=2))
        return 1 if run.status == "failed" else 0
    finally:
        engine.client.close()
        celery.close()


async def cmd_runs(settings: Settings, job: str | None, failed: bool, limit: int) -> int:
    if job is not None and job not in JOBS:
        raise CliError(f"unknown job {job!r}; jobs: {', '.join(JOBS)}", 2)
    engine = create_engine(settings)
    try:
        for run in await runs.list_runs(engine, job=job, failed_only=failed, limit=limit):
            print(json.dumps(run_json(run)))
    finally:
        engine.client.close()
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m tq")
    sub = top.add_subparsers(dest="area", required=True)
    jobs = sub.add_parser("jobs", help="background jobs").add_subparsers(
        dest="command", required=True
    )
    jobs.add_parser("list", help="jobs, schedules and last runs")
    run = jobs.add_parser("run", help="run a job now through Celery")
    run.add_argument("job")
    run.add_argument("args", nargs="*")
    run.add_argument("--wait", action="store_true", help="wait for the run to finish")
    run.add_argument("--timeout", type=float, default=120.0)
    listing = jobs.add_parser("runs", help="recent runs, newest first")
    listing.add_argument("--failed", action="store_true")
    listing.add_argument("--job")
    listing.add_argument("--limit", type=int, default=20)
    return top


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    settings = load_settings()
    try:
        if options.command == "list":
            return asyncio.run(cmd_list(settings))
        if options.command == "run":
            return asyncio.run(
                cmd_run(settings, options.job, options.args, options.wait, options.timeout)
            )
        return asyncio.run(cmd_runs(settings, options.job, options.failed, options.limit))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:  # e.g. MongoDB unreachable: one clear line, no traceback
        print(f"error: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
        return 3
