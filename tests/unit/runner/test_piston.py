"""Unit tests of tq.runner.piston: stage results in Piston's shape."""

from __future__ import annotations

import pytest

from tq.runner.piston import _empty_stage, _piston_stage, failed_answer
from tq.runner.sandbox import StageResult, StageStatus


def _stage(status: StageStatus, signal: str | None = None, code: int | None = None) -> StageResult:
    return StageResult(
        status=status,
        stdout="out\n",
        stderr="err\n",
        code=code,
        signal=signal,
        truncated=False,
        time_ms=42,
        memory_kb=None,
    )


def test_a_runtime_error_without_a_signal_is_re() -> None:
    assert _piston_stage(_stage("runtime_error", code=1)) == {
        "stdout": "out\n",
        "stderr": "err\n",
        "output": "out\nerr\n",
        "code": 1,
        "signal": None,
        "status": "RE",
        "message": None,
        "wall_time": 42,
        "truncated": False,
    }


@pytest.mark.parametrize(
    ("status", "signal", "piston", "message"),
    [
        ("runtime_error", "SIGSEGV", "SG", "killed by SIGSEGV"),
        ("time_limit", "SIGKILL", "TO", "time limit reached"),
        ("output_limit", None, "OL", "output limit reached"),
        ("memory_limit", None, "ML", "memory limit reached"),
        ("killed", "SIGKILL", "SG", "killed by SIGKILL"),
        ("ok", None, None, None),
    ],
)
def test_piston_status_letters_and_messages(
    status: StageStatus, signal: str | None, piston: str | None, message: str | None
) -> None:
    stage = _piston_stage(_stage(status, signal))
    assert (stage["status"], stage["message"], stage["signal"]) == (piston, message, signal)


def test_empty_stage_carries_the_message_everywhere() -> None:
    assert _empty_stage("compilation failed") == {
        "stdout": "",
        "stderr": "compilation failed",
        "output": "compilation failed",
        "code": None,
        "signal": None,
        "status": "XX",
        "message": "compilation failed",
        "wall_time": 0,
        "truncated": False,
    }


def test_failed_answer_names_the_asked_language_and_no_version() -> None:
    answer = failed_answer({"language": "cobol", "files": []}, "not served")
    assert answer == {"language": "cobol", "version": "", "run": _empty_stage("not served")}
    assert failed_answer({}, "x")["language"] == ""
