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
import struct
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bson import ObjectId
from odmantic import AIOEngine
from pycrdt import Doc, Map, Text, merge_updates
from pymongo.errors import DuplicateKeyError

from config import Settings
from tq.collab.models import (
    ClientSignal,
    ClientSignalKind,
    CodeHistoryBlock,
    CodeSnapshot,
    CodeUpdate,
)
from tq.collab.service import LATE_INSERT_MARGIN
from tq.core.erasure import Erasure
from tq.core.errors import TooManyRequests
from tq.core.time import utcnow
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
    """A fresh document and the steps that rebuild it. Measuring what each update did costs
    most of a replay: with `measure=False` it starts only once `measure()` is called (so a
    base loaded before is not measured).

    Lengths are in characters (code points). pycrdt counts a Y.Text's length and its deltas'
    deletions in UTF-8 bytes, which are characters only while the code is ASCII: past the first
    other character the length is read from the text itself, and a deletion is what the length
    lost beyond what was inserted."""

    def __init__(self, *, measure: bool = True) -> None:
        self.doc: Doc[Any] = Doc()
        self.code = Text()
        self.meta: Map[Any] = Map()
        self.doc["code"], self.doc["meta"] = self.code, self.meta
        self.inserted = 0
        self.preview = ""
        self.measuring = False
        self.ascii = True  # every character of the code so far is ASCII
        self.length = 0  # in characters, after the last update applied by `apply`
        if measure:
            self.measure()

    def measure(self) -> Replay:
        if not self.measuring:
            text = str(self.code)
            self.ascii, self.length = text.isascii(), len(text)
            self.code.observe(self._measure)
            self.measuring = True
        return self

    def _measure(self, event: Any) -> None:
        for change in event.delta:
            if "insert" in change:
                inserted = change["insert"]
                if not isinstance(inserted, str):  # an embed (Yjs allows them in a Y.Text)
                    self.inserted += 1
                    continue
                self.inserted += len(inserted)
                self.ascii = self.ascii and inserted.isascii()
                if len(self.preview) < PREVIEW_CHARS:
                    self.preview = (self.preview + inserted)[:PREVIEW_CHARS]

    def load(self, update: bytes) -> None:
        self.doc.apply_update(update)

    def apply(self, position: int, entry: dict[str, Any]) -> Step:
        self.inserted = 0
        self.preview = ""
        self.doc.apply_update(entry["update"])
        length = len(self.code) if self.ascii else len(str(self.code))
        deleted = max(0, self.length + self.inserted - length)
        self.length = length
        return Step(
            position=position,
            update_id=entry["_id"],
            at=entry["at"],
            author_id=entry.get("authorId"),
            inserted=self.inserted,
            deleted=deleted,
            length=length,
            preview=self.preview,
        )

    @property
    def language(self) -> str | None:
        language = self.meta.get("language")
        return language if isinstance(language, str) else None


# --- the history index: blocks of the log with what each update did (CodeHistoryBlock)

# Per update: its id, time (ms since the epoch), inserted, deleted, length after it, the index
# of its author in the block's list (NO_AUTHOR: none), and its preview's length.
PACKED_STEP = struct.Struct("<12sqIIIHH")
NO_AUTHOR = 0xFFFF
BASE_EVERY = 4  # a block in this many carries the document before it


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch: what BSON keeps of a time."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def pack(steps_: list[Step]) -> tuple[bytes, str, list[ObjectId | None]]:
    authors: list[ObjectId | None] = []
    packed, previews = bytearray(), []
    for step in steps_:
        author = NO_AUTHOR
        if step.author_id is not None:
            if step.author_id not in authors:
                authors.append(step.author_id)
            author = authors.index(step.author_id)
        packed += PACKED_STEP.pack(
            step.update_id.binary,
            _ms(step.at),
            step.inserted,
            step.deleted,
            step.length,
            author,
            len(step.preview),
        )
        previews.append(step.preview)
    return bytes(packed), "".join(previews), authors


