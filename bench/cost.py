"""`make bench-cost` (issue 24): what each read route costs the web process, in one run, beside
the bare baseline (bench/baseline.py: the same MongoDB and Redis reads, none of our layers), a
lean Node server doing the same reads (bench/node/server.mjs: Express, Mongoose lean reads,
jsonwebtoken, node-redis) and the code before issue 24 (BENCH_BASE, a git worktree; see bench/compare.py). Run as
`python -m bench.cost [REV]`. Writes bench/results/<date>-cost.md and .json.

Two phases, each a table:
- ceiling: right after the accounts are made (a few sessions and users, 60 messages), the
  database answers from memory and is not the bottleneck: req/s of one web process at c=16
  shows the server's own ceiling;
- cost: with 2,000 sessions, 500 more users and 1,000 messages, CPU per request of each
  process, as the ratio to the baseline (target at most 1.2) and the change from before
  (target at least 25 % less on the list, active and history routes).
The three servers take turns route by route (the order rotating) on one database, with rate
limits off (the limiter's cost is not the code's). On MongoDB: BENCH_MONGODB_URL (or
TEST_MONGODB_URL) points the run at it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import aiohttp
from bson import ObjectId

from bench.api import READ_ROUTES, endpoint_specs, prepare
from bench.compare import head_label, start_web, take_turns, worktree
from bench.procs import Stack, log, tree_cpu_s
from bench.report import machine, save, today
from bench.seed import Seeder
from tests.support import ROOT, free_port

# The commit before issue 24's first cut (be61eb9).
BASE = os.environ.get("BENCH_BASE", "804dc5b")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
CEILING_ROUNDS = int(os.environ.get("BENCH_CEILING_ROUNDS", "3"))
SIDES = ("baseline", "node", "before", "after")
# Issue 24's targets.
MAX_RATIO = 1.2
CUT_ROUTES = ("GET /api/sessions?limit=20", "GET /api/sessions/active", "GET /api/chat/history/:id")
MIN_CUT = 0.25


async def idle_cpu(pid: int, seconds: float = 5.0) -> float:
    """What the process burns with no request (background tasks, driver threads), in ms per
    second: at a low request rate it is billed to each request."""
    before = tree_cpu_s(pid)
    await asyncio.sleep(seconds)
    return round((tree_cpu_s(pid) - before) * 1000 / seconds, 1)


async def same_answers(
    specs: dict[str, Any], routes: list[str], before: str, after: str
) -> dict[str, bool]:
    """Each route's body from the code before and after, byte for byte (issue 24 changes how
    answers are built, never what they say)."""
    same = {}
    async with aiohttp.ClientSession() as http:
        for name in routes:
            method, path, headers, body = specs[name][0](0)
            bodies = []
            for base in (before, after):
                async with http.request(method, base + path, headers=headers, json=body) as resp:
                    bodies.append(await resp.read())
            same[name] = bodies[0] == bodies[1]
    return same


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def cost_rows(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each route's CPU per request beside the baseline and before, and the targets met."""
    out = []
    for name, row in rows.items():
        after, before, bare = row["after_cpu_ms"], row["before_cpu_ms"], row["baseline_cpu_ms"]
        ratio = _ratio(after, bare)
        node = row.get("node_cpu_ms")
        cut = round(1 - after / before, 3) if after is not None and before else None
        out.append(
            {
                "name": name,
                **row,
                "after_over_baseline": ratio,
                "before_over_baseline": _ratio(before, bare),
                "after_over_node": _ratio(after, node),
                "before_over_node": _ratio(before, node),
                "cut": cut,
                "within_ratio": ratio is not None and ratio <= MAX_RATIO,
                "cut_met": None if name not in CUT_ROUTES else cut is not None and cut >= MIN_CUT,
            }
        )
    return out


def _yes(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "**no**")


