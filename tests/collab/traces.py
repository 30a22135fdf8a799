"""A real editing trace (tests/data/editing-traces) turned into the Yjs updates an editor would
have sent: one update per recorded transaction, with its recorded time."""

from __future__ import annotations

import gzip
import json
import os
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from bson import ObjectId
from pycrdt import Doc, Text

from tests.support import ROOT
from tq.collab.models import CodeUpdate

SVELTE_TRACE = ROOT / "tests/data/editing-traces/sveltecomponent.json.gz"


@dataclass(frozen=True)
class TracedUpdate:
    at: datetime
    update: bytes


@dataclass(frozen=True)
class Trace:
    updates: list[TracedUpdate]
    end_content: str


def load(path: Any = SVELTE_TRACE) -> Trace:
    """Every transaction of the trace applied to a `Y.Text code`, each one update. The trace's
    first transaction is dated 1970 (its starting content): it is given the second one's time."""
    with gzip.open(path, "rt", encoding="utf-8") as raw:
        data = json.load(raw)
    doc: Doc[Any] = Doc()
    doc["code"] = code = Text(data["startContent"])
    updates: list[TracedUpdate] = []
    # What an editor sends is the transaction's own update (`get_update(state)` would carry
    # the document's whole delete set every time).
    sent: list[bytes] = []
    doc.observe(lambda event: sent.append(event.update))
    times = [datetime.fromisoformat(txn["time"].replace("Z", "+00:00")) for txn in data["txns"]]
    if len(times) > 1 and times[0].year == 1970:
        times[0] = times[1]
    for txn, at in zip(data["txns"], times, strict=True):
        with doc.transaction():
            for position, deleted, inserted in txn["patches"]:
                if deleted:
                    del code[position : position + deleted]
                if inserted:
                    code.insert(position, inserted)
        updates.append(TracedUpdate(at.astimezone(UTC), sent.pop()))
    assert str(code) == data["endContent"], "the trace does not replay to its own end"
    return Trace(updates, data["endContent"])


def busiest_hour(updates: list[TracedUpdate]) -> tuple[int, int]:
    """The [start, end) indexes of the hour of the trace with the most updates."""
    best, start = (0, 0), 0
    for end in range(len(updates)):
        while updates[end].at - updates[start].at >= timedelta(hours=1):
            start += 1
        if end + 1 - start > best[1] - best[0]:
            best = (start, end + 1)
    return best


def stored(
    session_id: ObjectId, author_id: ObjectId | None, updates: list[TracedUpdate], end: datetime
) -> list[dict[str, Any]]:
    """The updates as group commit stores them, re-dated to end at `end`, each with an id of
    its own time (as a live session's would be: the history index goes by id), in order."""
    shift = end - updates[-1].at
    process = os.urandom(4)  # as ObjectId's own random part: two logs never share an id
    docs = []
    for number, traced in enumerate(updates):
        doc = CodeUpdate.document(session_id, author_id, traced.update)
        doc["at"] = traced.at + shift
        seconds = int(doc["at"].timestamp())
        doc["_id"] = ObjectId(struct.pack(">I", seconds) + process + number.to_bytes(4))
        docs.append(doc)
    return docs


def squeezed(
    updates: list[TracedUpdate], pause: timedelta = timedelta(minutes=10)
) -> list[TracedUpdate]:
    """The trace with every pause longer than `pause` cut to it (the trace spans months: one
    long session of its editing)."""
    out = [updates[0]]
    for before, traced in pairwise(updates):
        out.append(TracedUpdate(out[-1].at + min(traced.at - before.at, pause), traced.update))
    return out
