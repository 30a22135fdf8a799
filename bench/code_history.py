"""`make bench-code`: the code history of a one-hour session, and the integrity signals' accuracy.

The session is real editing: the busiest hour of a recorded trace (tests/data/editing-traces,
the Svelte component: one update per recorded transaction, at its recorded time), after the
document as it stood before that hour (one update by nobody, like a problem's starter code).
The log is written as group commit writes it, then the web process (as the Procfile starts it)
answers the history routes for the host:

- `GET …/code?position=` and `?at=` at random moments (p50/p95, ms);
- the whole timeline, page after page; a diff between two random moments; the signals;
- the log's size: its documents' BSON bytes and, where the engine reports it, the collection's
  storage and index size;
- the reference, in the same run: the npm `yjs` package under Node rebuilding the final
  document from the same export (Y.applyUpdate, one by one, in memory).

The whole trace (several days of editing) is measured the same way as a stress row.

Signal accuracy needs no server: generated sessions of typed-only code and of the same code with
one paste, replayed and run through the detector with the default settings; recall and false
positives per signal. Results go to bench/results/<date>-code.json and .md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from bson import BSON, ObjectId
from motor.motor_asyncio import AsyncIOMotorClient
from odmantic import AIOEngine
from pycrdt import merge_updates

from bench.collab import people, sessions
from bench.loadgen import percentile
from bench.procs import Stack, log
from bench.report import machine, save, today
from config.settings import load_settings
from tests.collab.test_signals import PROGRAM, Author
from tests.collab.traces import TracedUpdate, busiest_hour, load, squeezed, stored
from tests.support import ROOT
from tq.collab.history import Replay, detect, index_history, rules_of

SAMPLES = int(os.environ.get("BENCH_CODE_SAMPLES", "200"))
GENERATED = int(os.environ.get("BENCH_CODE_GENERATED", "1000"))
REPLAYER = ROOT / "tests/clients/replay.mjs"


async def write_log(
    stack: Stack, session_id: str, author: str, updates: list[TracedUpdate], starter: bytes | None
) -> None:
    """The updates as group commit stores them, ending 10 minutes ago (every update is past
    the late-insert margin, as in a session that ended a while ago)."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(stack.env["MONGODB_URI"])
    end = datetime.now(UTC) - timedelta(minutes=10)
    if starter is not None:
        first_at = updates[0].at - timedelta(seconds=1)
        updates = [TracedUpdate(first_at, starter), *updates]
    docs = stored(ObjectId(session_id), ObjectId(author), updates, end)
    if starter is not None:
        docs[0]["authorId"] = None  # nobody's: like a problem's starter code
    log_ = client.get_default_database()["code_updates"]
    for start in range(0, len(docs), 5000):
        await log_.insert_many(docs[start : start + 5000], ordered=True)
    client.close()