def table(report: dict[str, Any]) -> str:
    lines = [
        f"# Cost per request ({report['date']})",
        "",
        f"{report['machine']}, MongoDB wire: {report['engine']}. Before: `{report['base']}`; "
        f"after: `{report['head']}`; baseline: bench/baseline.py (Sanic + motor, no layers); "
        "node: bench/node/server.mjs (Express + Mongoose lean reads + jsonwebtoken + node-redis). "
        f"One process each (WORKERS=1), c={report['concurrency']}, rate limits off, taking turns "
        "route by route (the order rotating); medians. CPU is each serving process's own, per "
        "request.",
        "",
        f"## Cost: {report['rounds']} rounds of {report['duration_s']} s per cell, 2,000 sessions",
        "",
        f"Targets: after/baseline at most {MAX_RATIO}; at least {MIN_CUT:.0%} less than before "
        "on the list, active and history.",
        "",
        "| route | CPU ms/req baseline | node | before | after | before/baseline | "
        f"after/baseline | ≤ {MAX_RATIO} | less than before | ≥ {MIN_CUT:.0%} | before/node | "
        "after/node | errors |",
        "|---|---:|---:|---:|---:|---:|---:|:-:|---:|:-:|---:|---:|---:|",
    ]
    for row in report["cost"]:
        cut = f"{row['cut']:.0%}" if row["cut"] is not None else ""
        lines.append(
            f"| {row['name']} | {row['baseline_cpu_ms']} | {row.get('node_cpu_ms')} | "
            f"{row['before_cpu_ms']} | {row['after_cpu_ms']} | {row['before_over_baseline']} | "
            f"{row['after_over_baseline']} | {_yes(row['within_ratio'])} | {cut} | "
            f"{_yes(row['cut_met'])} | {row['before_over_node']} | {row['after_over_node']} | "
            f"{row['errors']} |"
        )
    same = report["same_answers"]
    differ = [name for name, equal in same.items() if not equal]
    lines += [
        "",
        f"Answers of the code before and after, byte for byte, on {len(same)} routes: "
        + (f"**differ on {', '.join(differ)}**." if differ else "identical."),
    ]
    idle = ", ".join(f"{side} {ms}" for side, ms in report["idle_cpu_ms_per_s"].items())
    lines += [
        "",
        f"Idle CPU of each process, ms per second (included above): {idle}.",
        "",
        f"## Ceiling: {report['ceiling_rounds']} rounds of {report['duration_s']} s per cell, "
        "a small data set the database holds in memory",
        "",
        "Measured req/s, and what one process would serve with a core of its own and a database "
        "that keeps up (1,000 ms / its CPU ms per request): on the embedded engine the lists "
        "and history still wait on the database even here.",
        "",
        "| route | "
        + " | ".join(f"req/s {side}" for side in SIDES)
        + " | "
        + " | ".join(f"CPU ms/req {side}" for side in SIDES)
        + " | "
        + " | ".join(f"per core {side}" for side in SIDES)
        + " |",
        "|---|" + "---:|" * (3 * len(SIDES)),
    ]
    for name, row in report["ceiling"].items():
        cells = [row[f"{side}_rps"] for side in SIDES] + [row[f"{side}_cpu_ms"] for side in SIDES]
        cells += [
            round(1000 / row[f"{side}_cpu_ms"]) if row[f"{side}_cpu_ms"] else "" for side in SIDES
        ]
        lines.append(f"| {name} | " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


async def main(rev: str) -> None:
    earlier = worktree(rev)
    stack = Stack()
    stack.env = {**stack.env, "RATE_LIMITS_ENABLED": "false"}
    only = [r for r in os.environ.get("BENCH_ROUTES", "").split(",") if r]
    routes = [r for r in READ_ROUTES if not only or r in only]
    report: dict[str, Any] = {
        "date": today(),
        "machine": machine(),
        "engine": stack.engine,
        "base": rev,
        "head": head_label(),
        "concurrency": int(os.environ.get("BENCH_CONCURRENCY", "16")),
        "rounds": ROUNDS,
        "ceiling_rounds": CEILING_ROUNDS,
        "duration_s": float(os.environ.get("BENCH_DURATION_S", "3")),
    }
    try:
        after = await start_web(stack, ROOT, "web-after")
        before = await start_web(stack, earlier, "web-before")
        ctx = await prepare(after[1])
        baseline = await stack.baseline(ctx["user_id"])
        node_port = free_port()
        node = (
            await stack.start(
                ["node", str(ROOT / "bench/node/server.mjs"), str(node_port)],
                stack.env,
                node_port,
                "node",
            ),
            f"http://127.0.0.1:{node_port}",
        )
        sides = {"baseline": baseline, "node": node, "before": before, "after": after}
        specs = endpoint_specs(ctx)
        report["idle_cpu_ms_per_s"] = {
            side: await idle_cpu(proc.pid) for side, (proc, _) in sides.items()
        }
        log(f"idle CPU, ms/s: {report['idle_cpu_ms_per_s']}")
        seeder = Seeder(stack)
        host = ObjectId(ctx["user_id"])
        await seeder.messages(ObjectId(ctx["big"]), host, 60)
        log("ceiling: a small data set")
        report["ceiling"] = await take_turns(stack, sides, specs, routes, CEILING_ROUNDS)
        log("seeding 500 users, 2,000 sessions and 1,000 messages")
        await seeder.users(500)
        await seeder.sessions_up_to(2000, host, share=0.01)
        await seeder.messages(ObjectId(ctx["big"]), host, 940)
        report["same_answers"] = await same_answers(specs, routes, before[1], after[1])
        log(f"the same answers before and after: {report['same_answers']}")
        log("cost: 2,000 sessions")
        report["cost"] = cost_rows(await take_turns(stack, sides, specs, routes, ROUNDS))
    finally:
        await stack.close()
        subprocess.run(["git", "worktree", "remove", "--force", str(earlier)], cwd=ROOT)
    save(f"{report['date']}-cost-{report['engine']}", report, table(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else BASE))
