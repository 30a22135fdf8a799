"""Helpers shared by the tests: real services, real servers, real workers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sanic import Sanic

from config import Settings
from tq import create_app

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


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
        env[key] = ",".join(value) if isinstance(value, list) else str(value)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@asynccontextmanager
async def running_app(
    settings: Settings, customize: Callable[[Sanic], None] | None = None
) -> AsyncIterator[tuple[Sanic, str]]:
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


def start_process(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the process's lifetime
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def http_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=15.0)
