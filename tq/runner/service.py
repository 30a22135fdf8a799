"""The web side of the code runner: admission, hand-over to the `runs` queue, and reading runs.

Nothing here executes code. A Piston execute is sent to the runner and awaited through a Redis
list the runner pushes its answer to; a session run is stored first (queued), then enqueued like
every other job (with the outbox when the broker is away), and read back by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

from bson import ObjectId
from odmantic import AIOEngine
from redis.asyncio import Redis
from redis.exceptions import RedisError

from config import Settings
from tq.collab.service import shared_code
from tq.core.clients import Clients
from tq.core.db import keyset_page, parse_object_id
from tq.core.erasure import Erasure
from tq.core.errors import (
    BadRequest,
    Conflict,
    GatewayTimeout,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
)
from tq.core.queue import JobQueue
from tq.core.schemas import NON_BLANK
from tq.core.time import utcnow
from tq.jobs.registry import ANNOUNCE_RUN, EXECUTE_SESSION_RUN, RUN_CODE, RUNS_QUEUE
from tq.problems.bank import BY_SLUG
from tq.runner.languages import Runtime, resolve
from tq.runner.models import UNFINISHED, CodeRun
from tq.runner.schemas import ListRunsQuery, PistonExecuteIn, RunIn
from tq.sessions import store
from tq.sessions.log import move_events_to_log, session_event
from tq.sessions.models import FINAL_STATUSES, Session, SessionEvent
from tq.sessions.queries import member_session
from tq.users.models import User
from tq.users.service import get_users

PREVIEW_CHARS = 200

# The runners publish what they serve here at start (language, version, aliases).
RUNTIMES_KEY = "runner:runtimes"


def result_key(request_id: str) -> str:
    return f"runner:result:{request_id}"


async def available_runtimes(redis: Redis) -> list[Runtime]:
    try:
        raw = await redis.get(RUNTIMES_KEY)
    except RedisError:
        raise ServiceUnavailable(
            "The code runner cannot be reached", code="runner_unavailable"
        ) from None
    return [
        Runtime(item["language"], item["version"], tuple(item["aliases"]))
        for item in json.loads(raw or "[]")
    ]


async def runtime_for(redis: Redis, language: str) -> Runtime:
    runtimes = await available_runtimes(redis)
    if not runtimes:
        raise ServiceUnavailable("No code runner is running", code="runner_unavailable")
    runtime = resolve(language, runtimes)
    if runtime is None:
        served = ", ".join(r.language for r in runtimes)
        raise BadRequest(
            f"Unknown language {language!r}; this server runs {served}", code="unknown_language"
        )
    return runtime


def check_sizes(settings: Settings, sources: list[str], stdin: str) -> None:
    if not all(re.search(NON_BLANK, source) for source in sources):
        raise BadRequest("The source is empty", code="empty_source")
    size = sum(len(source.encode()) for source in sources)
    if size > settings.runner_max_source_bytes:
        raise PayloadTooLarge(
            f"The source is {size} bytes; at most {settings.runner_max_source_bytes}",
            code="source_too_large",
        )
    if len(stdin.encode()) > settings.runner_max_stdin_bytes:
        raise PayloadTooLarge(
            f"stdin is larger than {settings.runner_max_stdin_bytes} bytes", code="stdin_too_large"
        )


def _active_key(user_id: object) -> str:
    return f"runner:active:{user_id}"


def _spent_key(user_id: object, window: int) -> str:
    return f"runner:spent:{user_id}:{window}"


async def admit(clients: Clients, user: User, token: str) -> None:
    """Fair use of the runners, checked before anything is queued: a per-user rate (a fixed
    one-minute window), a per-user budget of sandbox seconds a minute (compiles count), a
    per-user cap on runs at once (so one account never holds every slot), and a bound on the
    queue's backlog. `token` names this run among the user's active ones until `release`."""
    settings = clients.settings
    now = time.time()
    window = int(now // 60)
    key = f"runner:rate:{user.id}:{window}"
    active = _active_key(user.id)
    lease_s = slot_lease_s(settings)
    try:
        async with clients.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 61)
            pipe.llen(RUNS_QUEUE)
            pipe.get(_spent_key(user.id, window))
            pipe.zremrangebyscore(active, "-inf", now)
            pipe.zadd(active, {token: now + lease_s})
            pipe.expire(active, int(lease_s) + 1)
            pipe.zcard(active)
            count, _, backlog, spent_ms, _, _, _, running = await pipe.execute()
    except RedisError:
        raise ServiceUnavailable(
            "The code runner's queue cannot be reached", code="runner_unavailable"
        ) from None
    retry_after = str(max(1, (window + 1) * 60 - int(now)))
    refusal: TooManyRequests | None = None
    if count > settings.runner_runs_per_minute:
        refusal = TooManyRequests(
            f"At most {settings.runner_runs_per_minute} runs a minute",
            code="rate_limited",
            headers={"Retry-After": retry_after},
        )
    elif int(spent_ms or 0) >= settings.runner_user_seconds_per_minute * 1000:
        refusal = TooManyRequests(
            f"This account used {settings.runner_user_seconds_per_minute:g} s of the runners "
            "(compiling included) this minute",
            code="runner_time_used",
            headers={"Retry-After": retry_after},
        )
    elif running > settings.runner_user_concurrency:
        refusal = TooManyRequests(
            f"At most {settings.runner_user_concurrency} of your runs at once; wait for the "
            "one running",
            code="runner_user_busy",
            headers={"Retry-After": "2"},
        )
    elif backlog >= settings.runner_max_backlog:
        refusal = TooManyRequests(
            "The code runner is busy; try again shortly",
            code="runner_busy",
            headers={"Retry-After": "5"},
        )
    if refusal is not None:
        await release(clients.redis, user.id, token)
        raise refusal


def slot_lease_s(settings: Settings) -> float:
    """How long a run counts as the user's without news: a run whose release was lost (its
    runner died) stops counting after this."""
    return settings.runner_compile_timeout_s + settings.runner_wait_s + 60


async def renew(redis: Redis, settings: Settings, user_id: object, token: str) -> None:
    """The runner took the run: its lease starts again (a run that waited in the queue must
    not lose it mid-run and let the user start another)."""
    with contextlib.suppress(RedisError):
        await redis.zadd(
            _active_key(user_id), {token: time.time() + slot_lease_s(settings)}, xx=True
        )


async def release(redis: Redis, user_id: object, token: str, spent_ms: int = 0) -> None:
    """The run `token` ended: it no longer counts as active, and the sandbox time it took
    (compile and every test) is charged to this minute's budget."""
    window = int(time.time() // 60)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(_active_key(user_id), token)
            if spent_ms:
                pipe.incrby(_spent_key(user_id, window), spent_ms)
                pipe.expire(_spent_key(user_id, window), 61)
            await pipe.execute()
    except RedisError:
        pass  # the lease ends it; fail open rather than fail the run that just finished


def piston_spent_ms(answer: dict[str, Any]) -> int:
    return sum(int((answer.get(stage) or {}).get("wall_time") or 0) for stage in ("compile", "run"))


# --- Piston


async def execute_piston(clients: Clients, user: User, body: PistonExecuteIn) -> dict[str, Any]:
    settings = clients.settings
    check_sizes(settings, [f.content for f in body.files], body.stdin)
    runtime = await runtime_for(clients.redis, body.language)
    request_id = uuid.uuid4().hex
    await admit(clients, user, request_id)
    spent_ms = 0
    try:
        answer = await _send_execute(clients, runtime, body, request_id)
        spent_ms = piston_spent_ms(answer)
        return answer
    finally:
        await release(clients.redis, user.id, request_id, spent_ms)


async def _send_execute(
    clients: Clients, runtime: Runtime, body: PistonExecuteIn, request_id: str
) -> dict[str, Any]:
    settings = clients.settings
    payload = {
        "request_id": request_id,
        "language": runtime.language,
        "files": [[f.name or "", f.content] for f in body.files],
        "stdin": body.stdin,
        "args": body.args,
        "compile_timeout_ms": body.compile_timeout,
        "run_timeout_ms": body.run_timeout,
    }
    send = partial(
        clients.celery.send_task,
        RUN_CODE,
        args=[payload],
        task_id=request_id,
        retry=False,
        ignore_result=True,
        # Nobody waits for an answer after this: a runner that gets to it later skips it.
        expires=settings.runner_wait_s,
    )
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, send), 2.0)
    except Exception:
        raise ServiceUnavailable(
            "The code runner's queue cannot be reached", code="runner_unavailable"
        ) from None
    return await _await_answer(clients, request_id)


