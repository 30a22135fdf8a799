"""Unit tests of tq.runner.service: source size checks and Piston time accounting."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

from config import Settings
from tq.core.errors import BadRequest, PayloadTooLarge
from tq.runner.service import check_sizes, completed_event, piston_spent_ms, slot_lease_s


@pytest.mark.parametrize("sources", [[""], ["  \n\t"], ["\u00a0\u2028\ufeff"], ["x = 1", " "]])
def test_a_blank_source_is_refused(settings: Settings, sources: list[str]) -> None:
    with pytest.raises(BadRequest) as caught:
        check_sizes(settings, sources, "")
    assert (caught.value.status_code, caught.value.code) == (400, "empty_source")


def test_sources_are_counted_together_in_utf8_bytes(settings: Settings) -> None:
    check_sizes(settings, ["a" * 32768, "b" * 32768], "")  # exactly 65536 bytes
    with pytest.raises(PayloadTooLarge) as caught:
        check_sizes(settings, ["a" * 40000, "b" * 40000], "")
    assert caught.value.code == "source_too_large"
    assert caught.value.message == "The source is 80000 bytes; at most 65536"
    with pytest.raises(PayloadTooLarge, match="65538 bytes"):
        check_sizes(settings, ["é" * 32769], "")  # 32769 characters, 65538 bytes


def test_stdin_has_its_own_limit(settings: Settings) -> None:
    check_sizes(settings, ["x"], "i" * 262144)
    with pytest.raises(PayloadTooLarge) as caught:
        check_sizes(settings, ["x"], "i" * 262145)
    assert (caught.value.status_code, caught.value.code) == (413, "stdin_too_large")


@pytest.mark.parametrize(
    ("answer", "spent"),
    [
        ({"compile": {"wall_time": 120}, "run": {"wall_time": 30}}, 150),
        ({"run": {"wall_time": 7}}, 7),
        ({"compile": None, "run": {"wall_time": None}}, 0),
        ({"language": "python", "version": ""}, 0),
    ],
)
def test_piston_spent_ms_adds_compile_and_run(answer: dict[str, Any], spent: int) -> None:
    assert piston_spent_ms(answer) == spent


def test_a_slot_outlives_the_longest_run_by_a_minute(settings: Settings) -> None:
    tuned = settings.model_copy(update={"runner_compile_timeout_s": 10.0, "runner_wait_s": 30.0})
    assert slot_lease_s(tuned) == 100.0


def test_the_completed_event_rides_in_the_update_that_finishes_the_run() -> None:
    run_id = ObjectId()
    pushed = completed_event(run_id, "completed", "accepted")["outboxEvents"]
    assert pushed["id"] == f"run-{run_id}-completed"
    assert pushed["type"] == "run.completed" and pushed["actorId"] is None
    assert pushed["data"] == {"runId": str(run_id), "status": "completed", "verdict": "accepted"}
