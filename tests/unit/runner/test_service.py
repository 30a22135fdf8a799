"""Unit tests of tq.runner.service: source size checks and Piston time accounting."""

from __future__ import annotations

from typing import Any

import pytest

from config import Settings
from tq.core.errors import BadRequest, PayloadTooLarge
from tq.runner.service import check_sizes, piston_spent_ms


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
