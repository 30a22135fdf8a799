"""The history index (blocks of the log with what each update did) gives exactly what
replaying the whole log gives, on a real editing trace in the real database; a long real
trace served by the API replays byte for byte, also in the npm yjs package."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from odmantic import AIOEngine
from pycrdt import Doc, Text

from config import Settings
from tests.collab.test_history import replayed_by_yjs
from tests.collab.traces import TracedUpdate, load, squeezed, stored
from tests.evaluation.test_evaluation import panel
from tq.collab import history
from tq.collab.history import CodeState, Replay, Step
from tq.collab.models import CodeHistoryBlock, CodeUpdate
from tq.core.db import ensure_indexes

TRACE = load()


def replayed(log: list[dict[str, Any]]) -> list[tuple[Step, str]]:
    """Every step of a log, and the code after it, by replaying it all (the reference)."""
    player = Replay()
    out = []
    for position, entry in enumerate(log, 1):
        out.append((player.apply(position, entry), str(player.code)))
    return out


def expected_at(reference: list[tuple[Step, str]], position: int) -> CodeState:
    if position == 0:
        return CodeState("", None, 0, None, None)
    step, code = reference[min(position, len(reference)) - 1]
    return CodeState(code, None, step.position, step.at, step.update_id)


async def write(engine: AIOEngine, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored, and read back as stored (times to the millisecond), in log order."""
    await engine.get_collection(CodeUpdate).insert_many(docs, ordered=True)
    span = {"$gte": docs[0]["_id"], "$lte": docs[-1]["_id"]}
    cursor = engine.get_collection(CodeUpdate).find(
        {"sessionId": docs[0]["sessionId"], "_id": span}
    )
    back: list[dict[str, Any]] = await cursor.sort([("_id", 1)]).to_list(length=None)
    return back


async def test_the_index_gives_what_replaying_the_whole_log_gives(engine: AIOEngine) -> None:
    sid, author = ObjectId(), ObjectId()
    # 700 real transactions (the first one holds 1,406 characters), ended an hour ago: past
    # the late-insert margin.
    log = stored(sid, author, TRACE.updates[:700], datetime.now(UTC) - timedelta(hours=1))
    log = await write(engine, log)
    reference = replayed(log)
    size = 16  # 43 blocks: some carry a base, most are rebuilt from the ones before

    written = await history.index_history(engine, sid, size)
    assert written == 700 // size
    assert await history.index_history(engine, sid, size) == 0  # nothing twice

    indexed = [step async for step in history.steps(engine, sid)]
    assert indexed == [step for step, _ in reference]

    rng = random.Random(3)
    positions = [0, 1, size - 1, size, size + 1, 4 * size, 4 * size + 1, 688, 689, 700, 705]
    for position in positions + [rng.randint(1, 700) for _ in range(30)]:
        got = await history.state_at(engine, sid, position=position)
        want = expected_at(reference, position)
        assert (got.code, got.position, got.at, got.update_id) == (
            want.code,
            want.position,
            want.at,
            want.update_id,
        ), position
    # The record's playback frames: each an edit from the frame before, through the blocks
    # and into the log's tail.
    frames = sorted({1, 15, 16, 17, 64, 65, 300, 688, 699, 700})
    edits = await history.frame_edits(engine, sid, set(frames))
    text = ""
    for position in frames:
        start, deleted, inserted = edits[position]
        text = text[:start] + inserted + text[start + deleted :]
        assert text == reference[position - 1][1], position
    for _ in range(30):  # a time: everything stored by then
        step, _ = reference[rng.randrange(700)]
        moment = step.at + timedelta(milliseconds=rng.randint(0, 999))
        wanted = max(s.position for s, _ in reference if s.at <= moment)
        got = await history.state_at(engine, sid, at=moment)
        assert (got.code, got.position) == (expected_at(reference, wanted).code, wanted)
    before_all = await history.state_at(engine, sid, at=log[0]["at"] - timedelta(seconds=1))
    assert (before_all.code, before_all.position) == ("", 0)

    # Updates inside the late-insert margin are not indexed yet (another process may still
    # store an earlier one before them), but are read from the log.
    young = [CodeUpdate.document(sid, author, traced.update) for traced in TRACE.updates[700:740]]
    young = await write(engine, young)
    assert await history.index_history(engine, sid, size) == 0
    now = await history.state_at(engine, sid)
    assert now.position == 740 and now.code == replayed(log + young)[-1][1]
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert await history.index_history(engine, sid, size, now=later) == 740 // size - 700 // size
    assert [s async for s in history.steps(engine, sid)] == [s for s, _ in replayed(log + young)]

    # A deleted session's code goes: log, index and all.
    await history.forget_session_code(engine, sid)
    for model in (CodeUpdate, CodeHistoryBlock):
        assert await engine.get_collection(model).count_documents({"sessionId": sid}) == 0


