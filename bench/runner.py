"""`make bench-runner` (also run by `make bench`): the code runner end to end.

Starts Redis and the embedded MongoDB-wire server (bench.run's Stack), the web process and the
runner exactly as the Procfile does, then drives `POST /api/v2/piston/execute` over loopback:
Python `print(1)` and a C hello world (compile + run) at c=1 and c=8, a saturation cell with the
web's health p99 measured beside it, the runner's CPU use, and the sandbox's own overhead (the
same program bare and sandboxed). Each cell is bounded in time; results go to
bench/results/<date>-runner.json and .md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import redis

from bench.loadgen import LoadResult, run_load
from bench.procs import Stack, log, tree_cpu_s
from bench.report import runner_table, save, today
from tests.support import procfile_command, start_process
from tq.runner.languages import BY_NAME
from tq.runner.sandbox import Limits, Workspace

DURATION = float(os.environ.get("BENCH_DURATION_S", "5"))
C_HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
RUNNER_SLOTS = int(os.environ.get("RUNNER_CONCURRENCY", str(os.cpu_count() or 2)))


async def token_for(base: str) -> str:
    async with aiohttp.ClientSession(base) as http:
        body = {"email": "runner-bench@example.com", "password": "bench-password-123", "name": "B"}
        async with http.post("/api/auth/register", json=body) as resp:
            if resp.status == 201:
                return str((await resp.json())["token"])
        async with http.post("/api/auth/login", json=body) as resp:
            return str((await resp.json())["token"])


def execute_request(token: str, language: str, source: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    body = {"language": language, "version": "*", "files": [{"content": source}]}
    return lambda _n: ("POST", "/api/v2/piston/execute", headers, body)


async def cell(
    base: str, token: str, name: str, language: str, source: str, concurrency: int
) -> LoadResult:
    result = await run_load(
        base, name, execute_request(token, language, source), concurrency, DURATION
    )
    log(
        f"  {name} c={concurrency}: {result.rps} runs/s p50 {result.p50_ms} ms "
        f"p99 {result.p99_ms} ms errors {result.errors}"
    )
    return result


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


async def saturation(base: str, token: str, runner_pid: int, web_pid: int) -> dict[str, Any]:
    """More clients than runner slots: runs/s, where the CPU goes, and the web's health p99."""
    web_before, machine_before = tree_cpu_s(web_pid), machine_busy_s()
    cpu_before, wall_before = tree_cpu_s(runner_pid), time.monotonic()
    load, health = await asyncio.gather(
        run_load(base, "execute", execute_request(token, "python", "print(1)"), 16, DURATION),
        run_load(base, "health", lambda _n: ("GET", "/api/health", {}, None), 1, DURATION),
    )
    cpu = tree_cpu_s(runner_pid) - cpu_before
    wall = time.monotonic() - wall_before
    cores = os.cpu_count() or 1
    busy = cpu / (wall * RUNNER_SLOTS)
    web = (tree_cpu_s(web_pid) - web_before) / (wall * cores)
    machine = (machine_busy_s() - machine_before) / (wall * cores)
    log(
        f"  saturation c=16: {load.rps} runs/s, runner CPU {busy:.0%} of {RUNNER_SLOTS} cores, "
        f"web {web:.0%}, machine {machine:.0%}, health p99 {health.p99_ms} ms"
    )
    return {
        "execute": load.as_dict(),
        "health": health.as_dict(),
        "runner_cpu_share": round(busy, 3),
        "web_cpu_share": round(web, 3),
        "machine_cpu_share": round(machine, 3),
        "runner_slots": RUNNER_SLOTS,
    }


def overhead(rounds: int = 30) -> dict[str, Any]:
    """The same program bare and in the sandbox (this process runs the sandbox directly)."""
    results: dict[str, Any] = {}
    spec = BY_NAME["python"]
    bare = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(
            ["/usr/bin/python3", "-B", "-c", "print(1)"], capture_output=True, check=True
        )
        bare.append((time.perf_counter() - started) * 1000)
    boxed = []
    with Workspace(spec, [("", "print(1)")], Limits(), outer_uid=60099) as box:
        for _ in range(rounds):
            started = time.perf_counter()
            assert box.run().stdout == "1\n"
            boxed.append((time.perf_counter() - started) * 1000)
    results["python print(1)"] = {
        "bare_p50_ms": round(statistics.median(bare), 2),
        "sandbox_p50_ms": round(statistics.median(boxed), 2),
    }
    with Workspace(BY_NAME["c"], [("", C_HELLO)], Limits(), outer_uid=60099) as box:
        assert box.compile() is not None
        binary = box.dir / "main"
        bare = []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run([str(binary)], capture_output=True, check=True)
            bare.append((time.perf_counter() - started) * 1000)
        boxed = []
        for _ in range(rounds):
            started = time.perf_counter()
            assert box.run().stdout == "hello\n"
            boxed.append((time.perf_counter() - started) * 1000)
    results["C hello (run only)"] = {
        "bare_p50_ms": round(statistics.median(bare), 2),
        "sandbox_p50_ms": round(statistics.median(boxed), 2),
    }
    for name, numbers in results.items():
        log(
            f"  overhead {name}: bare {numbers['bare_p50_ms']} ms, "
            f"sandbox {numbers['sandbox_p50_ms']} ms"
        )
    return results


async def main() -> None:
    stack = Stack()
    runner: subprocess.Popen[bytes] | None = None
    try:
        # One user drives every run here: the per-user limits would measure their 429s.
        env = {
            **stack.env,
            "RUNNER_RUNS_PER_MINUTE": "1000000",
            "RUNNER_MAX_BACKLOG": "1000",
            "RUNNER_USER_CONCURRENCY": "64",
            "RUNNER_USER_SECONDS_PER_MINUTE": "1000000",
        }
        stack.env = env
        web, base = await stack.web(1)
        runner = start_process(
            procfile_command("runner", {"RUNNER_CONCURRENCY": str(RUNNER_SLOTS)}),
            env,
            stack.data / "runner.log",
        )
        stack.procs.append(runner)
        client = redis.Redis.from_url(stack.redis_url)
        for _ in range(600):
            if client.get("runner:runtimes"):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the runner did not start")
        client.close()
        token = await token_for(base)
        log("runner up; measuring")
        await cell(base, token, "warm-up", "python", "print(1)", 2)
        cells = []
        for concurrency in (1, 8):
            cells.append(
                await cell(base, token, "python print(1)", "python", "print(1)", concurrency)
            )
        for concurrency in (1, 8):
            cells.append(
                await cell(base, token, "C hello (compile + run)", "c", C_HELLO, concurrency)
            )
        sat = await saturation(base, token, runner.pid, web.pid)
        results = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores",
            "slots": RUNNER_SLOTS,
            "duration_s": DURATION,
            "cells": [c.as_dict() for c in cells],
            "saturation": sat,
            "overhead": overhead(),
        }
    finally:
        await stack.close()
    save(f"{today()}-runner", results, runner_table(results))


if __name__ == "__main__":
    asyncio.run(main())
