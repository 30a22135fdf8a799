"""Unit tests of tq.collab.protocol: lib0 varUint/varUint8Array reading and awareness updates."""

from __future__ import annotations

import pytest

from tq.collab.protocol import (
    AwarenessTooLarge,
    MalformedFrame,
    read_awareness,
    read_var_bytes,
    read_var_uint,
    var_string,
    write_awareness,
)

# count 1; client 7, clock 3, state '{"a":1}' (7 bytes)
ONE_CLIENT = b'\x01\x07\x03\x07{"a":1}'


@pytest.mark.parametrize(
    ("data", "pos", "expected"),
    [
        (b"\x05", 0, (5, 1)),
        (b"\x7f", 0, (127, 1)),
        (b"\xac\x02", 0, (300, 2)),  # 300 = 0b10_0101100
        (b"\x00\x80\x01", 1, (128, 3)),
        (b"\x80" * 9 + b"\x01", 0, (1 << 63, 10)),
    ],
)
def test_read_var_uint_decodes_little_endian_groups_of_seven_bits(
    data: bytes, pos: int, expected: tuple[int, int]
) -> None:
    assert read_var_uint(data, pos) == expected


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\xff", b"\x80" * 10 + b"\x01"])
def test_read_var_uint_refuses_truncated_or_oversized_numbers(data: bytes) -> None:
    with pytest.raises(MalformedFrame):
        read_var_uint(data, 0)


def test_read_var_bytes_returns_the_payload_and_the_next_position() -> None:
    assert read_var_bytes(b"\x03abcX", 0) == (b"abc", 4)
    assert read_var_bytes(b"Z\x00", 1) == (b"", 2)
    with pytest.raises(MalformedFrame):
        read_var_bytes(b"\x05ab", 0)


def test_var_string_counts_utf8_bytes_not_characters() -> None:
    assert var_string("é") == b"\x02\xc3\xa9"


def test_read_awareness_decodes_a_valid_update() -> None:
    assert read_awareness(ONE_CLIENT, max_entries=4, max_state_bytes=100) == {7: (3, {"a": 1})}
    assert write_awareness([(7, 3, {"a": 1})]) == ONE_CLIENT


def test_read_awareness_keeps_the_last_entry_of_a_repeated_client_and_null_states() -> None:
    update = b"\x02" + b"\x07\x01\x04null" + b"\x07\x02\x02[]"
    assert read_awareness(update, max_entries=2, max_state_bytes=10) == {7: (2, [])}
    assert read_awareness(b"\x01\x09\x00\x04null", 1, 10) == {9: (0, None)}


@pytest.mark.parametrize("state", [b"NaN", b"Infinity", b"-Infinity", b'{"x":NaN}', b"{"])
def test_read_awareness_refuses_states_that_are_not_strict_json(state: bytes) -> None:
    update = b"\x01\x07\x03" + bytes([len(state)]) + state
    with pytest.raises(MalformedFrame):
        read_awareness(update, max_entries=4, max_state_bytes=100)


def test_read_awareness_refuses_more_clients_than_allowed_before_reading_them() -> None:
    with pytest.raises(AwarenessTooLarge):
        read_awareness(b"\x03", max_entries=2, max_state_bytes=100)


def test_read_awareness_refuses_a_state_over_the_byte_limit() -> None:
    with pytest.raises(AwarenessTooLarge):
        read_awareness(ONE_CLIENT, max_entries=4, max_state_bytes=6)


@pytest.mark.parametrize("cut", [1, 2, 3, 4, len(ONE_CLIENT) - 1])
def test_read_awareness_refuses_truncated_input(cut: int) -> None:
    with pytest.raises(MalformedFrame):
        read_awareness(ONE_CLIENT[:cut], max_entries=4, max_state_bytes=100)


def test_read_awareness_refuses_a_client_id_past_32_bits() -> None:
    update = b"\x01" + b"\x80\x80\x80\x80\x10" + b"\x00\x02{}"  # client 2**32
    with pytest.raises(MalformedFrame):
        read_awareness(update, max_entries=4, max_state_bytes=100)
