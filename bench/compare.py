"""`make bench-compare`: the API bench's routes served by an earlier commit and by the working
tree, side by side in one run, on one database and one data set. Run as
`python -m bench.compare [REV]` (default BENCH_BASE, else the commit before issue 23's
refactoring began; BENCH_ROUTES=<name>,... measures some of the routes only). Writes
bench/results/<date>-compare.md and .json (BENCH_RESULT=<name>: <date>-<name>.*).

The earlier commit is checked out into a throw-away git worktree and started from there
(`python server.py` in that directory imports its own `tq`), with the same virtualenv. The two
servers take turns route by route, BENCH_ROUNDS times each (who goes first alternating), so
drift of the machine (the embedded database warming up, another process) falls on both alike;
each cell reports the median of its rounds: requests per second and the web process's own CPU
per request. Differences under about 10 % are within this machine's noise at 4 rounds; 10
rounds of one route settle it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bson import ObjectId

from bench.api import READ_ROUTES, endpoint_specs, prepare
from bench.loadgen import run_load
from bench.procs import Stack, log, tree_cpu_s
from bench.report import machine, save, today
from bench.seed import Seeder
from tests.support import ROOT, free_port, procfile_command

BASE = os.environ.get("BENCH_BASE", "09d1e40")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
DURATION = float(os.environ.get("BENCH_DURATION_S", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
# Reads and the writes the frontend makes most (login is the password hash's, not the code's).
ROUTES = (
    *READ_ROUTES,
    "POST join/leave pair",
    "POST /api/chat/save-message",
    "GET /api/sessions/:id/record",
)


def worktree(rev: str) -> Path:
    path = ROOT / "var" / "bench" / f"base-{rev}"
    if path.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)
        shutil.rmtree(path, ignore_errors=True)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return path


async def start_web(stack: Stack, source: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    """The Procfile's web process (one worker) started from `source`'s tree."""
    port = free_port()
    command = procfile_command("web")
    args = [sys.executable, *command[1:]] if command[0] == "python" else command
    # Run from `source` (its server.py, and its tq first on the path).
    env = {**stack.env, "PORT": str(port), "WORKERS": "1", "PYTHONPATH": str(source)}
    proc = await stack.start(args, env, port, name, cwd=source)
    return proc, f"http://127.0.0.1:{port}"


async def measure(
    stack: Stack, base: str, pid: int, name: str, make: Any, ok: tuple[int, ...]
) -> tuple[float, float | None, int]:
    await stack.settle()
    cpu_before = tree_cpu_s(pid)
    result = await run_load(base, name, make, CONCURRENCY, DURATION, ok)
    cpu_s = tree_cpu_s(pid) - cpu_before
    cpu = round(cpu_s * 1000 / result.requests, 3) if result.requests else None
    return result.rps, cpu, result.errors


async def take_turns(
    stack: Stack,
    sides: dict[str, tuple[subprocess.Popen[bytes], str]],
    specs: dict[str, Any],
    routes: list[str],
    rounds: int,
) -> dict[str, dict[str, Any]]:
    """Each route served by each side `rounds` times, the order of the sides rotating, so a
    warmer cache or a busier database favours none. Per route and side: the medians of req/s
    and of the serving process's CPU per request; errors summed."""
    rows: dict[str, dict[str, Any]] = {}
    order = list(sides)
    for name in routes:
        make, ok = specs[name]
        cells: dict[str, list[tuple[float, float | None, int]]] = {side: [] for side in order}
        for round_ in range(rounds):
            for side in order[round_ % len(order) :] + order[: round_ % len(order)]:
                proc, url = sides[side]
                cells[side].append(await measure(stack, url, proc.pid, name, make, ok))
        row: dict[str, Any] = {"errors": 0}
        for side, results in cells.items():
            row[f"{side}_rps"] = round(statistics.median(r[0] for r in results), 1)
            cpus = [r[1] for r in results if r[1] is not None]
            row[f"{side}_cpu_ms"] = round(statistics.median(cpus), 3) if cpus else None
            row["errors"] += sum(r[2] for r in results)
        log(
            f"  {name:<30} "
            + "  ".join(f"{s} {row[f'{s}_rps']} rps {row[f'{s}_cpu_ms']} ms/req" for s in order)
        )
        rows[name] = row
    return rows


def table(report: dict[str, Any]) -> str:
    lines = [
        f"# Before and after, one run ({report['date']})",
        "",
        f"{report['machine']}. Earlier commit `{report['base']}`, working tree `{report['head']}`"
        f"; c={report['concurrency']}, {report['rounds']} rounds of {report['duration_s']} s per "
        "cell, taking turns (who goes first alternating); medians. CPU is the web process's own, per request.",
        "",
        "| route | req/s before | req/s after | after/before | CPU ms/req before | "
        "CPU ms/req after | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['name']} | {row['before_rps']} | {row['after_rps']} | {row['rps_ratio']} | "
            f"{row['before_cpu_ms']} | {row['after_cpu_ms']} | {row['errors']} |"
        )
    return "\n".join(lines) + "\n"


async def main(rev: str) -> None:
    earlier = worktree(rev)
    stack = Stack()
    # The code's cost, not the limiter's refusals: both servers share one Redis and one client.
    stack.env = {**stack.env, "RATE_LIMITS_ENABLED": "false"}
    report: dict[str, Any] = {
        "date": today(),
        "machine": machine(),
        "base": rev,
        "head": head_label(),
        "concurrency": CONCURRENCY,
        "rounds": ROUNDS,
        "duration_s": DURATION,
        "rows": [],
    }
    try:
        after, after_url = await start_web(stack, ROOT, "web-after")
        before, before_url = await start_web(stack, earlier, "web-before")
        ctx = await prepare(after_url)
        seeder = Seeder(stack)
        log("seeding 500 users, 2,000 sessions and 1,000 messages")
        await seeder.users(500)
        await seeder.sessions_up_to(2000, ObjectId(ctx["user_id"]), share=0.01)
        await seeder.messages(ObjectId(ctx["big"]), ObjectId(ctx["user_id"]), 1000)
        specs = endpoint_specs(ctx)
        only = [r for r in os.environ.get("BENCH_ROUTES", "").split(",") if r]
        routes = [r for r in ROUTES if not only or r in only]
        sides = {"before": (before, before_url), "after": (after, after_url)}
        for name, row in (await take_turns(stack, sides, specs, routes, ROUNDS)).items():
            row["rps_ratio"] = (
                round(row["after_rps"] / row["before_rps"], 2) if row["before_rps"] else None
            )
            report["rows"].append({"name": name, **row})
    finally:
        await stack.close()
        subprocess.run(["git", "worktree", "remove", "--force", str(earlier)], cwd=ROOT)
    save(f"{report['date']}-{os.environ.get('BENCH_RESULT', 'compare')}", report, table(report))


def head_label() -> str:
    """The working tree's commit, marked when it has uncommitted changes."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return head + (" (with uncommitted changes)" if status.stdout.strip() else "")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else BASE))
