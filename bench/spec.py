"""`make bench-spec`: GET /docs/openapi.json on the real web process (the Procfile's line), at
concurrency 1 and 16 for BENCH_DURATION_S each. The spec is built once at start-up; before that
change the route rebuilt it on every request (about 12 requests/s). Run as `python -m bench.spec`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp

from bench.loadgen import run_load
from bench.procs import Stack, log
from bench.report import machine, save, today

DURATION = float(os.environ.get("BENCH_DURATION_S", "5"))


def spec_table(report: dict[str, Any]) -> str:
    lines = [
        f"# OpenAPI spec route, {report['date']}",
        "",
        f"Machine: {report['machine']}. Each cell {report['duration_s']:.0f} s over loopback.",
        "",
        "| c | req/s | p50 ms | p99 ms | errors | bytes |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['concurrency']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | "
        f"{report['bytes']} |"
        for r in report["cells"]
    ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    stack = Stack()
    try:
        _web, base = await stack.web(1)
        async with aiohttp.ClientSession(base) as http, http.get("/docs/openapi.json") as resp:
            size = len(await resp.read())
        cells = []
        for concurrency in (1, 16):
            result = await run_load(
                base,
                "GET /docs/openapi.json",
                lambda _i: ("GET", "/docs/openapi.json", {}, None),
                concurrency,
                DURATION,
            )
            log(f"c={concurrency}: {result.rps} req/s")
            cells.append(result.as_dict())
    finally:
        await stack.close()
    report = {
        "date": today(),
        "machine": machine(),
        "duration_s": DURATION,
        "bytes": size,
        "cells": cells,
    }
    save(f"{today()}-spec", report, spec_table(report))


if __name__ == "__main__":
    asyncio.run(main())
