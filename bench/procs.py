"""Process control for the benchmarks: FerretDB and Redis (unless given), the web server as
the Procfile starts it, and the baseline, each a process this module starts and stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from motor.motor_asyncio import AsyncIOMotorClient

from config import Settings, load_settings
from tests.support import ROOT, free_port, procfile_command, start_process


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children, including the sandboxes they reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(value) for value in fields[11:15]) / tick  # utime stime cutime cstime
    return total


class Stack:
    """The embedded MongoDB-wire server (DB_ENGINE: secantus by default, or ferretdb) and Redis
    unless given, the web server and the baseline, as processes."""

    def __init__(self) -> None:
        self.data = ROOT / "var" / "bench" / uuid.uuid4().hex[:8]
        self.data.mkdir(parents=True, exist_ok=True)
        self.pids: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        mongo = os.environ.get("BENCH_MONGODB_URL") or os.environ.get("TEST_MONGODB_URL")
        redis = os.environ.get("BENCH_REDIS_URL")
        ports = ("-" if mongo else str(free_port()), "-" if redis else str(free_port()))
        out = subprocess.run(
            [str(ROOT / "scripts/services.sh"), *ports, str(self.data)],
            check=True,
            capture_output=True,
            text=True,
        )
        self.pids = [int(pid) for pid in out.stdout.split()]
        # services.sh prints the pid of what it started, the database first.
        self.engine = "mongodb" if mongo else os.environ.get("DB_ENGINE", "secantus")
        self.db_pid = self.pids[0] if not mongo and self.pids else None
        self.mongo_base = mongo or f"mongodb://127.0.0.1:{ports[0]}"
        self.redis_url = redis or f"redis://127.0.0.1:{ports[1]}/0"
        self.db_name = f"tq_bench_{uuid.uuid4().hex[:6]}"
        self.env = {
            **os.environ,
            "APP_ENV": "development",
            "DB_ENGINE": self.engine,
            "MONGODB_URI": f"{self.mongo_base}/{self.db_name}",
            "REDIS_URL": self.redis_url,
            "JWT_SECRET": "bench-" + "s" * 40,
            "STREAM_API_KEY": "",
            "STREAM_API_SECRET": "",
            "LOG_LEVEL": "WARNING",
            "LOGIN_MAX_FAILURES": "1000000",
            "LOGIN_CLIENT_MAX_FAILURES": "1000000",
            # One machine logs in as every user: throttling would measure the 429s.
            "LOGIN_EMAIL_MAX_FAILURES": "1000000",
            "LOGIN_CLIENT_MAX_ATTEMPTS": "1000000",
            "PATH": f"{ROOT / '.venv/bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def settings(self, **overrides: Any) -> Settings:
        """Settings of a process of this stack's, for benchmarks that call the code directly."""
        return load_settings(
            _env_file=None,
            mongodb_uri=self.env["MONGODB_URI"],
            redis_url=self.redis_url,
            jwt_secret="x" * 40,
            db_engine=self.engine,
            **overrides,
        )

    def web_command(self) -> list[str]:
        return procfile_command("web")

    async def start(
        self, args: list[str], env: dict[str, str], port: int, name: str, cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        proc = start_process(args, env, self.data / f"{name}.log", cwd)
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
        """Wait until the embedded database is idle. FerretDB keeps running the scans of requests
        whose clients timed out, so without this one cell's backlog is billed to the next."""
        if self.db_pid is None:
            return
        stat = Path(f"/proc/{self.db_pid}/stat")
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
            log(f"  ({self.engine} busy with earlier requests for {waited:.0f} s before going on)")

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
        client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(self.mongo_base)
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
        for store in ("ferretdb", "secantus", "redis"):
            shutil.rmtree(self.data / store, ignore_errors=True)
