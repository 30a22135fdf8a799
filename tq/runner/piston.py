"""The Piston adapter: one Piston execute request run in the sandbox, answered in Piston's
shape (its stage fields and status letters). Runs on the runner only (workers/runner.py)."""

from __future__ import annotations

import logging
from typing import Any

from config import Settings
from tq.runner.execution import limits_from
from tq.runner.judge import Placement, execute
from tq.runner.languages import BY_NAME, Runtime, resolve
from tq.runner.sandbox import SourceError, StageResult

log = logging.getLogger("tq.runner")

PISTON_STATUS = {
    "time_limit": "TO",
    "output_limit": "OL",
    "memory_limit": "ML",
    "killed": "SG",
}


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
