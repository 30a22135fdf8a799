"""Unit tests of tq.collab.history's pure helpers: the diff between two moments and the signal
rules read from the settings."""

from __future__ import annotations

from config import Settings
from tq.collab.history import CodeState, rules_of, unified_diff


def _state(code: str, position: int) -> CodeState:
    return CodeState(code=code, language="python", position=position, at=None, update_id=None)


def test_the_diff_names_each_moment_by_its_position() -> None:
    diff = unified_diff(_state("a\nb\n", 3), _state("a\nc\n", 7), max_lines=100)
    assert diff.splitlines() == [
        "--- code@3",
        "+++ code@7",
        "@@ -1,2 +1,2 @@",
        " a",
        "-b",
        "+c",
    ]
    assert unified_diff(_state("same\n", 1), _state("same\n", 2), max_lines=100) == ""


def test_the_signal_rules_come_from_the_settings(settings: Settings) -> None:
    tuned = settings.model_copy(
        update={
            "code_signal_large_insert_chars": 123,
            "code_signal_bulk_replace_share": 0.7,
            "code_signal_bulk_replace_min_chars": 45,
            "code_signal_idle_s": 67.0,
            "code_signal_burst_chars": 89,
        }
    )
    rules = rules_of(tuned)
    assert (rules.large_insert_chars, rules.bulk_replace_share) == (123, 0.7)
    assert (rules.bulk_replace_min_chars, rules.idle_s, rules.burst_chars) == (45, 67.0, 89)
