"""Replaying a stored log rebuilds the document byte for byte: 100 generated two-writer traces
with concurrent edits, offline edits merged on reconnecting, and updates stored twice (a
client's retry), replayed through the same code the history routes use (no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pycrdt import Doc, Text

from tq.collab.history import Replay

ALPHABET = "abcdefghij \n(){}=+"


class Writer:
    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.doc["code"] = self.code = Text()
        self.online = True
        self.unsent: list[bytes] = []  # edits made while offline
        self.inbox: list[bytes] = []  # the other's updates on their way here

    def edit(self, rng: random.Random) -> bytes:
        before = self.doc.get_state()
        length = len(self.code)
        if length and rng.random() < 0.3:
            start = rng.randrange(length)
            del self.code[start : min(length, start + rng.randint(1, 5))]
        else:
            text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4)))
            self.code.insert(rng.randint(0, length), text)
        return self.doc.get_update(before)


def trace(seed: int) -> tuple[list[bytes], str]:
    """(the server's log in arrival order, the text both writers converge on)."""
    rng = random.Random(seed)
    writers = [Writer(), Writer()]
    log: list[bytes] = []
    server: Doc[Any] = Doc()
    server["code"] = Text()
    for _ in range(rng.randint(40, 120)):
        me = rng.randrange(2)
        writer, other = writers[me], writers[1 - me]
        roll = rng.random()
        if roll < 0.05:  # connection lost or back
            if writer.online:
                writer.online = False
            else:
                writer.online = True
                # On reconnecting, y-websocket's sync: what the server lacks, in one update.
                catch_up = writer.doc.get_update(server.get_state())
                log.append(catch_up)
                server.apply_update(catch_up)
                other.inbox.append(catch_up)
                writer.unsent.clear()
                writer.inbox.append(server.get_update(writer.doc.get_state()))
            continue
        if roll < 0.25 and writer.inbox:  # a relayed update arrives, maybe late
            writer.doc.apply_update(writer.inbox.pop(rng.randrange(len(writer.inbox))))
            continue
        update = writer.edit(rng)
        if not writer.online:
            writer.unsent.append(update)
            continue
        log.append(update)
        server.apply_update(update)
        if rng.random() < 0.1:
            log.append(update)  # stored twice: the client sent it again after a timeout
        other.inbox.append(update)
    # Everyone back and everything delivered.
    for writer in writers:
        missing = writer.doc.get_update(server.get_state())
        log.append(missing)
        server.apply_update(missing)
    for writer in writers:
        writer.doc.apply_update(server.get_update(writer.doc.get_state()))
    texts = {str(w.code) for w in writers} | {str(server["code"])}
    assert len(texts) == 1  # the writers converged: the trace is a valid one
    return log, texts.pop()


def test_replaying_the_log_rebuilds_the_document_byte_for_byte() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for seed in range(100):
        log, final = trace(seed)
        replay = Replay()
        for position, update in enumerate(log, 1):
            entry = {
                "_id": ObjectId(),
                "at": start + timedelta(seconds=position),
                "authorId": None,
                "update": update,
            }
            step = replay.apply(position, entry)
            assert step.length == len(replay.code)
        assert str(replay.code).encode() == final.encode(), seed