async def _await_answer(clients: Clients, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + clients.settings.runner_wait_s
    # Each block stays under the client's socket timeout; BLPOP returns as soon as it arrives.
    block = max(0.05, min(0.5, clients.settings.redis_timeout_s / 2))
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            item = await clients.redis.blpop(
                [result_key(request_id)], timeout=min(block, remaining)
            )
        except RedisError:
            await asyncio.sleep(min(block, max(remaining, 0)))
            continue
        if item:
            answer: dict[str, Any] = json.loads(item[1])
            return answer
    raise GatewayTimeout("The code runner did not answer in time", code="runner_timeout")


# --- session runs


async def create_session_run(clients: Clients, session_id: str, user: User, body: RunIn) -> CodeRun:
    session = await member_session(clients.engine, session_id, user)
    if session.status in FINAL_STATUSES:
        raise Conflict(f"The session is {session.status}", code="session_closed")
    source, language, update_id = body.source, body.language, None
    if source is None:
        shared = await shared_code(clients.engine, session.id)
        source, update_id = shared.code, shared.update_id
        language = language or shared.language
    # A document nobody opened yet has no meta.language: the session's is what it would get.
    language = language or session.language
    check_sizes(clients.settings, [source], body.stdin)
    problem_version_id = None
    if body.problemId is not None:
        if body.problemId == session.problem_id and session.problem_version_id is not None:
            problem_version_id = session.problem_version_id  # judged as the session pinned it
        elif body.problemId not in BY_SLUG:
            raise BadRequest(f"Unknown problem {body.problemId!r}", code="unknown_problem")
    runtime = await runtime_for(clients.redis, language)
    run_id = ObjectId()
    # Released by the runner when the run ends (or by the lease, if the runner is lost).
    await admit(clients, user, str(run_id))
    run = CodeRun(
        id=run_id,
        session_id=session.id,
        user_id=user.id,
        language=runtime.language,
        version=runtime.version,
        source=source,
        stdin=body.stdin,
        problem_id=body.problemId,
        problem_version_id=problem_version_id,
        code_update_id=update_id,
    )
    run.outbox_events = [
        session_event("run.started", user.id, runId=str(run.id), language=runtime.language)
    ]
    run.events_pending = True
    try:
        await clients.engine.save(run)
    except BaseException:
        # Never stored, never run: the slot it took is given back now, not at the lease's end.
        await release(clients.redis, user.id, str(run_id))
        raise
    # From here the run exists and will run (the queue keeps it in its outbox when the broker
    # is away): the runner releases the slot when it ends.
    await move_events_to_log(
        clients, CodeRun, run.id, session.id, run.outbox_events, f"run:{run.id}"
    )
    await clients.queue.enqueue(EXECUTE_SESSION_RUN, str(run.id))
    return run


async def list_runs(
    engine: AIOEngine, session: Session, query: ListRunsQuery
) -> tuple[list[CodeRun], str | None]:
    runs, more = await keyset_page(
        engine.get_collection(CodeRun),
        CodeRun,
        {"sessionId": session.id},
        [("sessionId", 1), ("_id", -1)],
        [ObjectId(query.before)] if query.before else None,
        query.limit,
    )
    return runs, str(runs[-1].id) if more and runs else None


async def get_run(engine: AIOEngine, session: Session, run_id: str) -> CodeRun:
    oid = parse_object_id(run_id)
    run = (
        await engine.find_one(CodeRun, CodeRun.id == oid, CodeRun.session_id == session.id)
        if oid
        else None
    )
    if run is None:
        raise NotFound("Run not found", code="run_not_found")
    return run


async def previous_run(engine: AIOEngine, session: Session, run: CodeRun) -> CodeRun | None:
    """The session's run just before `run` (by id: the order they were asked for)."""
    doc = await engine.get_collection(CodeRun).find_one(
        {"sessionId": session.id, "_id": {"$lt": run.id}}, sort=[("sessionId", 1), ("_id", -1)]
    )
    return CodeRun.model_validate_doc(doc) if doc else None


async def erase_candidate_runs(engine: AIOEngine, erasure: Erasure) -> None:
    """A candidate's erasure: their runs (code, input, output) in those sessions go."""
    if erasure.user_id is None or not erasure.session_ids:
        return
    gone = await engine.get_collection(CodeRun).delete_many(
        {"sessionId": {"$in": erasure.session_ids}, "userId": erasure.user_id}
    )
    erasure.removed["runs"] += int(gone.deleted_count)


async def forget_session_runs(engine: AIOEngine, session_id: ObjectId) -> None:
    """A deleted session's code runs go with it."""
    await engine.get_collection(CodeRun).delete_many({"sessionId": session_id})


# --- a run's end, told


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


async def fail_run(
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


async def announce_run_completion(clients: Clients, run_id: str) -> dict[str, int]:
    """`run.completed` on the session's channel, so both clients see the run end."""
    engine, stream = clients.engine, clients.stream
    oid = parse_object_id(run_id)
    run = await engine.find_one(CodeRun, CodeRun.id == oid) if oid else None
    if run is None or run.status in UNFINISHED:
        return {"skipped": 1}
    # The run's events into the session's log (the runner process only wrote them down).
    await move_events_to_log(
        clients, CodeRun, run.id, run.session_id, run.outbox_events, f"run:{run.id}"
    )
    if not stream.configured:
        return {"skipped_unconfigured": 1}
    session = await store.find(engine, run.session_id)
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
            failed += await fail_run(
                engine, queue, doc["_id"], reason, {"status": status, "createdAt": {"$lt": cutoff}}
            )
    return {"failed": failed}
