"""The y-websocket wire format (lib0 encoding), on pycrdt's helpers.

One binary WebSocket message is one frame: a varUint message type, then
- 0 sync: varUint sub-type (0 step 1: a state vector; 1 step 2 and 2 update: a Yjs v1 update),
  then a varUint8Array payload;
- 1 awareness: a varUint8Array awareness update (varUint n, then n times varUint clientID,
  varUint clock, varString JSON state);
- 2 auth: varUint 0 (permission denied), varString reason;
- 3 query awareness: nothing.
A varString is its UTF-8 byte length, then the bytes (pycrdt's Encoder writes the number of
characters instead, wrong past ASCII: the strings here are written by `var_string`).
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

from pycrdt import (
    Doc,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    write_var_uint,
)

EMPTY_UPDATE = b"\x00\x00"  # a Yjs v1 update with no structs and an empty delete set


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class MalformedFrame(ValueError):
    """A frame that is not y-websocket: the connection that sent it is closed."""


def var_string(text: str) -> bytes:
    data = text.encode()
    return bytes(write_var_uint(len(data))) + data


def read_var_uint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedFrame("truncated or oversized varUint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def read_var_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_var_uint(data, pos)
    if pos + length > len(data):
        raise MalformedFrame("truncated varUint8Array")
    return data[pos : pos + length], pos + length


def parse(frame: bytes) -> tuple[int, int | None, bytes]:
    """(message type, sync sub-type or None, payload) of one frame."""
    kind, pos = read_var_uint(frame, 0)
    if kind == MessageType.SYNC:
        sub, pos = read_var_uint(frame, pos)
        payload, _ = read_var_bytes(frame, pos)
        return kind, sub, payload
    if kind == MessageType.AWARENESS:
        payload, _ = read_var_bytes(frame, pos)
        return kind, None, payload
    return kind, None, b""


def sync_step1(doc: Doc[Any]) -> bytes:
    return bytes(create_sync_message(doc))


def sync_step2(doc: Doc[Any], state_vector: bytes) -> bytes:
    update = doc.get_update(state_vector)
    return bytes([MessageType.SYNC, SyncType.STEP2]) + bytes(write_var_uint(len(update))) + update


def update_message(update: bytes) -> bytes:
    return bytes(create_update_message(update))


def awareness_message(update: bytes) -> bytes:
    return bytes(create_awareness_message(update))


def permission_denied(reason: str) -> bytes:
    return bytes([MessageType.AUTH, 0]) + var_string(reason)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class AwarenessTooLarge(ValueError):
    """More awareness clients, or a larger state, than one connection may send."""


# Yjs client ids are 32-bit; lib0 reads no integer past 2^53 (a browser's decoder would throw).
MAX_CLIENT_ID, MAX_CLOCK = 2**32 - 1, 2**53 - 1


def read_awareness(
    update: bytes, max_entries: int, max_state_bytes: int
) -> dict[int, tuple[int, Any]]:
    """{client id: (clock, state)} of an awareness update (state None: the client left); an id
    given twice keeps its last entry, as Yjs applies them."""
    count, pos = read_var_uint(update, 0)
    if count > max_entries:
        raise AwarenessTooLarge("too many awareness clients")
    entries: dict[int, tuple[int, Any]] = {}
    for _ in range(count):
        client, pos = read_var_uint(update, pos)
        clock, pos = read_var_uint(update, pos)
        text, pos = read_var_bytes(update, pos)
        if client > MAX_CLIENT_ID or clock > MAX_CLOCK:
            raise MalformedFrame("awareness client id or clock out of range")
        if len(text) > max_state_bytes:
            raise AwarenessTooLarge("awareness state too large")
        try:
            # NaN and Infinity are not JSON: relayed, they would break every browser's parse.
            state = json.loads(text, parse_constant=_no_constant)
        except ValueError:
            raise MalformedFrame("awareness state is not JSON") from None
        entries[client] = (clock, state)
    return entries


def write_awareness(entries: list[tuple[int, int, Any]]) -> bytes:
    out = bytearray(write_var_uint(len(entries)))
    for client, clock, state in entries:
        out += bytes(write_var_uint(client)) + bytes(write_var_uint(clock))
        out += var_string(json.dumps(state, separators=(",", ":")))
    return bytes(out)