async def index(stack: Stack, session_ids: list[str]) -> dict[str, int]:
    """The compaction job's history indexing, run here as the worker runs it."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
        stack.env["MONGODB_URI"], tz_aware=True
    )
    engine = AIOEngine(client, database=client.get_default_database().name)
    size = stack.settings().code_history_block_updates
    written = {sid: await index_history(engine, ObjectId(sid), size) for sid in session_ids}
    client.close()
    return written


async def log_size(stack: Stack, session_id: str) -> dict[str, Any]:
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(stack.env["MONGODB_URI"])
    db = client.get_default_database()
    total = count = 0
    async for doc in db["code_updates"].find({"sessionId": ObjectId(session_id)}):
        total += len(BSON.encode(doc))
        count += 1
    index_bytes = 0
    async for doc in db["code_history_blocks"].find({"sessionId": ObjectId(session_id)}):
        index_bytes += len(BSON.encode(doc))
    size: dict[str, Any] = {
        "updates": count,
        "bson_bytes": total,
        "history_index_bson_bytes": index_bytes,
    }
    try:
        stats = await db.command("collStats", "code_updates")
        size["storage_bytes"] = stats.get("storageSize")
        size["index_bytes"] = stats.get("totalIndexSize")
    except Exception as exc:  # the engine may not report it
        size["storage_bytes"] = size["index_bytes"] = None
        log(f"  collStats unavailable: {exc}")
    client.close()
    return size


def timings(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 1),
        "p95_ms": round(percentile(samples, 95) * 1000, 1),
        "max_ms": round(max(samples) * 1000, 1),
    }


async def measure(base: str, token: str, session_id: str) -> dict[str, Any]:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/sessions/{session_id}/code"
    async with aiohttp.ClientSession(base, headers=headers) as http:

        async def get(url: str, **params: Any) -> tuple[float, Any]:
            started = time.perf_counter()
            async with http.get(url, params=params) as resp:
                body = await resp.json()
                assert resp.status == 200, body
            return time.perf_counter() - started, body

        _, now = await get(path)
        positions = now["position"]
        _, first = await get(path, position=1)
        start = datetime.fromisoformat(first["at"])
        end = datetime.fromisoformat(now["at"])
        span = (end - start).total_seconds()
        at_position = [
            (await get(path, position=rng.randint(1, positions)))[0] for _ in range(SAMPLES)
        ]
        at_time = []
        for _ in range(SAMPLES):
            moment = start + timedelta(seconds=rng.uniform(0, span))
            at_time.append((await get(path, at=moment.isoformat()))[0])
        whole_timelines, entries, pages = [], 0, 0
        for _ in range(20):
            started = time.perf_counter()
            cursor: int | None = None
            entries = pages = 0
            while True:
                params: dict[str, Any] = {"limit": 500}
                if cursor is not None:
                    params["after"] = cursor
                _, page = await get(f"{path}/timeline", **params)
                entries += len(page["checkpoints"])
                pages += 1
                cursor = page["nextCursor"]
                if cursor is None:
                    break
            whole_timelines.append(time.perf_counter() - started)
        diffs = []
        for _ in range(50):
            a, b = sorted(rng.randint(1, positions) for _ in range(2))
            diffs.append((await get(f"{path}/diff", **{"from": a, "to": b}))[0])
        signals = [(await get(f"{path}/signals"))[0] for _ in range(20)]
        _, found = await get(f"{path}/signals")
        started = time.perf_counter()
        _, exported = await get(f"{path}/export")
        export_s = time.perf_counter() - started
    reference = node_replay(exported)
    assert reference["code"] == now["code"], "yjs and the server disagree on the final code"
    return {
        "updates": positions,
        "code_chars": len(now["code"]),
        "span_min": round(span / 60, 1),
        "code_at_position": timings(at_position),
        "code_at_time": timings(at_time),
        "timeline": {**timings(whole_timelines), "entries": entries, "pages": pages},
        "diff": timings(diffs),
        "signals": {**timings(signals), "found": len(found["signals"])},
        "export_ms": round(export_s * 1000, 1),
        "reference_yjs_rebuild_ms": reference["ms"],
    }


def node_replay(exported: dict[str, Any]) -> dict[str, Any]:
    """The reference: npm yjs rebuilding the final document from the export, timed in Node."""
    out = subprocess.run(
        ["node", str(REPLAYER), "--time"],
        input=json.dumps(exported).encode(),
        capture_output=True,
        check=True,
        cwd=ROOT / "tests",
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def accuracy() -> dict[str, Any]:
    """Typed-only sessions vs the same with one paste (between the large-insert threshold and
    the program's length), under the default settings' rules."""
    rules = rules_of(load_settings(_env_file=None, jwt_secret="x" * 40))
    program = PROGRAM * 4  # ~900 characters: room for a paste of any size the rules look at
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    typed_flagged: dict[str, int] = {}
    typed_sessions_flagged = 0
    pastes = found = 0
    for seed in range(GENERATED):
        rng = random.Random(seed)
        typed: list[dict[str, Any]] = []
        Author(typed, start).type(program, rng)
        signals = detect(replay(typed), rules)
        typed_sessions_flagged += bool(signals)
        for signal in signals:
            typed_flagged[signal.kind] = typed_flagged.get(signal.kind, 0) + 1
        pasted: list[dict[str, Any]] = []
        author = Author(pasted, start)
        size = rng.randint(rules.large_insert_chars, len(program) // 2)
        cut = rng.randint(0, len(program) - size)
        author.type(program[:cut], rng)
        author.change(
            rng.uniform(0.5, 30),
            lambda code, c=cut, s=size: code.insert(len(code), program[c : c + s]),
        )
        author.type(program[cut + size :], rng)
        pastes += 1
        paste_position = next(
            index for index, step in enumerate(replay(pasted), 1) if step.inserted == size
        )
        found += any(s.step.position == paste_position for s in detect(replay(pasted), rules))
    return {
        "sessions": GENERATED,
        "program_chars": len(program),
        "rules": rules.__dict__,
        "paste_recall": round(found / pastes, 4),
        "typed_sessions_flagged_share": round(typed_sessions_flagged / GENERATED, 4),
        "typed_false_positives_by_kind": typed_flagged,
    }


def replay(log_: list[dict[str, Any]]) -> list[Any]:
    player = Replay()
    return [player.apply(position, entry) for position, entry in enumerate(log_, 1)]


def table(report: dict[str, Any]) -> str:
    lines = [
        f"# Code history ({report['date']}, {report['machine']}, {report['engine']})",
        "",
        "The busiest hour of a real editing trace (and the whole trace as a stress row), stored "
        "as the update log; the web process answers the host. Latency per request, ms.",
        "",
        "| log | updates | code chars | code@position p50 / p95 | code@time p50 / p95 "
        "| whole timeline p50 / p95 (entries) | diff p95 | signals p95 | export | npm yjs "
        "rebuild (reference) | log BSON KiB | history index BSON KiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report["logs"].items():
        size = row["size"]
        lines.append(
            f"| {name} | {row['updates']} | {row['code_chars']} "
            f"| {row['code_at_position']['p50_ms']} / {row['code_at_position']['p95_ms']} "
            f"| {row['code_at_time']['p50_ms']} / {row['code_at_time']['p95_ms']} "
            f"| {row['timeline']['p50_ms']} / {row['timeline']['p95_ms']} "
            f"({row['timeline']['entries']}) | {row['diff']['p95_ms']} "
            f"| {row['signals']['p95_ms']} | {row['export_ms']} "
            f"| {row['reference_yjs_rebuild_ms']} | {round(size['bson_bytes'] / 1024)} "
            f"| {round(size['history_index_bson_bytes'] / 1024)} |"
        )
    acc = report["accuracy"]
    lines += [
        "",
        f"Signal accuracy on {acc['sessions']} generated sessions (a {acc['program_chars']}-"
        "character program typed with human pauses and short autocompletions, and the same with "
        f"one paste of {acc['rules']['large_insert_chars']} characters or more), default rules:",
        "",
        f"- paste recall: {acc['paste_recall']}",
        f"- typed-only sessions with any signal: {acc['typed_sessions_flagged_share']} "
        f"(by kind: {acc['typed_false_positives_by_kind'] or 'none'})",
    ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    trace = load()
    first, last = busiest_hour(trace.updates)
    starter = merge_updates(*(u.update for u in trace.updates[:first])) if first else None
    stack = Stack()
    stack.env = {**stack.env, "RATE_LIMITS_ENABLED": "false"}
    report: dict[str, Any] = {"date": today(), "machine": machine(), "engine": stack.engine}
    try:
        _, base = await stack.web(1)
        host, candidate = await people(base)
        host_id, candidate_id = host["user"]["_id"], candidate["user"]["_id"]
        hour, whole = await sessions(stack, ObjectId(host_id), ObjectId(candidate_id), 2)
        await write_log(stack, hour, candidate_id, trace.updates[first:last], starter)
        await write_log(stack, whole, candidate_id, squeezed(trace.updates), None)
        report["history_index_blocks"] = await index(stack, [hour, whole])
        report["logs"] = {}
        for name, session_id in (("busiest hour", hour), ("whole trace", whole)):
            log(f"measuring {name}")
            row = await measure(base, host["token"], session_id)
            row["size"] = await log_size(stack, session_id)
            report["logs"][name] = row
    finally:
        await stack.close()
    log("signal accuracy")
    report["accuracy"] = accuracy()
    save(f"{today()}-code", report, table(report))


if __name__ == "__main__":
    if not REPLAYER.exists():
        sys.exit("tests/clients/replay.mjs is missing")
    asyncio.run(main())
