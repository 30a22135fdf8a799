"""`make bench` (first part): seed a realistic data set through the project's own code, drive
the real server (the Procfile's web command, WORKERS=1 and 2) and a minimal baseline over
loopback, and write bench/results/<date>.json and .md. Run as `python -m bench.api`.

By default it starts its own FerretDB and Redis (like the tests); BENCH_MONGODB_URL and
BENCH_REDIS_URL point it at other servers (e.g. a real MongoDB to compare query plans).
Every load phase is bounded in time (BENCH_DURATION_S per cell, default 3 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

import aiohttp
from bson import ObjectId

from bench.loadgen import LoadResult, RequestSpec, api, run_load
from bench.procs import Stack, log, tree_cpu_s
from bench.report import api_table, machine, save, today
from bench.seed import PASSWORD, Seeder
from tests.support import ROOT

ENGINES = {
    "secantus": "SecantusDB 0.7.0b3 (WiredTiger), embedded",
    "ferretdb": "FerretDB v1.24.2 (SQLite), embedded",
    "mongodb": "MongoDB at BENCH_MONGODB_URL",
}
DURATION = float(os.environ.get("BENCH_DURATION_S", "3"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,16,64").split(",")]


async def prepare(base: str) -> dict[str, Any]:
    """Accounts and sessions made through the API itself (register, create, join)."""
    async with aiohttp.ClientSession(base) as http:
        email = f"bench-{uuid.uuid4().hex[:8]}@bench.example"
        me = await api(
            http,
            "POST",
            "/api/auth/register",
            body={
                "email": email,
                "password": PASSWORD,
                "name": "Bench Host",
                "role": "interviewer",
            },
        )
        token = me["token"]
        big = (
            await api(
                http, "POST", "/api/sessions", token, {"title": "Big chat", "maxParticipants": 10}
            )
        )["session"]
        small = (
            await api(
                http, "POST", "/api/sessions", token, {"title": "Small chat", "maxParticipants": 10}
            )
        )["session"]
        joiners = []
        rooms = [
            (
                await api(
                    http,
                    "POST",
                    "/api/sessions",
                    token,
                    {"title": f"Join room {i}", "maxParticipants": 10},
                )
            )["session"]["_id"]
            for i in range(8)
        ]
        for i in range(64):
            joiner = await api(
                http,
                "POST",
                "/api/auth/register",
                body={
                    "email": f"joiner{i}-{uuid.uuid4().hex[:6]}@bench.example",
                    "password": PASSWORD,
                    "name": f"Joiner {i}",
                },
            )
            joiners.append(joiner["token"])
    return {
        "email": email,
        "token": token,
        "user_id": me["user"]["_id"],
        "big": big["_id"],
        "small": small["_id"],
        "joiners": joiners,
        "rooms": rooms,
    }


def endpoint_specs(ctx: dict[str, Any]) -> dict[str, tuple[Any, tuple[int, ...]]]:
    auth = {"Authorization": f"Bearer {ctx['token']}"}
    joiners, rooms = ctx["joiners"], ctx["rooms"]

    def fixed(method: str, path: str, headers: dict[str, str] | None = None, body: Any = None):
        return lambda _n: (method, path, headers or {}, body)

    def join_leave(n: int) -> RequestSpec:
        k = (n // 2) % len(joiners)
        action = "join" if n % 2 else "leave"
        return (
            "POST",
            f"/api/sessions/{rooms[k % len(rooms)]}/{action}",
            {"Authorization": f"Bearer {joiners[k]}"},
            None,
        )

    def save(n: int) -> RequestSpec:
        return (
            "POST",
            "/api/chat/save-message",
            auth,
            {"sessionId": ctx["big"], "text": f"bench message {n}"},
        )

    login_body = {"email": ctx["email"], "password": PASSWORD}
    return {
        "GET /api/health": (fixed("GET", "/api/health"), (200,)),
        "GET /api/auth/me": (fixed("GET", "/api/auth/me", auth), (200,)),
        "POST /api/auth/login": (fixed("POST", "/api/auth/login", body=login_body), (200,)),
        "GET /api/sessions?limit=20": (fixed("GET", "/api/sessions?limit=20", auth), (200,)),
        "GET /api/sessions/active": (fixed("GET", "/api/sessions/active", auth), (200,)),
        "GET /api/sessions/:id": (fixed("GET", f"/api/sessions/{ctx['big']}", auth), (200,)),
        # Concurrent join/leave of one user may meet 404 (already left): not an error here.
        "POST join/leave pair": (join_leave, (200, 404)),
        "GET /api/chat/history/:id": (
            fixed("GET", f"/api/chat/history/{ctx['big']}", auth),
            (200,),
        ),
        "POST /api/chat/save-message": (save, (201,)),
        # The host's record of the 1,000-message session (each view is audited since issue 25).
        "GET /api/sessions/:id/record": (
            fixed("GET", f"/api/sessions/{ctx['big']}/record", auth),
            (200,),
        ),
    }


# The read routes issue 24 holds to the baseline (names of `endpoint_specs`).
READ_ROUTES = (
    "GET /api/health",
    "GET /api/auth/me",
    "GET /api/sessions?limit=20",
    "GET /api/sessions/active",
    "GET /api/sessions/:id",
    "GET /api/chat/history/:id",
)


PREVIOUS = os.environ.get("BENCH_PREVIOUS", "bench/results/2026-11-26-default.json")


def against_previous(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """req/s of get, join/leave and me against the previous run's file (BENCH_PREVIOUS)."""
    path = ROOT / PREVIOUS
    if not path.exists():
        return None
    before = {
        (r["name"], r["concurrency"]): r["rps"]
        for r in json.loads(path.read_text())["load"]["WORKERS=1"]
    }
    compared = []
    for row in rows:
        if row["name"] not in ("GET /api/sessions/:id", "POST join/leave pair", "GET /api/auth/me"):
            continue
        old = before.get((row["name"], row["concurrency"]))
        compared.append(
            {
                "name": row["name"],
                "concurrency": row["concurrency"],
                "before": old if old is not None else "not measured",
                "now": row["rps"],
                "ratio": round(row["rps"] / old, 1) if old else "",
            }
        )
    return {"file": PREVIOUS, "rows": compared}


