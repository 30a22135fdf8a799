"""Unit tests of tq.runner.sandbox (pure functions, no services)."""

from __future__ import annotations

import time

import pytest

from tq.runner.sandbox import SourceError, java_classes, safe_relative_path

SOURCE_LIMIT = 64 * 1024


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("class Solution { public static void main(String[] a) {} }", (None, "Solution")),
        (
            "// class Fake { static void main() }\nclass Helper { int f() { return 1; } }\n"
            "public class Main { static class Inner {} public static void main(String... a) {} }",
            ("Main", "Main"),
        ),
        ('class A { String s = "class B { static void main("; }', (None, None)),
        (
            "record P(int x) {} class S { static public void main(String[] a) { char c = '}'; } }",
            (None, "S"),
        ),
        ("public final class App { void run() {} }", ("App", None)),
    ],
)
def test_java_classes(source: str, expected: tuple[str | None, str | None]) -> None:
    assert java_classes(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "a " * (SOURCE_LIMIT // 2),  # took 21 s with an unbounded modifier list
        "/* " * (SOURCE_LIMIT // 3),  # 5.7 s: every unclosed comment scanned to the end
        "class X { " + "static " * (SOURCE_LIMIT // 8) + "}",  # 7.4 s
        '"""' * (SOURCE_LIMIT // 3),
        "class " * (SOURCE_LIMIT // 6),
    ],
)
def test_java_classes_stays_linear_on_hostile_sources(source: str) -> None:
    began = time.monotonic()
    java_classes(source)
    assert time.monotonic() - began < 0.5


@pytest.mark.parametrize("name", [".", "..", "-c", "a/-x", "a/./b", "a//b", "/abs", ".program", ""])
def test_refused_file_names(name: str) -> None:
    with pytest.raises(SourceError):
        safe_relative_path(name)
