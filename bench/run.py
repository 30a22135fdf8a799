"""`make bench`: seed a realistic data set through the project's own code, drive the real server
(the Procfile's web command, WORKERS=1 and 2) and a minimal baseline over loopback, and write
bench/results/<date>.json and .md.

By default it starts its own FerretDB and Redis (like the tests); BENCH_MONGODB_URL and
BENCH_REDIS_URL point it at other servers (e.g. a real MongoDB to compare query plans).
Every load phase is bounded in time (BENCH_DURATION_S per cell, default 3 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import contextlib

from bench.loadgen import LoadResult, RequestSpec, run_load
from config import load_settings
from tq.chat.models import ChatMessage
from tq.core.security import PasswordHasher
from tq.sessions.models import Session, channel_id_for
from tq.users.models import User

DURATION = float(os.environ.get("BENCH_DURATION_S", "3"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,16,64").split(",")]
PASSWORD = "bench-password-123"
STATUSES = ["completed"] * 70 + ["active"] * 10 + ["scheduled"] * 15 + ["cancelled"] * 5


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Stack:
    """FerretDB + Redis (unless given), the web server and the baseline, as processes."""

    def __init__(self) -> None:
        self.data = ROOT / "var" / "bench" / uuid.uuid4().hex[:8]
        self.data.mkdir(parents=True, exist_ok=True)
        self.pids: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        mongo = os.environ.get("BENCH_MONGODB_URL")
        redis = os.environ.get("BENCH_REDIS_URL")
        ports = ("-" if mongo else str(free_port()), "-" if redis else str(free_port()))
        out = subprocess.run(
            [str(ROOT / "scripts/services.sh"), *ports, str(self.data)],
            check=True,
            capture_output=True,
            text=True,
        )
        self.pids = [int(pid) for pid in out.stdout.split()]
        # services.sh prints the pid of what it started, FerretDB first.
        self.ferretdb_pid = self.pids[0] if not mongo and self.pids else None
        self.mongo_base = mongo or f"mongodb://127.0.0.1:{ports[0]}"
        self.redis_url = redis or f"redis://127.0.0.1:{ports[1]}/0"
        self.db_name = f"tq_bench_{uuid.uuid4().hex[:6]}"
        self.env = {
            **os.environ,
            "APP_ENV": "development",
            "MONGODB_URI": f"{self.mongo_base}/{self.db_name}",
            "REDIS_URL": self.redis_url,
            "JWT_SECRET": "bench-" + "s" * 40,
            "STREAM_API_KEY": "",
            "STREAM_API_SECRET": "",
            "LOG_LEVEL": "WARNING",
            "LOGIN_MAX_FAILURES": "1000000",
            "LOGIN_CLIENT_MAX_FAILURES": "1000000",
            "PATH": f"{ROOT / '.venv/bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def web_command(self) -> list[str]:
        for line in (ROOT / "Procfile").read_text().splitlines():
            if line.startswith("web:"):
                return shlex.split(line.split(":", 1)[1])
        raise RuntimeError("no web line in Procfile")

    async def start(
        self, args: list[str], env: dict[str, str], port: int, name: str
    ) -> subprocess.Popen[bytes]:
        logfile = open(self.data / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/api/health") as resp:
                        if resp.status in (200, 404, 503):
                            return proc
                except aiohttp.ClientError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {self.data / (name + '.log')}")
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    async def web(self, workers: int) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        command = self.web_command()
        args = [sys.executable, *command[1:]] if command[0] == "python" else command
        env = {**self.env, "PORT": str(port), "WORKERS": str(workers)}
        proc = await self.start(args, env, port, f"web-{workers}")
        return proc, f"http://127.0.0.1:{port}"

    async def baseline(self, user_id: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        env = {**self.env, "BASELINE_USER_ID": user_id}
        proc = await self.start(
            [sys.executable, "bench/baseline.py", str(port)], env, port, "baseline"
        )
        return proc, f"http://127.0.0.1:{port}"

    async def settle(self, limit_s: float = 300.0) -> None:
        """Wait until the embedded FerretDB is idle. It keeps running the scans of requests whose
        clients timed out, so without this one cell's backlog is billed to the next cells."""
        if self.ferretdb_pid is None:
            return
        stat = Path(f"/proc/{self.ferretdb_pid}/stat")
        tick = os.sysconf("SC_CLK_TCK")

        def cpu_s() -> float:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            before = cpu_s()
            await asyncio.sleep(1.0)
            if cpu_s() - before < 0.1:  # under 10 % of a core: idle
                break
        waited = time.monotonic() - started
        if waited > 1.5:
            log(f"  (FerretDB busy with earlier requests for {waited:.0f} s before going on)")

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    async def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)
        client: AsyncIOMotorClient = AsyncIOMotorClient(self.mongo_base)
        await client.drop_database(self.db_name)
        client.close()
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in self.pids:  # gone before their files are removed
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                await asyncio.sleep(0.1)
        # The seeded data is gigabytes; the logs (a few KB) stay for a look after a failure.
        for store in ("ferretdb", "redis"):
            shutil.rmtree(self.data / store, ignore_errors=True)


