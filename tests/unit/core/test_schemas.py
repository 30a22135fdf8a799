"""Unit tests of tq.core.schemas (pure functions, no services)."""

from __future__ import annotations

import re
import time

import pydantic
import pytest

from tq.core.schemas import PLAIN_LINE, Body, _plain_line


def accepted(value: str) -> bool:
    """What the server's check says of a title or name."""
    try:
        _plain_line(value)
    except ValueError:
        return False
    return True


def test_body_is_strict_and_closed() -> None:
    class Seats(Body):
        seats: int

    assert Seats.model_validate({"seats": 3}).seats == 3
    for bad in ({"seats": "3"}, {"seats": 3, "extra": 1}, {}):
        with pytest.raises(pydantic.ValidationError):
            Seats.model_validate(bad)


@pytest.mark.parametrize(
    "value",
    ["a" * 1_000_000 + "\x00", " " * 1_000_000, "a " * 500_000 + "\u202e", "x" * 1_000_000],
)
def test_plain_line_stays_linear_and_agrees_with_the_spec_pattern(value: str) -> None:
    """A 32,000-character name with a NUL took 6.9 s with the backtracking pattern."""
    began = time.monotonic()
    assert bool(re.match(PLAIN_LINE, value)) == accepted(value)
    assert time.monotonic() - began < 0.5


@pytest.mark.parametrize(
    "value", ["Hello", "abc\n", "\x00", "a\u2028b", "  ", "\u202eevil", "José", "\U000e0041x"]
)
def test_plain_line_and_its_pattern_agree(value: str) -> None:
    assert bool(re.match(PLAIN_LINE, value)) == accepted(value)
    assert accepted(value) == (value in ("Hello", "José"))