def unpack(block: dict[str, Any]) -> list[Step]:
    """A stored block's steps (the block as the collection holds it)."""
    found: list[Step] = []
    first = block["index"] * block["size"] + 1
    previews, offset, authors = block["previews"], 0, block["authors"]
    for number, (oid, ms, inserted, deleted, length, author, preview) in enumerate(
        PACKED_STEP.iter_unpack(block["steps"])
    ):
        found.append(
            Step(
                position=first + number,
                update_id=ObjectId(oid),
                at=EPOCH + timedelta(milliseconds=ms),
                author_id=None if author == NO_AUTHOR else authors[author],
                inserted=inserted,
                deleted=deleted,
                length=length,
                preview=previews[offset : offset + preview],
            )
        )
        offset += preview
    return found


def _blocks(engine: AIOEngine) -> Any:
    return engine.get_collection(CodeHistoryBlock)


async def index_history(
    engine: AIOEngine, session_id: ObjectId, size: int, *, now: datetime | None = None
) -> int:
    """Add the blocks the log now fills, counting only updates older than the late-insert
    margin (a younger one may still get an earlier update before it from another process).
    Returns how many blocks it wrote; run twice at once, the second writes nothing twice."""
    settled = ObjectId.from_datetime((now or utcnow()) - LATE_INSERT_MARGIN)
    last = await _blocks(engine).find_one({"sessionId": session_id}, sort=[("index", -1)])
    replay = Replay(measure=False)
    query: dict[str, Any] = {"sessionId": session_id, "_id": {"$lt": settled}}
    index = 0
    rebuilt: list[bytes] = []
    if last is not None:
        size = last["size"]  # a session keeps the block size it started with
        rebuilt = [*await _rebuild(engine, session_id, last), *last["updates"]]
        for update in rebuilt:
            replay.load(update)
        query["_id"]["$gt"] = last["upTo"]
        index = last["index"] + 1
    replay.measure()
    written = 0
    position = index * size
    batch: list[tuple[Step, bytes]] = []
    # A base merges the updates (not `doc.get_update()`, which leaves out an update still
    # waiting for one it depends on: a later one may bring it, and the base must hold it).
    parts = [merge_updates(*rebuilt)] if last is not None else []
    base = _base(parts) if index % BASE_EVERY == 0 else None
    cursor = engine.get_collection(CodeUpdate).find(query).sort([("_id", 1)])
    async for entry in cursor:
        position += 1
        batch.append((replay.apply(position, entry), entry["update"]))
        parts.append(entry["update"])
        if len(batch) < size:
            continue
        steps_, packed_previews, authors = pack([step for step, _ in batch])
        block = CodeHistoryBlock(
            session_id=session_id,
            index=index,
            size=size,
            first_at=batch[0][0].at,
            up_to=batch[-1][0].update_id,
            base=base,
            updates=[update for _, update in batch],
            steps=steps_,
            previews=packed_previews,
            authors=authors,
        )
        try:
            await _blocks(engine).insert_one(block.model_dump_doc())
        except DuplicateKeyError:
            return written  # another run is indexing this session
        written += 1
        index += 1
        batch = []
        base = _base(parts) if index % BASE_EVERY == 0 else None
    if written and not await engine.get_collection(CodeUpdate).find_one({"sessionId": session_id}):
        # The session was deleted while this ran: what it wrote must not outlive it.
        await _blocks(engine).delete_many({"sessionId": session_id})
    return written


def _base(parts: list[bytes]) -> bytes:
    """Everything in `parts` as one update, which then replaces them."""
    merged = merge_updates(*parts) if parts else Doc().get_update()
    parts[:] = [merged]
    return merged


async def _rebuild(engine: AIOEngine, session_id: ObjectId, block: dict[str, Any]) -> list[bytes]:
    """The updates that rebuild the document before `block`: the nearest base at or before
    it, then the updates of the blocks between."""
    if block["base"] is not None:
        return [block["base"]]
    first = block["index"] - block["index"] % BASE_EVERY
    cursor = _blocks(engine).find(
        {"sessionId": session_id, "index": {"$gte": first, "$lt": block["index"]}},
        {"base": 1, "updates": 1, "index": 1},
    )
    before = sorted(await cursor.to_list(length=BASE_EVERY), key=lambda b: b["index"])
    if len(before) != block["index"] - first or before[0]["base"] is None:
        raise RuntimeError(f"the history index of session {session_id} has a hole")
    return [before[0]["base"], *(u for b in before for u in b["updates"])]


