"""Unit tests of tq.problems.bank (pure functions, no services)."""

from __future__ import annotations

from tq.problems.bank import outputs_match


def test_outputs_match_by_lines() -> None:
    assert outputs_match("1\n2  \n\n", "1\n2\n")
    assert not outputs_match("1\n3\n", "1\n2\n")
    assert not outputs_match("12\n", "1\n2\n")
