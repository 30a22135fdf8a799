"""The code's history: the session's update log replayed, step by step.

Every stored update is applied in `_id` order (the order the log was written) to a fresh
document, and what it did to the code is measured: characters inserted and deleted, and the
length after it. A step's `position` is its ordinal in the log (1 = the first update), so a
position names one state of the document for good. Consecutive steps of one author close in
time are grouped into a checkpoint: an hour of typing is hundreds of entries, not thousands.
"""

from __future__ import annotations

import base64
import difflib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bson import ObjectId
from odmantic import AIOEngine
from pycrdt import Doc, Map, Text

from config import Settings
from tq.collab.models import ClientSignal, ClientSignalKind, CodeUpdate
from tq.core.errors import TooManyRequests
from tq.sessions.models import Session


@dataclass
class Step:
    position: int
    update_id: ObjectId
    at: datetime
    author_id: ObjectId | None
    inserted: int
    deleted: int
    length: int
    preview: str = ""  # the start of what it inserted (PREVIEW_CHARS at most)


PREVIEW_CHARS = 80


@dataclass
class Checkpoint:
    """Consecutive steps of one author, each within `gap` of the one before."""

    first: Step
    last: Step
    inserted: int
    deleted: int
    updates: int


class Replay:
    """A fresh document and the steps that rebuild it."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.code = Text()
        self.meta: Map[Any] = Map()
        self.doc["code"], self.doc["meta"] = self.code, self.meta
        self.inserted = self.deleted = 0
        self.preview = ""
        self.code.observe(self._measure)

    def _measure(self, event: Any) -> None:
        for change in event.delta:
            if "insert" in change:
                inserted = change["insert"]
                if not isinstance(inserted, str):  # an embed (Yjs allows them in a Y.Text)
                    self.inserted += 1
                    continue
                self.inserted += len(inserted)
                if len(self.preview) < PREVIEW_CHARS:
                    self.preview = (self.preview + inserted)[:PREVIEW_CHARS]
            elif "delete" in change:
                self.deleted += change["delete"]

    def apply(self, position: int, entry: dict[str, Any]) -> Step:
        self.inserted = self.deleted = 0
        self.preview = ""
        self.doc.apply_update(entry["update"])
        return Step(
            position=position,
            update_id=entry["_id"],
            at=entry["at"],
            author_id=entry.get("authorId"),
            inserted=self.inserted,
            deleted=self.deleted,
            length=len(self.code),
            preview=self.preview,
        )

    @property
    def language(self) -> str | None:
        language = self.meta.get("language")
        return language if isinstance(language, str) else None


async def log_entries(engine: AIOEngine, session_id: ObjectId) -> AsyncIterator[dict[str, Any]]:
    cursor = engine.get_collection(CodeUpdate).find({"sessionId": session_id}).sort([("_id", 1)])
    async for entry in cursor:
        yield entry


async def steps(engine: AIOEngine, session_id: ObjectId, replay: Replay) -> AsyncIterator[Step]:
    position = 0
    async for entry in log_entries(engine, session_id):
        position += 1
        yield replay.apply(position, entry)


async def checkpoints(
    engine: AIOEngine, session_id: ObjectId, gap: timedelta
) -> AsyncIterator[Checkpoint]:
    current: Checkpoint | None = None
    async for step in steps(engine, session_id, Replay()):
        if step.inserted == 0 and step.deleted == 0 and step.author_id is None:
            continue  # the server's own (the language): no editing
        if (
            current is not None
            and current.last.author_id == step.author_id
            and step.at - current.last.at <= gap
        ):
            current.last = step
            current.inserted += step.inserted
            current.deleted += step.deleted
            current.updates += 1
            continue
        if current is not None:
            yield current
        current = Checkpoint(step, step, step.inserted, step.deleted, 1)
    if current is not None:
        yield current


@dataclass(frozen=True)
class CodeState:
    code: str
    language: str | None
    position: int  # how many updates it holds (0: none yet)
    at: datetime | None  # the time of its last update
    update_id: ObjectId | None


async def state_at(
    engine: AIOEngine,
    session_id: ObjectId,
    *,
    at: datetime | None = None,
    position: int | None = None,
) -> CodeState:
    """The document as it was at `at` (every update stored by then), or after `position`
    updates; with neither, as it is now."""
    replay = Replay()
    last: Step | None = None
    async for entry in log_entries(engine, session_id):
        if at is not None and entry["at"] > at:
            break
        if position is not None and last is not None and last.position >= position:
            break
        last = replay.apply((last.position if last else 0) + 1, entry)
    return CodeState(
        code=str(replay.code),
        language=replay.language,
        position=last.position if last else 0,
        at=last.at if last else None,
        update_id=last.update_id if last else None,
    )


def unified_diff(before: CodeState, after: CodeState) -> str:
    return "".join(
        difflib.unified_diff(
            before.code.splitlines(keepends=True),
            after.code.splitlines(keepends=True),
            fromfile=f"code@{before.position}",
            tofile=f"code@{after.position}",
        )
    )


async def export(engine: AIOEngine, session_id: ObjectId) -> AsyncIterator[dict[str, Any]]:
    """Each stored update as the export writes it: base64 of the Yjs v1 update, in order."""
    position = 0
    async for entry in log_entries(engine, session_id):
        position += 1
        author = entry.get("authorId")
        yield {
            "position": position,
            "id": str(entry["_id"]),
            "at": entry["at"],
            "authorId": str(author) if author else None,
            "update": base64.b64encode(entry["update"]).decode(),
        }


# --- integrity signals: each points at its evidence, none is a verdict


@dataclass(frozen=True)
class SignalRules:
    large_insert_chars: int  # one update inserting at least this much was not typed
    bulk_replace_share: float  # one update deleting and inserting this share of the document
    bulk_replace_min_chars: int  # ...of a document at least this long
    idle_s: float  # a pause at least this long in an author's editing...
    burst_chars: int  # ...followed by one update inserting at least this much


SignalKind = Literal["large_insert", "bulk_replace", "idle_then_burst"]


@dataclass(frozen=True)
class Signal:
    kind: SignalKind
    step: Step
    previous_length: int
    idle_s: float | None = None


def rules_of(settings: Settings) -> SignalRules:
    return SignalRules(
        large_insert_chars=settings.code_signal_large_insert_chars,
        bulk_replace_share=settings.code_signal_bulk_replace_share,
        bulk_replace_min_chars=settings.code_signal_bulk_replace_min_chars,
        idle_s=settings.code_signal_idle_s,
        burst_chars=settings.code_signal_burst_chars,
    )


async def session_signals(
    engine: AIOEngine, session_id: ObjectId, settings: Settings
) -> list[Signal]:
    return detect([step async for step in steps(engine, session_id, Replay())], rules_of(settings))


def detect(all_steps: list[Step], rules: SignalRules) -> list[Signal]:
    """The signals of a replayed log, oldest first. At most one per update: a bulk replace is
    also a large insert, and is reported as the former."""
    found: list[Signal] = []
    last_by_author: dict[ObjectId | None, datetime] = {}
    previous_length = 0
    for step in all_steps:
        if step.author_id is not None:
            idle = None
            before = last_by_author.get(step.author_id)
            if before is not None:
                idle = (step.at - before).total_seconds()
            replaced = (
                previous_length >= rules.bulk_replace_min_chars
                and step.deleted >= rules.bulk_replace_share * previous_length
                and step.inserted >= rules.bulk_replace_share * step.length
            )
            if replaced:
                found.append(Signal("bulk_replace", step, previous_length))
            elif idle is not None and idle >= rules.idle_s and step.inserted >= rules.burst_chars:
                found.append(Signal("idle_then_burst", step, previous_length, idle))
            elif step.inserted >= rules.large_insert_chars:
                found.append(Signal("large_insert", step, previous_length))
            last_by_author[step.author_id] = step.at
        previous_length = step.length
    return found


# --- what the candidate's client reports


async def report(
    engine: AIOEngine,
    settings: Settings,
    session: Session,
    author_id: ObjectId,
    kind: ClientSignalKind,
    length: int | None,
) -> ClientSignal:
    """Store one claim of the candidate's client, up to CODE_CLIENT_SIGNALS_MAX a session."""
    signals = engine.get_collection(ClientSignal)
    if await signals.count_documents({"sessionId": session.id}) >= (
        settings.code_client_signals_max
    ):
        raise TooManyRequests(
            "This session has all the client signals it may keep", code="client_signals_full"
        )
    signal = ClientSignal(session_id=session.id, author_id=author_id, kind=kind, length=length)
    await signals.insert_one(signal.model_dump_doc())
    return signal


async def client_signals(engine: AIOEngine, session_id: ObjectId) -> list[ClientSignal]:
    cursor = engine.get_collection(ClientSignal).find({"sessionId": session_id}).sort([("_id", 1)])
    return [ClientSignal.model_validate_doc(doc) async for doc in cursor]