async def log_entries(
    engine: AIOEngine, session_id: ObjectId, after: ObjectId | None = None
) -> AsyncIterator[dict[str, Any]]:
    query: dict[str, Any] = {"sessionId": session_id}
    if after is not None:
        query["_id"] = {"$gt": after}
    cursor = engine.get_collection(CodeUpdate).find(query).sort([("_id", 1)])
    async for entry in cursor:
        yield entry


async def steps(engine: AIOEngine, session_id: ObjectId) -> AsyncIterator[Step]:
    """Every step of the log, in order: the indexed ones as stored, the rest replayed."""
    last: dict[str, Any] | None = None
    since_base: list[bytes] = []  # what rebuilds the document after the last block
    cursor = _blocks(engine).find({"sessionId": session_id}).sort([("index", 1)])
    async for block in cursor:
        if block["base"] is not None:
            since_base = [block["base"]]
        since_base.extend(block["updates"])
        for step in unpack(block):
            yield step
        last = block
    position = (last["index"] + 1) * last["size"] if last else 0
    replay = Replay(measure=False)
    for update in since_base:
        replay.load(update)
    replay.measure()
    async for entry in log_entries(engine, session_id, last["upTo"] if last else None):
        position += 1
        yield replay.apply(position, entry)


class Grouper:
    """Consecutive steps of one author, each within `gap` of the one before, into checkpoints
    (the server's own steps that change no text are left out)."""

    def __init__(self, gap: timedelta) -> None:
        self.gap = gap
        self.current: Checkpoint | None = None

    def add(self, step: Step) -> Checkpoint | None:
        """The checkpoint this step closes, if any."""
        if step.inserted == 0 and step.deleted == 0 and step.author_id is None:
            return None  # the server's own (the language): no editing
        current = self.current
        if (
            current is not None
            and current.last.author_id == step.author_id
            and step.at - current.last.at <= self.gap
        ):
            current.last = step
            current.inserted += step.inserted
            current.deleted += step.deleted
            current.updates += 1
            return None
        self.current = Checkpoint(step, step, step.inserted, step.deleted, 1)
        return current

    def finish(self) -> Checkpoint | None:
        current, self.current = self.current, None
        return current


def group(all_steps: Iterable[Step], gap: timedelta) -> list[Checkpoint]:
    grouper = Grouper(gap)
    found = [closed for step in all_steps if (closed := grouper.add(step)) is not None]
    last = grouper.finish()
    return [*found, last] if last is not None else found


Edit = tuple[int, int, str]  # at a character: how many deleted, what inserted


def edit_between(before: str, after: str) -> Edit:
    """One edit turning `before` into `after`, from their common prefix and suffix (compared
    by slices, in halves: a megabyte document costs a few dozen comparisons, not a loop)."""
    limit = min(len(before), len(after))
    low, high = 0, limit
    while low < high:  # the longest common prefix
        middle = (low + high + 1) // 2
        if before[:middle] == after[:middle]:
            low = middle
        else:
            high = middle - 1
    start = low
    low, high = 0, limit - start
    while low < high:  # the longest common suffix, not overlapping the prefix
        middle = (low + high + 1) // 2
        if before[len(before) - middle :] == after[len(after) - middle :]:
            low = middle
        else:
            high = middle - 1
    end = low
    return start, len(before) - start - end, after[start : len(after) - end]


