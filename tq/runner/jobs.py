"""The runner's jobs. `run_piston` and `execute_session_run` execute user code and run only on
the `runs` queue; `announce_run` and `fail_stale_runs` are ordinary jobs that execute nothing."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import tempfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from billiard.process import current_process
from odmantic import AIOEngine
from pymongo import ReturnDocument
from redis.asyncio import Redis

from config import Settings
from tq.core.clients import Clients
from tq.core.db import parse_object_id
from tq.core.queue import JobQueue
from tq.core.time import utcnow
from tq.jobs.registry import ANNOUNCE_RUN, EXECUTE_SESSION_RUN, FAIL_STALE_RUNS, job
from tq.problems.bank import BY_SLUG
from tq.runner.cgroups import CgroupUnavailable, MemoryCgroup
from tq.runner.judge import Outcome, Placement, execute, judge
from tq.runner.languages import BY_NAME, Runtime, discover, resolve
from tq.runner.models import UNFINISHED, CodeRun
from tq.runner.sandbox import Limits, SourceError, StageResult, capped_work_dir
from tq.runner.service import release, renew
from tq.sessions.log import flush_outbox
from tq.sessions.models import Session, SessionEvent
from tq.users.service import get_users

log = logging.getLogger("tq.runner")

PISTON_STATUS = {
    "time_limit": "TO",
    "output_limit": "OL",
    "memory_limit": "ML",
    "killed": "SG",
}
PREVIEW_CHARS = 200
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


# --- Piston


def _piston_stage(stage: StageResult) -> dict[str, Any]:
    status = PISTON_STATUS.get(stage.status)
    if status is None and stage.status == "runtime_error":
        status = "SG" if stage.signal else "RE"
    messages = {
        "TO": "time limit reached",
        "OL": "output limit reached",
        "ML": "memory limit reached",
        "SG": f"killed by {stage.signal}",
    }
    return {
        "stdout": stage.stdout,
        "stderr": stage.stderr,
        "output": stage.output,
        "code": stage.code,
        "signal": stage.signal,
        "status": status,
        "message": messages.get(status or ""),
        "wall_time": stage.time_ms,
        "truncated": stage.truncated,
    }


def _empty_stage(message: str) -> dict[str, Any]:
    return {
        "stdout": "",
        "stderr": message,
        "output": message,
        "code": None,
        "signal": None,
        "status": "XX",
        "message": message,
        "wall_time": 0,
        "truncated": False,
    }


def failed_answer(payload: dict[str, Any], message: str) -> dict[str, Any]:
    return {"language": payload.get("language", ""), "version": "", "run": _empty_stage(message)}


def run_piston(
    payload: dict[str, Any], settings: Settings, placement: Placement, runtimes: list[Runtime]
) -> dict[str, Any]:
    """Piston's response body for one execute request."""
    runtime = resolve(payload["language"], runtimes)
    if runtime is None:
        return failed_answer(payload, f"this runner does not serve {payload['language']}")
    limits = limits_from(settings, payload.get("compile_timeout_ms"), payload.get("run_timeout_ms"))
    files = [(str(name), str(content)) for name, content in payload["files"]]
    try:
        outcome = execute(
            BY_NAME[runtime.language],
            files,
            payload.get("stdin") or "",
            [str(arg) for arg in payload.get("args") or []],
            limits,
            placement,
        )
    except SourceError as exc:
        stage = _empty_stage(str(exc))
        return {"language": runtime.language, "version": runtime.version, "run": stage}
    except Exception as exc:
        # The caller waits for an answer: whatever went wrong, it gets one now.
        log.exception("an execute could not be run")
        stage = _empty_stage(f"runner error: {type(exc).__name__}")
        return {"language": runtime.language, "version": runtime.version, "run": stage}
    answer: dict[str, Any] = {"language": runtime.language, "version": runtime.version}
    if outcome.compile is not None:
        answer["compile"] = _piston_stage(outcome.compile)
    # Piston answers a failed compile with an empty run stage.
    answer["run"] = (
        _piston_stage(outcome.run) if outcome.run else _empty_stage("compilation failed")
    )
    return answer


# --- session runs


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


def completed_event(run_id: Any, status: str, verdict: str | None) -> dict[str, Any]:
    """`run.completed` for the session's log, pushed by the update that finishes the run."""
    event = SessionEvent(
        id=f"run-{run_id}-completed",
        type="run.completed",
        actor_id=None,
        at=utcnow(),
        data={"runId": str(run_id), "status": status, "verdict": verdict},
    )
    return {"outboxEvents": event.model_dump_doc()}