class Seeder:
    """Bulk inserts of the project's own documents (ODMantic models → model_dump_doc)."""

    def __init__(self, stack: Stack) -> None:
        self.client: AsyncIOMotorClient = AsyncIOMotorClient(
            stack.env["MONGODB_URI"], tz_aware=True
        )
        self.db = self.client.get_default_database()
        self.user_ids: list[ObjectId] = []
        self.sessions = 0
        self.rng = random.Random(7)

    async def users(self, count: int) -> None:
        settings = load_settings(_env_file=None, jwt_secret="x" * 40)
        hasher = PasswordHasher(settings)
        shared_hash = await hasher.hash(PASSWORD)  # one real argon2id hash, shared
        hasher.close()
        docs = []
        for i in range(count):
            oid = ObjectId()
            user = User(
                id=oid,
                email=f"seed{i}-{oid}@bench.example",
                password=shared_hash,
                name=f"Seed User {i}",
                role="candidate" if i % 3 else "interviewer",
                stream_id=str(oid),
                stream_sync="ok",
            )
            docs.append(user.model_dump_doc())
            self.user_ids.append(oid)
        await self.db.users.insert_many(docs)

    async def sessions_up_to(self, total: int, member: ObjectId, share: float) -> None:
        """Add sessions until there are `total`; `member` is in about `share` of them."""
        now = datetime.now(UTC)
        while self.sessions < total:
            batch = []
            for _ in range(min(1000, total - self.sessions)):
                self.sessions += 1
                oid = ObjectId()
                host = self.rng.choice(self.user_ids)
                guest = self.rng.choice(self.user_ids)
                if self.rng.random() < share:
                    host, guest = (member, guest) if self.rng.random() < 0.5 else (host, member)
                status = self.rng.choice(STATUSES)
                start = now - timedelta(minutes=self.rng.randint(0, 60 * 24 * 90))
                session = Session(
                    id=oid,
                    title=f"Seeded interview {self.sessions}",
                    problem="Two Sum",
                    difficulty=self.rng.choice(["easy", "medium", "hard"]),
                    created_by=host,
                    participants=[guest],
                    members=[host, guest],
                    max_participants=1,
                    seats_left=0,
                    status=status,
                    stream_channel_id=channel_id_for(oid),
                    stream_sync="ok",
                    start_time=start,
                    end_time=start + timedelta(minutes=45) if status == "completed" else None,
                    duration=45 if status == "completed" else None,
                    created_at=start,
                    updated_at=start,
                )
                batch.append(session.model_dump_doc())
            await self.db.sessions.insert_many(batch)

    async def messages(self, session_id: ObjectId, user_id: ObjectId, count: int) -> None:
        start = datetime.now(UTC) - timedelta(days=1)
        for offset in range(0, count, 2000):
            batch = []
            for i in range(offset, min(count, offset + 2000)):
                oid = ObjectId()
                message = ChatMessage(
                    id=oid,
                    session_id=session_id,
                    key=f"tq-{oid}",
                    user_id=user_id,
                    stream_user_id=str(user_id),
                    text=f"message number {i} " + "x" * 40,
                    created_at=start + timedelta(milliseconds=i * 10),
                )
                batch.append(message.model_dump_doc())
            await self.db.chat_messages.insert_many(batch)

    async def explain(self, member: ObjectId, session_id: ObjectId) -> dict[str, Any]:
        queries = {
            "list (members, -createdAt)": (
                self.db.sessions,
                {"members": member},
                [("createdAt", -1), ("_id", -1)],
            ),
            "my-recent (members+status)": (
                self.db.sessions,
                {"members": member, "status": "completed"},
                [("createdAt", -1), ("_id", -1)],
            ),
            "active (status, -createdAt)": (
                self.db.sessions,
                {"status": "active"},
                [("createdAt", -1), ("_id", -1)],
            ),
            "history (sessionId, createdAt)": (
                self.db.chat_messages,
                {"sessionId": session_id},
                [("createdAt", -1), ("_id", -1)],
            ),
        }
        plans = {}
        for name, (collection, filter_, sort) in queries.items():
            plan = await collection.find(filter_).sort(sort).limit(20).explain()
            planner = plan.get("queryPlanner", {})
            plans[name] = planner.get("winningPlan") or planner.get("Plan") or planner
        return plans


