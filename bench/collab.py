"""`make bench-collab`: the shared editor under typing load, beside the reference Node server.

Starts the embedded database and Redis (bench.procs' Stack), the web process as the Procfile
starts it (one worker), and the reference y-websocket server, `@y/websocket-server` (npm,
pinned in tests/package.json), on the same machine. For N = 10, 50, 100, 200 sessions the same
load generator (bench/collab_load.mjs: the npm y-websocket provider and yjs under Node) opens
two editors per session, each typing 8 updates a second (with jitter), and reports the
update-to-peer latency p50/p99, updates relayed a second, the server's CPU per room and its
memory per room (active, idle and after everyone left). Fresh sessions in every cell.

The reference keeps documents in memory only; ours stores every update in MongoDB before
relaying it (the database's CPU is reported beside the web's). Results go to
bench/results/<date>-collab.json and .md.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient

from bench.loadgen import percentile
from bench.procs import Stack, log, tree_cpu_s
from bench.report import machine, save, today
from tests.support import ROOT, free_port
from tq.core.time import utcnow
from tq.sessions.models import Session, channel_id_for

SIZES = tuple(int(n) for n in os.environ.get("BENCH_COLLAB_SIZES", "10,50,100,200").split(","))
SECONDS = float(os.environ.get("BENCH_DURATION_S", "15"))
RATE = 8.0  # updates a second per editor
REFERENCE = ROOT / "tests/node_modules/@y/websocket-server/src/server.js"
GENERATOR = ROOT / "bench/collab_load.mjs"


async def people(base: str) -> list[dict[str, Any]]:
    """The host and the candidate of every benchmark session (one pair: the per-person limits
    count connections per session)."""
    found = []
    async with aiohttp.ClientSession(base) as http:
        for role in ("interviewer", "candidate"):
            body = {
                "email": f"collab-{role}-{ObjectId()}@bench.example",
                "password": "bench-password-123",
                "name": f"Bench {role}",
                "role": role,
            }
            async with http.post("/api/auth/register", json=body) as resp:
                assert resp.status == 201, await resp.text()
                found.append(await resp.json())
    return found


async def sessions(stack: Stack, host: ObjectId, candidate: ObjectId, count: int) -> list[str]:
    """`count` active sessions of the pair, written as the sessions domain writes them."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(stack.env["MONGODB_URI"])
    now = utcnow()
    docs = []
    for _ in range(count):
        oid = ObjectId()
        docs.append(
            Session(
                id=oid,
                title=f"Collab bench {oid}",
                created_by=host,
                participants=[candidate],
                members=[host, candidate],
                max_participants=1,
                seats_left=0,
                status="active",
                stream_channel_id=channel_id_for(oid),
                stream_sync="ok",
                start_time=now - timedelta(minutes=1),
                duration=120,
                created_at=now,
                updated_at=now,
            ).model_dump_doc()
        )
    await client.get_default_database().sessions.insert_many(docs)
    client.close()
    return [str(doc["_id"]) for doc in docs]