async def frame_edits(
    engine: AIOEngine, session_id: ObjectId, positions: set[int]
) -> dict[int, Edit]:
    """For each of `positions` in order, the edit from the code at the one before (at the
    first: from nothing) to the code there, in one pass over the blocks and the log without
    measuring. Only one frame's code is held at a time."""
    found: dict[int, Edit] = {}
    if not positions:
        return found
    last_wanted = max(positions)
    replay = Replay(measure=False)
    previous = ""
    position = 0

    def take() -> None:
        nonlocal previous
        if position in positions:
            now = str(replay.code)
            found[position] = edit_between(previous, now)
            previous = now

    last: dict[str, Any] | None = None
    cursor = _blocks(engine).find({"sessionId": session_id}).sort([("index", 1)])
    async for block in cursor:
        for update in block["updates"]:
            replay.load(update)
            position += 1
            take()
        last = block
        if position >= last_wanted:
            return found
    async for entry in log_entries(engine, session_id, last["upTo"] if last else None):
        replay.load(entry["update"])
        position += 1
        take()
        if position >= last_wanted:
            break
    return found


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
    """The document as it was at `at` (the log up to its first update stored after it), or
    after `position` updates, whichever comes first; with neither, as it is now. Starts from
    the last indexed block that begins no later, so it reads a few blocks and not the log."""
    query: dict[str, Any] = {"sessionId": session_id}
    if at is not None:
        query["firstAt"] = {"$lte": at}
    block = await _blocks(engine).find_one(query, sort=[("index", -1)])
    if block is not None and position is not None:
        wanted = (position - 1) // block["size"] if position > 0 else -1
        if wanted < block["index"]:
            block = (
                await _blocks(engine).find_one({"sessionId": session_id, "index": wanted})
                if wanted >= 0
                else None
            )
    replay = Replay(measure=False)  # only the code is wanted
    done = 0
    last_at: datetime | None = None
    last_id: ObjectId | None = None
    if block is not None:
        for update in await _rebuild(engine, session_id, block):
            replay.load(update)
        done = block["index"] * block["size"]
        for step, update in zip(unpack(block), block["updates"], strict=True):
            if (position is not None and done >= position) or (at is not None and step.at > at):
                return CodeState(str(replay.code), replay.language, done, last_at, last_id)
            replay.load(update)
            done, last_at, last_id = step.position, step.at, step.update_id
    async for entry in log_entries(engine, session_id, block["upTo"] if block else None):
        if (position is not None and done >= position) or (at is not None and entry["at"] > at):
            break
        replay.load(entry["update"])
        done, last_at, last_id = done + 1, entry["at"], entry["_id"]
    return CodeState(str(replay.code), replay.language, done, last_at, last_id)


NO_NEWLINE = "\n\\ No newline at end of file\n"


def diff_text(before: str, after: str, from_name: str, to_name: str, max_lines: int) -> str:
    """A unified diff that GNU patch applies (a last line without a newline is marked, which
    difflib leaves out). difflib's matching is quadratic in lines at worst: past `max_lines` on
    either side the diff replaces the whole text (still a valid unified diff, in linear time)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    if old == new:
        return ""
    if len(old) <= max_lines and len(new) <= max_lines:
        lines = list(difflib.unified_diff(old, new, fromfile=from_name, tofile=to_name))
        lines[:2] = [f"--- {from_name}\n", f"+++ {to_name}\n"]
    else:
        head = f"--- {from_name}\n+++ {to_name}\n@@ -{_range(len(old))} +{_range(len(new))} @@\n"
        lines = [head, *("-" + line for line in old), *("+" + line for line in new)]
    return "".join(line if line.endswith("\n") else line + NO_NEWLINE for line in lines)


def _range(count: int) -> str:
    return f"{1 if count else 0},{count}"


def unified_diff(before: CodeState, after: CodeState, max_lines: int) -> str:
    return diff_text(
        before.code, after.code, f"code@{before.position}", f"code@{after.position}", max_lines
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
    return detect([step async for step in steps(engine, session_id)], rules_of(settings))


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
                step.inserted > 0
                and previous_length >= rules.bulk_replace_min_chars
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


async def forget_session_code(engine: AIOEngine, session_id: ObjectId) -> None:
    """A deleted session's code goes with it: its log, snapshot, history index and claims."""
    for model in (CodeUpdate, CodeSnapshot, CodeHistoryBlock, ClientSignal):
        await engine.get_collection(model).delete_many({"sessionId": session_id})


async def erase_candidate_code(engine: AIOEngine, erasure: Erasure) -> None:
    """A candidate's erasure: the shared code of those sessions is theirs as much as
    anyone's, and a Yjs log cannot lose one author's updates and stay a document: it goes
    whole (log, snapshot, history index, client claims)."""
    for session_id in erasure.session_ids:
        for model in (CodeUpdate, CodeSnapshot, CodeHistoryBlock, ClientSignal):
            gone = await engine.get_collection(model).delete_many({"sessionId": session_id})
            erasure.removed["code_documents"] += int(gone.deleted_count)


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