async def measure(
    stack: Stack, base: str, specs: dict[str, Any], concurrency: list[int], server_pid: int
) -> list[LoadResult]:
    """Each endpoint at each concurrency, with the serving process's CPU per request (its
    workers included): the figure that says whether the web process is the bottleneck."""
    results = []
    for name, (make, ok) in specs.items():
        for level in concurrency:
            await stack.settle()
            duration = DURATION if "login" not in name else max(DURATION, 3)
            cpu_before = tree_cpu_s(server_pid)
            result = await run_load(base, name, make, level, duration, ok)
            cpu_s = tree_cpu_s(server_pid) - cpu_before
            if result.requests:
                result.cpu_ms_per_request = round(cpu_s * 1000 / result.requests, 3)
            log(
                f"  {name:<30} c={level:<3} {result.rps:>8} rps  p50 {result.p50_ms:>8} ms  "
                f"p99 {result.p99_ms:>8} ms  cpu/req {result.cpu_ms_per_request} ms  "
                f"errors {result.errors}"
            )
            results.append(result)
    return results


async def p50(base: str, path: str, token: str, seconds: float = 2.0) -> float:
    make = lambda _n: ("GET", path, {"Authorization": f"Bearer {token}"}, None)  # noqa: E731
    return (await run_load(base, path, make, 1, seconds)).p50_ms


async def scale_point(base: str, ctx: dict[str, Any]) -> dict[str, float]:
    return {
        "list": await p50(base, "/api/sessions?limit=20", ctx["token"]),
        "my-recent": await p50(base, "/api/sessions/my-recent", ctx["token"]),
        "history": await p50(base, f"/api/chat/history/{ctx['big']}", ctx["token"]),
        "history_small": await p50(base, f"/api/chat/history/{ctx['small']}", ctx["token"]),
    }