async def api(
    http: aiohttp.ClientSession, method: str, path: str, token: str | None = None, body: Any = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, path, json=body, headers=headers) as resp:
        data = await resp.json()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path} → {resp.status}: {data}")
        return data


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
    }


async def measure(
    stack: Stack, base: str, specs: dict[str, Any], concurrency: list[int]
) -> list[LoadResult]:
    results = []
    for name, (make, ok) in specs.items():
        for level in concurrency:
            await stack.settle()
            duration = DURATION if "login" not in name else max(DURATION, 3)
            result = await run_load(base, name, make, level, duration, ok)
            log(
                f"  {name:<30} c={level:<3} {result.rps:>8} rps  p50 {result.p50_ms:>8} ms  "
                f"p99 {result.p99_ms:>8} ms  errors {result.errors}"
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
    login = ("POST", "/api/auth/login", {}, {"email": ctx["email"], "password": PASSWORD})
    health = ("GET", "/api/health", {}, None)
    logins, probe = await asyncio.gather(
        run_load(base, "login", lambda _n: login, 16, DURATION * 2),
        run_load(base, "health", lambda _n: health, 1, DURATION * 2),
    )
    return {"health": probe.as_dict(), "logins": logins.as_dict()}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"Benchmark {report['date']} on {report['machine']}", ""]
    for workers, rows in report["load"].items():
        lines += [
            f"**{workers}** (sessions: {report['sessions_during_load']:,}, messages in the "
            f"history session: {report['messages']:,})",
            "",
            "| endpoint | c | req/s | p50 ms | p99 ms | errors |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['name']} | {r['concurrency']} | {r['rps']} | {r['p50_ms']} | "
            f"{r['p99_ms']} | {r['errors']} |"
            for r in rows
        ]
        lines.append("")
    lines += [
        "**Ours vs baseline** (same query with motor, no layers; 1 worker)",
        "",
        "| endpoint | c | ours req/s | baseline req/s | ratio |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['name']} | {row['concurrency']} | {row['ours']} | {row['baseline']} | "
        f"{row['ratio']} |"
        for row in report["baseline"]
    ]
    lines += [
        "",
        "**Scale** (p50 ms, concurrency 1)",
        "",
        "| endpoint | 1,000 documents | 100,000 documents | ratio |",
        "|---|---|---|---|",
    ]
    small, large = report["scale"]["1000"], report["scale"]["100000"]
    for key in ("list", "my-recent"):
        lines.append(
            f"| {key} (sessions) | {small[key]} | {large[key]} | "
            f"{round(large[key] / small[key], 2)} |"
        )
    lines.append(
        f"| history (messages in the session) | {large['history_small']} | "
        f"{large['history']} | {round(large['history'] / large['history_small'], 2)} |"
    )
    health = report["health_under_login"]
    lines += [
        "",
        f"**Event loop**: health p99 {health['health']['p99_ms']} ms while "
        f"{health['logins']['rps']} logins/s ran at concurrency 16.",
        "",
    ]
    lines += ["**Query plans**", ""] + [
        f"- {name}: `{json.dumps(plan)[:300]}`" for name, plan in report["plans"].items()
    ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    stack = Stack()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, MongoDB wire: "
        f"{'FerretDB v1.24.2 (SQLite)' if 'BENCH_MONGODB_URL' not in os.environ else 'external'}",
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
            r.as_dict() for r in await measure(stack, base, specs, CONCURRENCY)
        ]
        Stack.stop(web)

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
        for result in await measure(stack, baseline_base, compare, CONCURRENCY):
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
            r.as_dict() for r in await measure(stack, base2, specs, CONCURRENCY)
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

    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / report["date"]
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str))
    table = markdown(report)
    stem.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    asyncio.run(main())
