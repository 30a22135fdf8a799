"""Helpers shared by the tests: settings for the run's real services, real servers and
workers, and the API calls many tests make."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from config import Settings
from tests.fakes.stream import FakeStream
from tq.app import create_app
from tq.core.celery import create_celery
from tq.core.clients import Clients
from tq.core.db import create_engine
from tq.jobs.registry import TASK_ROUTES
from tq.reactions import subscribe_reactions

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# The embedded MongoDB-wire server the suite starts: SecantusDB unless DB_ENGINE=ferretdb.
DB_ENGINE = os.environ.get("DB_ENGINE", "secantus")
TEST_MONGO_PORT = 27218 if DB_ENGINE == "ferretdb" else 27217
TEST_REDIS_PORT = 6479
TEST_JWT_SECRET = "test-secret-" + "x" * 40
TEST_STREAM_KEY = "test-stream-key"
TEST_STREAM_SECRET = "test-stream-secret-" + "y" * 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a subprocess (server, worker) needs to load these same settings."""
    env = {k: v for k, v in os.environ.items() if k not in {"NODE_ENV", "APP_ENV"}}
    for name, value in settings.model_dump(mode="json", by_alias=False).items():
        if value is None or name == "node_env":
            continue
        key = "APP_ENV" if name == "app_env" else name.upper()
        env[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@asynccontextmanager
async def running_app(
    settings: Settings, customize: Callable[[Sanic[Any, Any]], None] | None = None
) -> AsyncIterator[tuple[Sanic[Any, Any], str]]:
    """Serve `create_app(settings)` over real HTTP on a free loopback port, in this loop."""
    app = create_app(settings)
    # Sanic's touchup rewrites shared protocol classes once per app; with many apps in one
    # test process the second rewrite fails, so tests serve without it.
    app.config.TOUCHUP = False
    if customize:
        customize(app)
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        Sanic._app_registry.pop(app.name, None)


async def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.1
) -> object:
    """Poll `predicate` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def procfile_command(name: str, variables: dict[str, str] | None = None) -> list[str]:
    """The Procfile's `name` line as argv, with `${VAR:-default}` replaced from `variables`
    (or its default)."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            command = re.sub(
                r"\$\{(\w+):-([^}]*)\}",
                lambda m: (variables or {}).get(m.group(1), m.group(2)),
                line.split(":", 1)[1],
            )
            return shlex.split(command)
    raise RuntimeError(f"no {name} line in Procfile")


