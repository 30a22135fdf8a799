"""Unit tests of tq.runner.sandbox: Java class scan, file names, a stage's result."""

from __future__ import annotations

import time

import pytest

from tq.runner.sandbox import (
    SourceError,
    StageStatus,
    _Capture,
    _result,
    _signal_name,
    java_classes,
    safe_relative_path,
)

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


def _captured(stdout: bytes = b"", stderr: bytes = b"") -> tuple[_Capture, _Capture]:
    out, err = _Capture(1024), _Capture(1024)
    out.add(stdout)
    err.add(stderr)
    return out, err


def _exited(code: int) -> int:
    return code << 8  # a wait status: exit code in the high byte


@pytest.mark.parametrize(
    ("outcome", "status_word", "stderr", "expected"),
    [
        (None, _exited(0), b"", ("ok", 0, None)),
        (None, _exited(1), b"Traceback", ("runtime_error", 1, None)),
        (None, _exited(128 + 11), b"", ("runtime_error", None, "SIGSEGV")),  # bwrap: 128 + N
        (None, 11, b"", ("runtime_error", None, "SIGSEGV")),  # killed by the signal itself
        (None, _exited(128 + 9), b"", ("killed", None, "SIGKILL")),
        (None, 9, b"", ("killed", None, "SIGKILL")),
        (None, None, b"", ("time_limit", None, "SIGKILL")),  # never reaped: the wall clock
        ("time_limit", 9, b"", ("time_limit", None, "SIGKILL")),
        ("time_limit", _exited(0), b"", ("time_limit", 0, "SIGKILL")),
        (None, _exited(128 + 24), b"", ("time_limit", None, "SIGXCPU")),
        (None, _exited(128 + 25), b"", ("output_limit", None, "SIGXFSZ")),
        ("output_limit", _exited(0), b"", ("output_limit", 0, None)),
        (None, _exited(1), b"MemoryError", ("memory_limit", 1, None)),
        (None, 9, b"std::bad_alloc", ("memory_limit", None, "SIGKILL")),
        (None, _exited(1), b"OSError: No space left on device", ("output_limit", 1, None)),
        (None, _exited(200), b"", ("runtime_error", 200, None)),  # past 128 + 64: a plain code
    ],
)
def test_result_classifies_a_stage(
    outcome: str | None,
    status_word: int | None,
    stderr: bytes,
    expected: tuple[StageStatus, int | None, str | None],
) -> None:
    result = _result(outcome, _captured(b"out", stderr), status_word, 17)
    assert (result.status, result.code, result.signal) == expected
    assert (result.stdout, result.stderr, result.time_ms, result.memory_kb) == (
        "out",
        stderr.decode(),
        17,
        None,
    )


def test_result_reports_truncation_and_replaces_broken_utf8() -> None:
    out, err = _Capture(4), _Capture(4)
    out.add(b"ab\xff")
    err.add(b"12345")
    result = _result(None, (out, err), 0, 1)
    assert (result.stdout, result.stderr, result.truncated) == ("ab\ufffd", "1234", True)
    assert result.output == "ab\ufffd1234"


def test_capture_keeps_at_most_its_limit() -> None:
    capture = _Capture(5)
    capture.add(b"abc")
    assert not capture.over
    capture.add(b"def")
    capture.add(b"g")
    assert (bytes(capture.data), capture.over) == (b"abcde", True)


@pytest.mark.parametrize(
    ("number", "name"),
    [(9, "SIGKILL"), (11, "SIGSEGV"), (24, "SIGXCPU"), (0, "SIG0"), (99, "SIG99")],
)
def test_signal_name(number: int, name: str) -> None:
    assert _signal_name(number) == name