async def test_two_indexers_at_once_write_each_block_once(engine: AIOEngine) -> None:
    await ensure_indexes(engine, [CodeHistoryBlock])  # as every process does at start
    sid = ObjectId()
    log = stored(sid, ObjectId(), TRACE.updates[:300], datetime.now(UTC) - timedelta(hours=1))
    log = await write(engine, log)
    results = await asyncio.gather(*(history.index_history(engine, sid, 32) for _ in range(3)))
    blocks = engine.get_collection(CodeHistoryBlock)
    indexes = [b["index"] async for b in blocks.find({"sessionId": sid})]
    assert sorted(indexes) == list(range(300 // 32))
    assert sum(results) >= 300 // 32  # each block written once; who wrote it does not matter
    assert [s async for s in history.steps(engine, sid)] == [s for s, _ in replayed(log)]


async def test_a_long_real_editing_trace_replays_byte_for_byte(
    client: httpx.AsyncClient, engine: AIOEngine, settings: Settings
) -> None:
    """18,335 recorded transactions of a real Svelte component (several days of editing, its
    pauses cut to 10 minutes), stored as the log, indexed as the compaction job does: the
    API's code now and at sampled positions, and the npm yjs package replaying the export,
    all give the recorded text."""
    p = await panel(client)
    sid = ObjectId(p["session"]["_id"])
    updates: list[TracedUpdate] = squeezed(TRACE.updates)
    author = ObjectId(p["candidate"]["user"]["_id"])
    log = await write(
        engine, stored(sid, author, updates, datetime.now(UTC) - timedelta(minutes=10))
    )
    assert await history.index_history(engine, sid, settings.code_history_block_updates) > 0
    host = p["host"]["headers"]

    now = await client.get(f"{p['base']}/code", headers=host)
    assert now.status_code == 200, now.text
    assert now.json()["code"] == TRACE.end_content
    assert now.json()["position"] == len(TRACE.updates)

    doc = Replay(measure=False)
    checks = {1, 511, 512, 513, 9_000, 18_000}
    for position, entry in enumerate(log, 1):
        doc.load(entry["update"])
        if position in checks:
            got = await client.get(f"{p['base']}/code", params={"position": position}, headers=host)
            assert got.json()["code"] == str(doc.code), position

    exported = await client.get(f"{p['base']}/code/export", headers=host)
    assert (await replayed_by_yjs(exported.json()))["code"] == TRACE.end_content


async def test_an_update_stored_before_the_one_it_needs_is_kept_by_the_index(
    engine: AIOEngine,
) -> None:
    """A client may send an update before the one it depends on (Yjs keeps it pending), and
    two processes may store them in that order: the index's bases must keep it, or the code
    rebuilt from them loses text the log holds."""
    writer: Doc[Any] = Doc()
    writer["code"] = mine = Text()
    sent: list[bytes] = []
    writer.observe(lambda event: sent.append(event.update))
    mine.insert(0, "first ")
    mine.insert(6, "needs the first " * 40)  # depends on the update before
    needed, dependent = sent
    filler_doc: Doc[Any] = Doc()
    filler_doc["code"] = other = Text()
    fill: list[bytes] = []
    filler_doc.observe(lambda event: fill.append(event.update))
    for n in range(120):
        other.insert(len(other), f"{n % 10}")
    # The dependent update at position 60, what it needs at 70: a base (every 4 blocks of 16,
    # before position 65) falls between them.
    order = [*fill[:59], dependent, *fill[59:68], needed, *fill[68:]]
    start = datetime.now(UTC) - timedelta(hours=1)
    traced = [TracedUpdate(start + timedelta(seconds=n), u) for n, u in enumerate(order)]
    sid = ObjectId()
    log = await write(
        engine, stored(sid, ObjectId(), traced, datetime.now(UTC) - timedelta(hours=1))
    )
    assert await history.index_history(engine, sid, 16) == len(order) // 16
    reference = replayed(log)
    assert "needs the first" in reference[-1][1]
    for position in (59, 60, 64, 65, 69, 70, 71, 100, len(order)):
        got = await history.state_at(engine, sid, position=position)
        assert got.code == expected_at(reference, position).code, position
    assert [s async for s in history.steps(engine, sid)] == [s for s, _ in reference]