def start_process(
    args: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the process's lifetime
    return subprocess.Popen(
        args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def start_web(
    settings: Settings, name: str, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A web process as production runs it (`server.py`, one worker), answering health."""
    port = port or free_port()
    env = settings_env(settings) | {"PORT": str(port), "WORKERS": "1"}
    proc = start_process([sys.executable, "server.py"], env, ROOT / f"var/test-logs/{name}.log")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"web process {name} did not start; see var/test-logs/{name}.log")
        time.sleep(0.1)


def http_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=15.0)


class RecordingHandler(logging.Handler):
    """Keeps every log record it is given, for tests that read what was logged."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# --- settings, apps and workers


def make_settings(
    services: dict[str, str], database: str, redis_url: str, **overrides: object
) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "db_engine": "ferretdb" if DB_ENGINE == "ferretdb" else "secantus",
        "mongodb_uri": f"{services['mongo']}/{database}",
        "mongodb_timeout_ms": 2000,
        "redis_url": redis_url,
        "jwt_secret": TEST_JWT_SECRET,
        "cors_origin": ["http://localhost:5173", "https://app.example.com"],
        "request_max_size": 64 * 1024,
        "stream_api_key": "",
        "stream_api_secret": "",
        "log_level": "INFO",
        # Cheap hashes and quick retries keep the suite fast; the code paths are the same.
        "argon2_time_cost": 1,
        "argon2_memory_cost": 8192,
        "argon2_parallelism": 1,
        "job_retry_base_s": 0.2,
        "job_retry_max_s": 1.0,
        "login_client_max_failures": 10_000,
        "login_client_max_attempts": 1_000_000,
        # The suite runs more code than one person would; the rate limit has its own test.
        "runner_runs_per_minute": 10_000,
        "runner_user_concurrency": 64,
        "runner_user_seconds_per_minute": 100_000,
        # Webhook receivers of the suite listen on loopback; retries come quickly.
        "webhook_allow_private": True,
        "webhook_retry_schedule_s": [0, 0.3, 0.6, 0.9],
        "webhook_timeout_s": 2.0,
        "webhook_pump_every_s": 1.0,
        # One machine plays every user here; the rate limit has its own test.
        "rate_limit_reads": "100000/minute",
        "rate_limit_writes": "100000/minute",
        "rate_limit_public": "100000/minute",
        "rate_limit_scim": "100000/minute",
        "rate_limit_sso": "100000/minute",
        # The suite's identity providers listen on loopback; a rotated key is fetched at once.
        "api_url": "http://api.example.com",
        "sso_allow_private": True,
        "sso_jwks_refetch_s": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def app_on_own_database(settings: Settings, suffix: str) -> AsyncIterator[dict[str, Any]]:
    """A served app on a database of the caller's own (for jobs that touch every document),
    dropped afterwards: {http, url, engine, redis, stream, settings}."""
    database = f"{settings.mongodb_database}_{suffix}"
    mongo = settings.mongodb_uri.rsplit("/", 1)[0]
    mine = settings.model_copy(update={"mongodb_uri": f"{mongo}/{database}"})
    mine.__dict__.pop("mongodb_database", None)  # a cached property of the copied settings
    engine = create_engine(mine)
    try:
        async with running_app(mine) as (app, url), http_client(url) as http:
            yield {
                "http": http,
                "url": url,
                "engine": engine,
                "redis": app.ctx.clients.redis,
                "locks": app.ctx.clients.locks,
                "stream": app.ctx.clients.stream,
                "settings": mine,
            }
    finally:
        await engine.client.drop_database(database)
        engine.client.close()


def start_worker(
    settings: Settings, *, queues: str | None = None, concurrency: int = 1, name: str = "test"
) -> tuple[subprocess.Popen[bytes], Path]:
    """A real Celery worker process (prefork) on these settings' Redis and database, once it
    answers a ping; `queues` like the Procfile's `-Q` (default: the ordinary queue)."""
    log_path = ROOT / "var" / "test-logs" / f"{name}-{uuid.uuid4().hex[:6]}.log"
    args = [
        str(VENV_BIN / "celery"),
        "-A",
        "workers",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h",
    ]
    if queues:
        args.append(f"--queues={queues}")
    proc = start_process(args, settings_env(settings), log_path)
    probe = create_celery(settings, routes=TASK_ROUTES)
    deadline = time.monotonic() + 60
    try:
        while not probe.control.ping(timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"celery worker did not start; see {log_path}")
    finally:
        probe.close()
    return proc, log_path


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[Clients]:
    """The clients a worker process holds, with the reactions wired: for calling job and
    service functions directly, as the worker does."""
    celery = create_celery(settings, routes=TASK_ROUTES)
    clients = Clients.open(settings, celery)
    subscribe_reactions(clients.events, clients)
    try:
        yield clients
    finally:
        await clients.close()
        celery.close()


# --- mail


class SmtpCatcher:
    """A real SMTP server (aiosmtpd) in a thread, keeping what it received. `port`: a fixed
    port (to start it where a worker already points), else a free one."""

    def __init__(self, port: int | None = None, **smtp_options: Any) -> None:
        self.port = port or free_port()
        self.received: list[tuple[list[str], EmailMessage]] = []
        self._options = smtp_options
        self._controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpCatcher:
        from aiosmtpd.controller import Controller

        catcher = self

        class Keep:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                catcher.received.append((list(envelope.rcpt_tos), message))
                return "250 OK"

        self._controller = Controller(Keep(), hostname="127.0.0.1", port=self.port, **self._options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str, subject_prefix: str = "") -> list[EmailMessage]:
        """Messages whose envelope went to `address` (and whose subject starts so)."""
        return [
            message
            for rcpts, message in self.received
            if address in rcpts and str(message["Subject"]).strip().startswith(subject_prefix)
        ]

    async def wait_for(
        self, address: str, subject_prefix: str = "", count: int = 1, timeout: float = 30
    ) -> list[EmailMessage]:
        try:
            await wait_until(lambda: len(self.to(address, subject_prefix)) >= count, timeout)
        except AssertionError:
            seen = [(rcpts, str(message["Subject"])) for rcpts, message in self.received]
            raise AssertionError(
                f"no {subject_prefix!r} mail to {address}; received {seen}"
            ) from None
        return self.to(address, subject_prefix)


def calendar_of(message: EmailMessage) -> tuple[str, Any]:
    """(method parameter of the text/calendar part, the parsed VCALENDAR)."""
    from icalendar import Calendar

    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return str(part.get_param("method")), Calendar.from_ical(payload)
    raise AssertionError("no text/calendar part")


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


# --- a webhook receiver


class WebhookReceiver:
    """A small aiohttp server in this loop that takes webhook POSTs: each answer comes from
    `script` in turn (status, headers, delay in seconds), then 200s; every request is kept."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str], float]] = []
        self._runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def __aenter__(self) -> WebhookReceiver:
        from aiohttp import web

        async def take(request: web.Request) -> web.Response:
            body = await request.text()
            self.received.append(
                {"headers": dict(request.headers), "body": body, "at": time.monotonic()}
            )
            status, headers, delay = self.script.pop(0) if self.script else (200, {}, 0.0)
            if delay:
                await asyncio.sleep(delay)
            return web.Response(status=status, headers=headers, text=f"answer {status}")

        app = web.Application()
        app.router.add_post("/hooks", take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [r for r in self.received if json.loads(r["body"])["type"] == event_type]


# --- a real browser


class Chromium:
    """Debian's headless Chromium driven over the DevTools protocol (websockets): load a page
    as a browser does (with request headers of our choosing), evaluate script in it, take a
    screenshot."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "chromium",
                "--headless=new",
                "--no-sandbox",  # the suite may run as root; the page is our own
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={tmp}",
                f"--remote-debugging-port={self.port}",
                "--window-size=1000,1400",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ws: Any = None
        self._next = 0

    async def __aenter__(self) -> Chromium:
        from websockets.asyncio.client import connect

        async def page_target() -> str | None:
            try:
                async with httpx.AsyncClient() as http:
                    targets = (await http.get(f"http://127.0.0.1:{self.port}/json/list")).json()
            except httpx.HTTPError:
                return None
            return next((t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"), None)

        url = await wait_until(page_target, timeout=30)
        self._ws = await connect(str(url), max_size=64 << 20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        await self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            answer = json.loads(await self._ws.recv())
            if answer.get("id") == ident:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def open(self, url: str, headers: dict[str, str] | None = None) -> None:
        await self.send("Network.enable")
        if headers:
            await self.send("Network.setExtraHTTPHeaders", headers=headers)
        await self.send("Page.enable")
        await self.send("Page.navigate", url=url)

        async def loaded() -> bool:
            ready = await self.evaluate("document.readyState + ' ' + location.href")
            return bool(ready and ready.startswith("complete") and url in ready)

        await wait_until(loaded, timeout=30)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


# --- API calls


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def register(
    http: httpx.AsyncClient,
    *,
    role: str = "candidate",
    name: str = "Test User",
    email: str | None = None,
    password: str = "correct horse battery",
) -> dict[str, Any]:
    """Register a fresh user; returns the response body plus `password` and `headers`."""
    response = await http.post(
        "/api/auth/register",
        json={"email": email or unique_email(), "password": password, "name": name, "role": role},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["password"] = password
    body["headers"] = {"Authorization": f"Bearer {body['token']}"}
    return body


async def create(http: httpx.AsyncClient, owner: dict[str, Any], **body: Any) -> dict[str, Any]:
    body = body or {"title": "Pairing interview"}
    response = await http.post("/api/sessions", json=body, headers=owner["headers"])
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()["session"]
    return session


async def act(
    http: httpx.AsyncClient, who: dict[str, Any], session: dict[str, Any], action: str
) -> httpx.Response:
    return await http.post(f"/api/sessions/{session['_id']}/{action}", headers=who["headers"])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stamp(seconds: float) -> str:
    base = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return base.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def save(http, who, session, text, **extra) -> httpx.Response:
    return await http.post(
        "/api/chat/save-message",
        headers=who["headers"],
        json={"sessionId": session["_id"], "text": text, **extra},
    )


async def deliver(
    fake: FakeStream, url: str, event: dict[str, Any], webhook_id: str | None = None
) -> httpx.Response:
    response = await fake.deliver_webhook(f"{url}/api/webhooks/stream", event, webhook_id)
    assert isinstance(response, httpx.Response)
    return response


async def execute(
    http: httpx.AsyncClient, who: dict[str, Any], language: str, source: str, **extra: Any
) -> httpx.Response:
    body = {"language": language, "version": "*", "files": [{"content": source}], **extra}
    return await http.post("/api/v2/piston/execute", json=body, headers=who["headers"], timeout=60)


def sandbox_processes(uid_base: int = 60000, slots: int = 16) -> list[str]:
    """Live (not zombie) processes of the runner slots' uids: what a run left behind."""
    out = subprocess.run(
        ["ps", "-eo", "uid=,stat=,pid=,args="], capture_output=True, text=True, check=True
    ).stdout
    left = []
    for line in out.splitlines():
        uid, state, *_ = line.split(None, 3)
        if uid_base <= int(uid) < uid_base + slots and not state.startswith("Z"):
            left.append(line)
    return left