async def health_under_login(base: str, ctx: dict[str, Any]) -> dict[str, Any]:
    login: RequestSpec = (
        "POST",
        "/api/auth/login",
        {},
        {"email": ctx["email"], "password": PASSWORD},
    )
    health: RequestSpec = ("GET", "/api/health", {}, None)
    logins, probe = await asyncio.gather(
        run_load(base, "login", lambda _n: login, 16, DURATION * 2),
        run_load(base, "health", lambda _n: health, 1, DURATION * 2),
    )
    return {"health": probe.as_dict(), "logins": logins.as_dict()}


async def main() -> None:
    stack = Stack()
    report: dict[str, Any] = {
        "date": today(),
        "machine": f"{machine()}, MongoDB wire: {ENGINES[stack.engine]}",
        "engine": stack.engine,
        "duration_s": DURATION,
    }
    try:
        web, base = await stack.web(1)
        ctx = await prepare(base)
        seeder = Seeder(stack)
        host_id = ObjectId(ctx["user_id"])
        log("seeding 1,000 users and 1,000 sessions")
        await seeder.users(1000)
        await seeder.sessions_up_to(1000, host_id, share=0.01)
        await seeder.messages(ObjectId(ctx["small"]), host_id, 1000)
        report["scale"] = {"1000": await scale_point(base, ctx)}
        log(f"scale at 1,000: {report['scale']['1000']}")
        # Before the heavy phases: a backlog of slow queries would blur what the loop does.
        report["health_under_login"] = await health_under_login(base, ctx)
        log(f"health under login load: {report['health_under_login']['health']}")

        log("seeding up to 10,000 sessions and 100,000 messages")
        await seeder.sessions_up_to(10_000, host_id, share=0.01)
        await seeder.messages(ObjectId(ctx["big"]), host_id, 100_000)
        report["sessions_during_load"] = 10_000
        report["messages"] = 100_000
        report["load"] = {}
        specs = endpoint_specs(ctx)
        log("load, WORKERS=1")
        report["load"]["WORKERS=1"] = [
            r.as_dict() for r in await measure(stack, base, specs, CONCURRENCY, web.pid)
        ]
        Stack.stop(web)
        report["previous"] = against_previous(report["load"]["WORKERS=1"])

        baseline, baseline_base = await stack.baseline(ctx["user_id"])
        compare = {
            k: specs[k]
            for k in (
                "GET /api/sessions?limit=20",
                "GET /api/sessions/active",
                "GET /api/sessions/:id",
                "GET /api/chat/history/:id",
            )
        }
        ours = {(r["name"], r["concurrency"]): r["rps"] for r in report["load"]["WORKERS=1"]}
        report["baseline"] = []
        log("baseline")
        for result in await measure(stack, baseline_base, compare, CONCURRENCY, baseline.pid):
            mine = ours[(result.name, result.concurrency)]
            report["baseline"].append(
                {
                    "name": result.name,
                    "concurrency": result.concurrency,
                    "ours": mine,
                    "baseline": result.rps,
                    "ratio": round(mine / result.rps, 2) if result.rps else None,
                }
            )
        Stack.stop(baseline)

        web2, base2 = await stack.web(2)
        log("load, WORKERS=2")
        report["load"]["WORKERS=2"] = [
            r.as_dict() for r in await measure(stack, base2, specs, CONCURRENCY, web2.pid)
        ]

        await stack.settle()
        log("seeding up to 100,000 sessions")
        await seeder.sessions_up_to(100_000, host_id, share=0.01)
        report["scale"]["100000"] = await scale_point(base2, ctx)
        log(f"scale at 100,000: {report['scale']['100000']}")
        report["plans"] = await seeder.explain(host_id, ObjectId(ctx["big"]))
        Stack.stop(web2)
    finally:
        await stack.close()

    save(f"{report['date']}-{stack.engine}", report, api_table(report))


if __name__ == "__main__":
    asyncio.run(main())
