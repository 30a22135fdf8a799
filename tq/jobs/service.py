"""Run records: what every job run did, kept for JOB_RUNS_RETENTION_DAYS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from odmantic import AIOEngine
from odmantic.exceptions import DuplicateKeyError
from pymongo import ReturnDocument

from tq.core.queue import JobRun, JobRunStatus, Trigger
from tq.core.time import utcnow


def _runs(engine: AIOEngine) -> Any:
    return engine.get_collection(JobRun)


async def record_start(
    engine: AIOEngine,
    run_id: str,
    job: str,
    args: list[Any],
    trigger: Trigger,
    attempt: int,
    worker: str,
) -> None:
    """Mark the run running; runs started by beat or a raw `celery call` have no queued record
    yet, so one is written. (Not an upsert with $setOnInsert: FerretDB v1 ignores that.)"""
    now = utcnow()
    running = {"status": "running", "attempts": attempt, "startedAt": now, "worker": worker}
    result = await _runs(engine).update_one({"_id": run_id}, {"$set": running})
    if result.matched_count:
        return
    record = JobRun(  # type: ignore[call-arg]  # see tq.core.queue: `id` is not JobRun's key
        run_id=run_id,
        job=job,
        args=args,
        trigger=trigger,
        queued_at=now,
        status="running",
        attempts=attempt,
        started_at=now,
        worker=worker,
    )
    try:
        await engine.save(record)
    except DuplicateKeyError:  # the queued record landed meanwhile
        await _runs(engine).update_one({"_id": run_id}, {"$set": running})


async def record_end(
    engine: AIOEngine,
    run_id: str,
    status: JobRunStatus,
    *,
    counts: dict[str, int] | None = None,
    error: str | None = None,
    retry_in_s: float | None = None,
) -> JobRun | None:
    fields: dict[str, Any] = {"status": status, "error": error}
    if retry_in_s is not None:
        fields["retryInS"] = retry_in_s  # the last delay stays on record after success
    if status in ("succeeded", "failed"):
        fields["finishedAt"] = utcnow()
    if counts is not None:
        fields["counts"] = counts
    doc = await _runs(engine).find_one_and_update(
        {"_id": run_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
    )
    return JobRun.model_validate_doc(doc) if doc else None


async def get_run(engine: AIOEngine, run_id: str) -> JobRun | None:
    return await engine.find_one(JobRun, JobRun.run_id == run_id)


async def list_runs(
    engine: AIOEngine, *, job: str | None = None, failed_only: bool = False, limit: int = 20
) -> list[JobRun]:
    # Records written before the run id became the _id (ObjectId _id, a runId field) are left
    # out rather than failing the listing; retention purges them.
    filter_: dict[str, Any] = {"_id": {"$type": "string"}}
    if job:
        filter_["job"] = job
    if failed_only:
        filter_["status"] = "failed"
    cursor = _runs(engine).find(filter_).sort([("queuedAt", -1)]).limit(limit)
    return [JobRun.model_validate_doc(doc) async for doc in cursor]


async def last_run(engine: AIOEngine, job: str) -> JobRun | None:
    runs = await list_runs(engine, job=job, limit=1)
    return runs[0] if runs else None


async def purge_finished_runs(engine: AIOEngine, retention_days: int) -> int:
    """Drop finished run records older than the retention; returns how many."""
    cutoff = utcnow() - timedelta(days=retention_days)
    result = await _runs(engine).delete_many(
        {"status": {"$in": ["succeeded", "failed"]}, "finishedAt": {"$lt": cutoff}}
    )
    return int(result.deleted_count)
