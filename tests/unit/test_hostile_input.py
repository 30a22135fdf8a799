"""Pure checks that read hostile input before any limit applies (the runner reads a Java source
before its sandbox starts; the API checks titles before their length): what they decide, and
that a worst-case input of the largest allowed size cannot stall them. The bound is generous
(a hundredth of what the quadratic versions took), so it fails only on a regression."""

from __future__ import annotations

import re
import time

import pytest

from tq.core.schemas import PLAIN_LINE, _plain_line
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


def accepted(value: str) -> bool:
    """What the server's check says of a title or name."""
    try:
        _plain_line(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", [".", "..", "-c", "a/-x", "a/./b", "a//b", "/abs", ".program", ""])
def test_refused_file_names(name: str) -> None:
    with pytest.raises(SourceError):
        safe_relative_path(name)


@pytest.mark.parametrize(
    ("url", "address", "expected_url", "host"),
    [
        (
            "https://hooks.example.com/x?y=1",
            "93.184.216.34",
            "https://93.184.216.34/x?y=1",
            "hooks.example.com",
        ),
        (
            "https://hooks.example.com:8443/x",
            "2606:4700::1111",
            "https://[2606:4700::1111]:8443/x",
            "hooks.example.com:8443",
        ),
    ],
)
def test_a_webhook_connects_to_the_address_it_checked(
    url: str, address: str, expected_url: str, host: str
) -> None:
    """DNS rebinding: the name is resolved and checked once, and the request goes to that
    address, with the name kept for the Host header and for TLS (SNI, certificate)."""
    from tq.core.ssrf import pinned_request

    pinned, headers, extensions = pinned_request(url, address)
    assert pinned == expected_url
    assert headers == {"host": host}
    assert extensions == {"sni_hostname": "hooks.example.com"}
