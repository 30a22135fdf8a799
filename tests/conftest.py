"""Session fixtures: FerretDB and Redis on dedicated ports, a throw-away database per run,
a real Sanic server per test module, and a real Celery worker when a test asks for one."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
import redis as redis_sync
from celery import Celery
from odmantic import AIOEngine
from redis.asyncio import Redis

from config import Settings
from tests.fakes.stream import FakeStream
from tests.sso.support import FakeDns
from tests.support import (
    ROOT,
    TEST_MONGO_PORT,
    TEST_REDIS_PORT,
    TEST_STREAM_KEY,
    TEST_STREAM_SECRET,
    SmtpCatcher,
    http_client,
    make_settings,
    running_app,
    start_worker,
    stop_worker,
)
from tq.core.celery import create_celery
from tq.core.db import create_engine
from tq.core.redis import create_redis
from tq.jobs.registry import TASK_ROUTES


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    """Start (or reuse) the embedded MongoDB-wire server (DB_ENGINE) and Redis for tests.
    TEST_MONGODB_URL / TEST_REDIS_URL
    (e.g. mongodb://host:27017, redis://host:6379) point the suite at existing servers."""
    mongo_base = os.environ.get("TEST_MONGODB_URL")
    redis_base = os.environ.get("TEST_REDIS_URL")
    (ROOT / "var" / "test").mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="run-", dir=ROOT / "var" / "test"))
    started: list[int] = []
    if not (mongo_base and redis_base):
        out = subprocess.run(
            [
                str(ROOT / "scripts/services.sh"),
                "-" if mongo_base else str(TEST_MONGO_PORT),
                "-" if redis_base else str(TEST_REDIS_PORT),
                str(data),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        started = [int(pid) for pid in out.stdout.split()]
    urls = {
        "mongo": mongo_base or f"mongodb://127.0.0.1:{TEST_MONGO_PORT}",
        "redis": redis_base or f"redis://127.0.0.1:{TEST_REDIS_PORT}",
    }
    yield urls
    for pid in started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def test_database(services: dict[str, str]) -> Iterator[str]:
    """A fresh database name for this run, dropped afterwards."""
    name = f"tq_test_{uuid.uuid4().hex[:12]}"
    yield name
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        services["mongo"], serverSelectionTimeoutMS=3000
    )
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="session")
def redis_db(services: dict[str, str]) -> Iterator[str]:
    """A Redis database number for this run (broker, limits), flushed before and after."""
    url = f"{services['redis']}/{uuid.uuid4().int % 14 + 1}"
    client = redis_sync.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def fake_stream() -> Iterator[FakeStream]:
    fake = FakeStream(TEST_STREAM_KEY, TEST_STREAM_SECRET).start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def healthy_stream(fake_stream: FakeStream) -> Iterator[None]:
    """Faults injected by one test never leak into the next."""
    yield
    fake_stream.heal()


@pytest.fixture(scope="session")
def mail_server() -> Iterator[SmtpCatcher]:
    """A real SMTP server the run's workers send to (tests assert on what it received)."""
    catcher = SmtpCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture(scope="session")
def fake_dns() -> Iterator[FakeDns]:
    """Where organizations publish their domain verification records (SSO_DNS_SERVER)."""
    server = FakeDns().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(
    services: dict[str, str],
    test_database: str,
    redis_db: str,
    fake_stream: FakeStream,
    mail_server: SmtpCatcher,
    fake_dns: FakeDns,
) -> Settings:
    return make_settings(
        services,
        test_database,
        redis_db,
        stream_api_key=TEST_STREAM_KEY,
        stream_api_secret=TEST_STREAM_SECRET,
        stream_base_url=fake_stream.url,
        stream_timeout_s=1.0,
        smtp_url=mail_server.url,
        app_url="https://app.example.com",
        sso_dns_server=fake_dns.address,
    )


@pytest.fixture(scope="module")
async def server(settings: Settings) -> AsyncIterator[str]:
    """A real Sanic server with the run's settings; its base URL."""
    async with running_app(settings) as (_app, url):
        yield url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server) as http:
        yield http


@pytest.fixture(scope="module")
async def engine(settings: Settings) -> AsyncIterator[AIOEngine]:
    """The run's database, for tests that look at stored documents or call job logic."""
    engine = create_engine(settings)
    yield engine
    engine.client.close()


@pytest.fixture(scope="module")
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    client = create_redis(settings)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def celery_worker(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process (prefork, one child) on the run's Redis and database."""
    proc, _ = start_worker(settings)
    yield proc
    stop_worker(proc)


@pytest.fixture(scope="session")
def runner_worker(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """The runner as the Procfile starts it: a worker consuming only the `runs` queue, with two
    pool processes (two sandbox slots). Ready once it has published its runtimes."""
    proc, log_path = start_worker(settings, queues="runs", concurrency=2, name="runner")
    client = redis_sync.Redis.from_url(settings.redis_url)
    deadline = time.monotonic() + 30
    while not client.get("runner:runtimes"):
        if time.monotonic() > deadline:
            stop_worker(proc)
            raise RuntimeError(f"the runner published no runtimes; see {log_path}")
        time.sleep(0.1)
    client.close()
    yield proc
    stop_worker(proc)


@pytest.fixture(scope="session")
def celery_client(settings: Settings, celery_worker: subprocess.Popen[bytes]) -> Iterator[Celery]:
    app = create_celery(settings, routes=TASK_ROUTES)
    yield app
    app.close()