async def load(plan: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        plan_file, out_file = Path(scratch, "plan.json"), Path(scratch, "out.json")
        plan_file.write_text(json.dumps({**plan, "out": str(out_file)}))
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(GENERATOR),
            str(plan_file),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(proc.communicate(), SECONDS + 180)
        if proc.returncode != 0 or not out_file.exists():
            raise RuntimeError(f"the load generator failed: {stderr.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(out_file.read_text())
    return result


def summary(name: str, rooms: int, raw: dict[str, Any], db_cpu_s: float | None) -> dict[str, Any]:
    latencies = raw["latenciesMs"]
    rss = raw["rssKiB"]
    seconds = raw["measuredS"]
    row = {
        "server": name,
        "sessions": rooms,
        "editors": raw["editors"],
        "unsynced": raw["unsynced"],
        "closed": len(raw["closes"]),
        "close_codes": {str(c): raw["closes"].count(c) for c in set(raw["closes"])},
        "updates_sent_per_s": round(raw["sent"] / seconds, 1),
        "updates_relayed_per_s": round(raw["received"] / seconds, 1),
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "server_cpu_cores": round(raw["serverCpuS"] / seconds, 3),
        "server_cpu_ms_per_room_s": round(1000 * raw["serverCpuS"] / seconds / rooms, 2),
        "db_cpu_cores": None if db_cpu_s is None else round(db_cpu_s / seconds, 3),
        "generator_cpu_s": round(raw["generatorCpuS"], 1),
        "rss_mib": {key: round(value / 1024, 1) for key, value in rss.items()},
        "kib_per_active_room": round((rss["active"] - rss["before"]) / rooms, 1),
        "kib_per_idle_room": round((rss["idle"] - rss["before"]) / rooms, 1),
    }
    log(
        f"  {name} N={rooms}: p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms, "
        f"{row['updates_relayed_per_s']} relayed/s of {row['updates_sent_per_s']} sent, "
        f"{row['server_cpu_cores']} cores, {row['kib_per_idle_room']} KiB/idle room"
    )
    return row


async def cell(
    stack: Stack,
    name: str,
    url: str,
    pid: int,
    rooms: list[str],
    params: list[dict[str, str]],
) -> dict[str, Any]:
    plan = {
        "rooms": [{"url": url, "room": room, "params": params} for room in rooms],
        "rate": RATE,
        "seconds": SECONDS,
        "warmupS": 2,
        "serverPid": pid,
        "clockTicks": os.sysconf("SC_CLK_TCK"),
    }
    db_before = tree_cpu_s(stack.db_pid) if stack.db_pid else None
    raw = await load(plan)
    db_cpu = None
    if stack.db_pid and db_before is not None:
        # Over the whole cell (connect, type, idle): an upper bound of the measured window's.
        db_cpu = (tree_cpu_s(stack.db_pid) - db_before) * raw["measuredS"] / (raw["measuredS"] + 8)
    return summary(name, len(rooms), raw, db_cpu)


def table(report: dict[str, Any]) -> str:
    lines = [
        f"# Shared editor under load ({report['date']}, {report['machine']})",
        "",
        f"Two editors per session typing {RATE:g} updates/s each for {SECONDS:g} s; the same "
        "generator (npm y-websocket + yjs) against both servers. Ours stores every update "
        f"in the database ({report['engine']}) before relaying it; the reference keeps "
        "documents in memory only.",
        "",
        "| server | sessions | p50 ms | p99 ms | relayed/s (sent/s) | ratio to ref | web CPU "
        "cores | CPU ms per room-second | DB CPU cores | KiB per active room | KiB per idle "
        "room | RSS MiB before / idle / after close | closed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ours, ref in report["pairs"]:
        for row in (ours, ref):
            ratio = (
                round(row["updates_relayed_per_s"] / ref["updates_relayed_per_s"], 2)
                if ref["updates_relayed_per_s"]
                else "-"
            )
            rss = row["rss_mib"]
            lines.append(
                f"| {row['server']} | {row['sessions']} | {row['p50_ms']} | {row['p99_ms']} "
                f"| {row['updates_relayed_per_s']} ({row['updates_sent_per_s']}) | {ratio} "
                f"| {row['server_cpu_cores']} | {row['server_cpu_ms_per_room_s']} "
                f"| {row['db_cpu_cores'] if row['db_cpu_cores'] is not None else '-'} "
                f"| {row['kib_per_active_room']} | {row['kib_per_idle_room']} "
                f"| {rss['before']} / {rss['idle']} / {rss['afterClose']} | {row['closed']} |"
            )
    return "\n".join(lines) + "\n"


async def main() -> None:
    if not REFERENCE.exists():
        sys.exit("the reference server is missing: run `make setup` (npm ci in tests/)")
    stack = Stack()
    # Every generated editor is one of two people on one address: the request rate limits
    # (a WebSocket's upgrade is a request) would measure their 429s.
    stack.env = {
        **stack.env,
        "RATE_LIMITS_ENABLED": "false",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    }
    pairs = []
    try:
        web, base = await stack.web(1)
        ref_port = free_port()
        reference = await stack.start(
            ["node", str(REFERENCE)],
            {**stack.env, "HOST": "127.0.0.1", "PORT": str(ref_port)},
            ref_port,
            "y-websocket-server",
        )
        host, candidate = await people(base)
        tokens = [{"token": host["token"]}, {"token": candidate["token"]}]
        ours_url = base.replace("http://", "ws://", 1) + "/api/collab"
        ref_url = f"ws://127.0.0.1:{ref_port}"
        log(f"web and reference up; {SECONDS:g} s per cell")
        for size in SIZES:
            ids = await sessions(
                stack, ObjectId(host["user"]["_id"]), ObjectId(candidate["user"]["_id"]), size
            )
            ours = await cell(stack, "tq (Sanic + pycrdt)", ours_url, web.pid, ids, tokens)
            await stack.settle()
            ref = await cell(
                stack,
                "@y/websocket-server",
                ref_url,
                reference.pid,
                [str(ObjectId()) for _ in range(size)],
                [{}, {}],
            )
            pairs.append((ours, ref))
    finally:
        await stack.close()
    report = {
        "date": today(),
        "machine": machine(),
        "engine": stack.engine,
        "seconds": SECONDS,
        "rate_per_editor": RATE,
        "pairs": pairs,
    }
    save(f"{today()}-collab", report, table(report))


if __name__ == "__main__":
    asyncio.run(main())
