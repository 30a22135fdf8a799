"""The runner's side of the code runner: where this process's sandboxes run (a uid, a memory
cgroup and a capped work directory per pool slot), the configured limits, and a stored
session run executed or judged. Runs on the runner only: the `runs` queue's jobs call it."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

from billiard.process import current_process
from odmantic import AIOEngine
from pymongo import ReturnDocument
from redis.asyncio import Redis

from config import Settings
from tq.core.db import parse_object_id
from tq.core.queue import JobQueue
from tq.core.time import utcnow
from tq.jobs.registry import ANNOUNCE_RUN
from tq.problems.judging import JudgeSpec
from tq.problems.service import judging_for
from tq.runner.cgroups import CgroupUnavailable, MemoryCgroup
from tq.runner.judge import Outcome, Placement, execute, judge
from tq.runner.languages import BY_NAME, Runtime, discover, resolve
from tq.runner.models import UNFINISHED, CodeRun
from tq.runner.sandbox import Limits, SourceError, capped_work_dir
from tq.runner.service import completed_event, fail_run, release, renew

log = logging.getLogger("tq.runner")

_runtimes: list[Runtime] | None = None


def served_runtimes() -> list[Runtime]:
    """What this machine serves, found once per process from the installed binaries."""
    global _runtimes
    if _runtimes is None:
        _runtimes = discover()
    return _runtimes


_cgroups: dict[int, MemoryCgroup | None] = {}
_work_dirs: dict[int, str] = {}


def placement(settings: Settings) -> Placement:
    # Each pool process runs its sandboxes as a uid of its own, so one run's process limit
    # and the kill sweep after it never touch a concurrent run; and in a memory cgroup of
    # its own, which holds every language to the memory limit.
    slot = getattr(current_process(), "index", None) or 0
    uid = settings.runner_uid_base + int(slot)
    if uid not in _cgroups:
        try:
            _cgroups[uid] = MemoryCgroup.for_slot(f"tq-slot-{uid}")
        except (CgroupUnavailable, OSError) as exc:
            if settings.runner_require_cgroup and os.geteuid() == 0:
                raise CgroupUnavailable(
                    f"no memory cgroup for the sandbox ({exc}); RUNNER_REQUIRE_CGROUP=false runs "
                    "with address-space limits only, which some runtimes exceed"
                ) from exc
            log.warning("sandbox without a memory cgroup: %s", exc)
            _cgroups[uid] = None
    if uid not in _work_dirs:
        # The compile stage writes into the host directory: a size-capped tmpfs per slot.
        try:
            _work_dirs[uid] = capped_work_dir(
                settings.runner_work_dir, f"tq-slot-{uid}", settings.runner_workdir_mb * 2
            )
        except (OSError, subprocess.SubprocessError) as exc:
            # Each submission still gets a private mkdtemp directory there.
            log.warning("submissions on an uncapped directory (no tmpfs mount: %s)", exc)
            _work_dirs[uid] = settings.runner_work_dir or tempfile.gettempdir()
    return Placement(_work_dirs[uid], uid, _cgroups[uid])


def limits_from(
    settings: Settings, compile_timeout_ms: int | None = None, run_timeout_ms: int | None = None
) -> Limits:
    """The configured limits; a client may ask for shorter timeouts, never longer."""
    compile_s = settings.runner_compile_timeout_s
    run_s = settings.runner_run_timeout_s
    if compile_timeout_ms:
        compile_s = min(compile_s, compile_timeout_ms / 1000)
    if run_timeout_ms:
        run_s = min(run_s, run_timeout_ms / 1000)
    return Limits(
        compile_timeout_s=compile_s,
        run_timeout_s=run_s,
        memory_mb=settings.runner_memory_mb,
        processes=settings.runner_max_processes,
        file_size_mb=settings.runner_file_size_mb,
        open_files=settings.runner_open_files,
        output_bytes=settings.runner_output_bytes,
        workdir_mb=settings.runner_workdir_mb,
        compile_memory_mb=settings.runner_compile_memory_mb,
    )


def limits_for(settings: Settings, problem: JudgeSpec | None) -> Limits:
    """A problem's own time and memory limits per test (set within PROBLEM_MAX_*), else the
    runner's."""
    limits = limits_from(settings)
    if problem is None:
        return limits
    return dataclasses.replace(
        limits,
        run_timeout_s=problem.time_limit_s or limits.run_timeout_s,
        memory_mb=problem.memory_mb or limits.memory_mb,
    )


