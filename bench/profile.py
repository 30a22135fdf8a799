"""`make bench-profile`: where the web process's CPU goes on each read route (issue 24). Seeds
a data set, drives one route at a time at c=16 while py-spy samples the web process (every
thread), and sorts each sample by the frame nearest its leaf that belongs to a known part:
JSON encoding, building response models, reading documents into models, auth, rate limiting,
logging, metrics, the MongoDB driver, Redis, Sanic and asyncio. Only samples that hold the GIL
count: Python's own CPU, not threads waiting on a socket. Writes
bench/results/<date>-profile.md and .json; the raw stacks (flame graph input for
`inferno`/`flamegraph.pl`) stay in var/bench/, out of git.

Not part of `make test`; a few minutes. Rate limits are off (a bench client is one user);
BENCH_RATE_LIMITS=on profiles with the limiter on (its limits too high to refuse the bench).
BENCH_ROUTES=<name>,... profiles some of the routes only; BENCH_RESULT names the results file
(default `profile`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bson import ObjectId

from bench.api import READ_ROUTES, endpoint_specs, prepare
from bench.loadgen import run_load
from bench.procs import Stack, log
from bench.report import machine, save, today
from bench.seed import Seeder
from tests.support import ROOT

SECONDS = float(os.environ.get("BENCH_PROFILE_S", "8"))
CONCURRENCY = 16
# (part, what a frame's "function (file:line)" contains). Within one frame the first listed
# part wins; across frames, the one nearest the leaf (see `part_of`).
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("logging", ("logging/__init__.py",)),
    ("metrics", ("prometheus_client/",)),
    ("request plumbing (ids, access log, query parsing)", ("tq/core/http.py",)),
    ("rate limiting", ("tq/core/ratelimit.py", "limits/")),
    ("auth (JWT, revocation, user)", ("tq/auth/", "jwt/", "tq/core/security.py")),
    ("JSON encoding", ("sanic/response/convenience.py", "tq/core/schemas.py", "ujson")),
    ("response models (of, dump)", ("/schemas.py",)),
    ("documents into models (ODMantic)", ("odmantic/",)),
    ("injection (sanic-ext)", ("sanic_ext/extensions/injection",)),
    ("MongoDB driver (motor, pymongo, bson)", ("pymongo/", "motor/", "bson/")),
    ("Redis client", ("redis/",)),
    ("our services and queries", ("(tq/",)),
    ("pydantic (other)", ("pydantic/", "pydantic_core")),
    ("Sanic (HTTP, routing, signals)", ("sanic/", "sanic_routing/", "httptools")),
    ("asyncio and threads", ("asyncio/", "concurrent/futures", "threading.py", "selectors.py")),
)


# Parts that only say "inside a library or our plumbing": a sample is theirs only when no more
# specific part is on its stack (pydantic called by a schema's `of` is response building).
GENERAL = {
    "our services and queries",
    "pydantic (other)",
    "Sanic (HTTP, routing, signals)",
    "asyncio and threads",
}


def part_of(stack: str) -> str:
    """The part nearest the leaf of a `;`-joined stack (root first), specific parts first."""
    frames = list(reversed(stack.split(";")))  # from the leaf
    for wanted in (False, True):
        for frame in frames:
            for part, needles in PARTS:
                if (part in GENERAL) == wanted and any(needle in frame for needle in needles):
                    return part
    return "other"


def shares(raw: Path) -> tuple[dict[str, float], int]:
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        counts[part_of(stack)] += int(number)
        total += int(number)
    return {part: round(100 * n / total, 1) for part, n in counts.most_common()}, total


def table(report: dict[str, Any]) -> str:
    parts = [part for part, _ in PARTS] + ["other"]
    routes = [row["route"] for row in report["routes"]]
    lines = [
        f"# Where the web process's CPU goes ({report['date']})",
        "",
        f"{report['machine']}. py-spy samples of the web process (all threads, holding the GIL, "
        f"{report['seconds']} s per route at c={report['concurrency']}, rate limits "
        f"{'on' if report.get('rate_limits') else 'off'}), each "
        "sample given to the part of the code nearest its leaf. Percent of the samples.",
        "",
        "| part | " + " | ".join(routes) + " |",
        "|---|" + "---:|" * len(routes),
    ]
    for part in parts:
        cells = [str(row["shares"].get(part, "")) for row in report["routes"]]
        if any(cells):
            lines.append(f"| {part} | " + " | ".join(cells) + " |")
    lines.append("| samples | " + " | ".join(str(r["samples"]) for r in report["routes"]) + " |")
    lines.append("| req/s | " + " | ".join(str(r["rps"]) for r in report["routes"]) + " |")
    return "\n".join(lines) + "\n"


async def main() -> None:
    spy = Path(sys.executable).parent / "py-spy"
    stack = Stack()
    limits_on = os.environ.get("BENCH_RATE_LIMITS") == "on"
    # On: limits too high to refuse the bench (one user), so their cost shows, not 429s.
    stack.env = {
        **stack.env,
        "RATE_LIMITS_ENABLED": str(limits_on).lower(),
        "RATE_LIMIT_READS": "100000000/minute",
        "RATE_LIMIT_WRITES": "100000000/minute",
        "RATE_LIMIT_PUBLIC": "100000000/minute",
    }
    report: dict[str, Any] = {
        "rate_limits": limits_on,
        "date": today(),
        "machine": machine(),
        "seconds": SECONDS,
        "concurrency": CONCURRENCY,
        "routes": [],
    }
    try:
        web, base = await stack.web(1)
        ctx = await prepare(base)
        seeder = Seeder(stack)
        log("seeding 500 users, 2,000 sessions and 1,000 messages")
        await seeder.users(500)
        await seeder.sessions_up_to(2000, ObjectId(ctx["user_id"]), share=0.01)
        await seeder.messages(ObjectId(ctx["big"]), ObjectId(ctx["user_id"]), 1000)
        specs = endpoint_specs(ctx)
        only = [r for r in os.environ.get("BENCH_ROUTES", "").split(",") if r]
        for name in [r for r in READ_ROUTES if not only or r in only]:
            make, ok = specs[name]
            await run_load(base, name, make, CONCURRENCY, 2, ok)  # warm
            await stack.settle()
            raw = stack.data / f"profile-{name.split()[1].strip('/').replace('/', '_')}.txt"
            sampler = subprocess.Popen(
                [
                    str(spy),
                    "record",
                    "--pid",
                    str(web.pid),
                    "--duration",
                    str(int(SECONDS)),
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--nonblocking",
                    # Only samples holding the GIL: Python's own CPU, not threads waiting on
                    # sockets (motor's pool threads spend most of their time in recv).
                    "--gil",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            result = await run_load(base, name, make, CONCURRENCY, SECONDS, ok)
            sampler.wait(timeout=60)
            found, samples = shares(raw)
            log(f"  {name:<28} {result.rps} rps; {json.dumps(found)}")
            report["routes"].append(
                {"route": name, "rps": result.rps, "samples": samples, "shares": found}
            )
        Stack.stop(web)
    finally:
        await stack.close()
    name = os.environ.get("BENCH_RESULT", "profile")
    save(f"{report['date']}-{name}", report, table(report))
    log(f"raw stacks in {stack.data.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
