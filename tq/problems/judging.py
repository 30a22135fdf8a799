"""What the runner judges a program against, whatever the problem came from (the library, an
organization's bank, a package being imported): tests, limits, and how an answer is compared.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

# How a program's output is compared with the answer when there is no checker: Kattis's
# default output validator (whitespace-separated tokens) or the library's lines.
Comparison = Literal["tokens", "lines"]


@dataclass(frozen=True)
class TestCase:
    input: str
    expected: str
    hidden: bool
    name: str = ""


@dataclass(frozen=True)
class CheckerSpec:
    language: str
    files: tuple[tuple[str, str], ...]
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class JudgeSpec:
    tests: tuple[TestCase, ...]
    time_limit_s: float | None = None  # None: the runner's own limit
    memory_mb: int | None = None
    comparison: Comparison = "lines"
    # Kattis default validator flags: case_sensitive, space_change_sensitive,
    # float_tolerance e, float_relative_tolerance e, float_absolute_tolerance e.
    flags: tuple[str, ...] = ()
    checker: CheckerSpec | None = None


def _lines(text: str) -> list[str]:
    kept = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while kept and not kept[-1]:
        kept.pop()
    return kept


def lines_match(actual: str, expected: str) -> bool:
    """Judged by lines, ignoring trailing spaces and trailing blank lines."""
    return _lines(actual) == _lines(expected)


@dataclass(frozen=True)
class Flags:
    case_sensitive: bool = False
    space_change_sensitive: bool = False
    absolute: float | None = None
    relative: float | None = None


class BadFlags(ValueError):
    pass


def parse_flags(flags: tuple[str, ...] | list[str]) -> Flags:
    """Kattis's default output validator arguments; anything else is refused."""
    case = space = False
    absolute = relative = None
    words = list(flags)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "case_sensitive":
            case = True
        elif word == "space_change_sensitive":
            space = True
        elif word in ("float_tolerance", "float_relative_tolerance", "float_absolute_tolerance"):
            if i + 1 >= len(words):
                raise BadFlags(f"{word} needs a value")
            try:
                value = float(words[i + 1])
            except ValueError:
                raise BadFlags(f"{word} needs a number, not {words[i + 1]!r}") from None
            if not math.isfinite(value) or value < 0:
                raise BadFlags(f"{word} must be a finite number ≥ 0")
            if word != "float_absolute_tolerance":
                relative = value
            if word != "float_relative_tolerance":
                absolute = value
            i += 1
        else:
            raise BadFlags(f"unknown output validator flag {word!r}")
        i += 1
    return Flags(case, space, absolute, relative)


def _float(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def tokens_match(actual: str, expected: str, flags: Flags) -> bool:
    """Kattis's default output validator: whitespace-separated tokens, case-insensitive unless
    `case_sensitive`, numbers within a tolerance when one is given."""
    if flags.space_change_sensitive:
        # whitespace must match exactly too (a trailing newline aside)
        gaps = re.findall(r"\s+", actual.strip()), re.findall(r"\s+", expected.strip())
        if gaps[0] != gaps[1]:
            return False
    got, want = actual.split(), expected.split()
    if len(got) != len(want):
        return False
    tolerant = flags.absolute is not None or flags.relative is not None
    for g, w in zip(got, want, strict=True):
        if tolerant:
            wf = _float(w)
            if wf is not None:
                gf = _float(g)
                if gf is None:
                    return False
                diff = abs(gf - wf)
                if flags.absolute is not None and diff <= flags.absolute:
                    continue
                if flags.relative is not None and diff <= flags.relative * abs(wf):
                    continue
                return False
        if g == w or (not flags.case_sensitive and g.lower() == w.lower()):
            continue
        return False
    return True


def outputs_match(actual: str, expected: str, spec: JudgeSpec | None = None) -> bool:
    if spec is None or spec.comparison == "lines":
        return lines_match(actual, expected)
    return tokens_match(actual, expected, parse_flags(spec.flags))