def _finished_fields(outcome: Outcome) -> dict[str, Any]:
    stage = outcome.run or outcome.compile
    fields: dict[str, Any] = {
        "status": "completed",
        "verdict": outcome.verdict,
        "stdout": stage.stdout if stage else "",
        "stderr": stage.stderr if stage else "",
        "exitCode": stage.code if stage else None,
        "signal": stage.signal if stage else None,
        "truncated": bool(stage and stage.truncated),
        "timeMs": outcome.time_ms,
        "tests": outcome.tests,
        "finishedAt": utcnow(),
    }
    return fields


async def run_session_code(
    engine: AIOEngine,
    queue: JobQueue,
    settings: Settings,
    run_id: str,
    worker: str,
    place: Callable[[], Placement],
    runtimes: list[Runtime],
    redis: Redis | None = None,
) -> dict[str, int]:
    oid = parse_object_id(run_id)
    if oid is None:
        return {"skipped": 1}
    runs = engine.get_collection(CodeRun)
    doc = await runs.find_one_and_update(
        {
            "_id": oid,
            "status": {"$in": list(UNFINISHED)},
            "attempts": {"$lt": settings.runner_max_attempts},
        },
        {
            "$set": {"status": "running", "startedAt": utcnow(), "worker": worker},
            "$inc": {"attempts": 1},
        },
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        # Already final (a duplicate delivery), or delivered again after runners were lost
        # while running it as often as allowed: then it fails instead of going round forever.
        reason = (
            f"the runner was lost while running this code ({settings.runner_max_attempts} attempts)"
        )
        failed = await fail_run(engine, queue, oid, reason, {"status": {"$in": list(UNFINISHED)}})
        if failed and redis is not None:
            owner = await runs.find_one({"_id": oid}, {"userId": 1})
            if owner is not None:
                await release(redis, owner["userId"], str(oid))
        return {"failed_lost": 1} if failed else {"skipped": 1}
    run = CodeRun.model_validate_doc(doc)
    current = {"status": "running", "attempts": run.attempts}
    if redis is not None:
        await renew(redis, settings, run.user_id, str(run.id))
    runtime = resolve(run.language, runtimes)
    if runtime is None:
        await fail_run(engine, queue, oid, f"no runner here serves {run.language}", current)
        if redis is not None:
            await release(redis, run.user_id, str(run.id))
        return {"failed": 1}
    spec = BY_NAME[runtime.language]
    problem = await judging_for(engine, run.problem_id, run.problem_version_id)
    limits = limits_for(settings, problem)
    checker = BY_NAME.get(problem.checker.language) if problem and problem.checker else None
    spent_ms = 0
    try:
        try:
            # Blocking on purpose: a runner process runs one sandbox at a time and has nothing
            # else to serve meanwhile (the sandbox's preexec step must not run from a thread).
            placement = place()
            if problem is not None:
                outcome = judge(spec, run.source, problem, limits, placement, checker)
            else:
                outcome = execute(spec, [("", run.source)], run.stdin, [], limits, placement)
            spent_ms = outcome.spent_ms
        except SourceError as exc:
            await fail_run(engine, queue, oid, str(exc), current)
            return {"failed": 1}
        except Exception as exc:
            log.exception("run %s could not be executed", run_id)
            await fail_run(engine, queue, oid, f"runner error: {type(exc).__name__}", current)
            return {"failed": 1}
    finally:
        # Whatever happened above (a failing _fail included), the user's slot is given back.
        if redis is not None:
            await release(redis, run.user_id, str(run.id), spent_ms)
    # Conditional on this attempt: a run another attempt already finished is left alone.
    result = await runs.update_one(
        {"_id": oid, **current},
        {
            "$set": {**_finished_fields(outcome), "eventsPending": True},
            "$push": completed_event(oid, "completed", outcome.verdict),
        },
    )
    if result.modified_count:
        await queue.enqueue(ANNOUNCE_RUN, run_id)
    return {"completed": result.modified_count}