async def _fail(
    engine: AIOEngine, queue: JobQueue, run_id: Any, reason: str, filter_: dict[str, Any]
) -> bool:
    result = await engine.get_collection(CodeRun).update_one(
        {"_id": run_id, **filter_},
        {
            "$set": {
                "status": "failed",
                "error": reason,
                "finishedAt": utcnow(),
                "eventsPending": True,
            },
            "$push": completed_event(run_id, "failed", None),
        },
    )
    if result.modified_count:
        await queue.enqueue(ANNOUNCE_RUN, str(run_id))
    return bool(result.modified_count)


@job(EXECUTE_SESSION_RUN)
async def execute_session_run(clients: Clients, run_id: str) -> dict[str, int]:
    """Run (or judge) a session's code in the sandbox; on the runs queue only."""
    return await run_session_code(
        clients.engine,
        clients.queue,
        clients.settings,
        run_id,
        f"{socket.gethostname()}:{os.getpid()}",
        lambda: placement(clients.settings),
        served_runtimes(),
        clients.redis,
    )


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
        failed = await _fail(engine, queue, oid, reason, {"status": {"$in": list(UNFINISHED)}})
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
        await _fail(engine, queue, oid, f"no runner here serves {run.language}", current)
        if redis is not None:
            await release(redis, run.user_id, str(run.id))
        return {"failed": 1}
    spec = BY_NAME[runtime.language]
    limits = limits_from(settings)
    problem = BY_SLUG.get(run.problem_id) if run.problem_id else None
    spent_ms = 0
    try:
        try:
            # Blocking on purpose: a runner process runs one sandbox at a time and has nothing
            # else to serve meanwhile (the sandbox's preexec step must not run from a thread).
            placement = place()
            if problem is not None:
                outcome = judge(spec, run.source, problem, limits, placement)
            else:
                outcome = execute(spec, [("", run.source)], run.stdin, [], limits, placement)
            spent_ms = outcome.spent_ms
        except SourceError as exc:
            await _fail(engine, queue, oid, str(exc), current)
            return {"failed": 1}
        except Exception as exc:
            log.exception("run %s could not be executed", run_id)
            await _fail(engine, queue, oid, f"runner error: {type(exc).__name__}", current)
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


@job(ANNOUNCE_RUN)
async def announce_run(clients: Clients, run_id: str) -> dict[str, int]:
    """`run.completed` on the session's channel, so both clients see the run end."""
    engine, stream = clients.engine, clients.stream
    oid = parse_object_id(run_id)
    run = await engine.find_one(CodeRun, CodeRun.id == oid) if oid else None
    if run is None or run.status in UNFINISHED:
        return {"skipped": 1}
    # The run's events into the session's log (the runner process only wrote them down).
    await flush_outbox(clients, CodeRun, run.id, run.session_id, run.outbox_events, f"run:{run.id}")
    if not stream.configured:
        return {"skipped_unconfigured": 1}
    session = await engine.find_one(Session, Session.id == run.session_id)
    if session is None:
        return {"skipped": 1}
    # Attributed to the run's author, or to the host when that account is gone.
    users = await get_users(engine, {run.user_id, session.created_by})
    author = users.get(run.user_id) or users.get(session.created_by)
    if author is None:
        return {"skipped": 1}
    preview = (run.stdout or run.stderr or run.error or "")[:PREVIEW_CHARS]
    event = {
        "type": "run.completed",
        "run": {
            "id": str(run.id),
            "status": run.status,
            "verdict": run.verdict,
            "language": run.language,
            "preview": preview,
        },
    }
    await stream.send_event(session.stream_channel_id, event, author.stream_id)
    return {"announced": 1}


@job(FAIL_STALE_RUNS)
async def fail_stale_runs(clients: Clients) -> dict[str, int]:
    """Fail runs left queued or running past RUNNER_STALE_AFTER_S."""
    return await fail_runs_older_than(
        clients.engine, clients.queue, clients.settings.runner_stale_after_s
    )


async def fail_runs_older_than(
    engine: AIOEngine, queue: JobQueue, stale_after_s: float, batch: int = 500
) -> dict[str, int]:
    """Runs still queued or running long after any limit would have ended them: their runner
    was lost (killed with the message unacknowledged) or no runner takes the queue."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    reason = f"not finished within {int(stale_after_s)} s: the runner was lost or is not running"
    failed = 0
    for status in UNFINISHED:
        # Equality on status, then a range on createdAt: served by status_created.
        docs = (
            await engine.get_collection(CodeRun)
            .find({"status": status, "createdAt": {"$lt": cutoff}}, {"_id": 1})
            .sort([("status", 1), ("createdAt", 1)])
            .limit(batch)
            .to_list(length=batch)
        )
        for doc in docs:
            failed += await _fail(
                engine, queue, doc["_id"], reason, {"status": status, "createdAt": {"$lt": cutoff}}
            )
    return {"failed": failed}
