"""Wiring tasks (infrastructure checks)."""

from __future__ import annotations

from tq.jobs.registry import DB_PING, PING
from workers import app, settings
from workers.runtime import get_runtime, run


@app.task(name=PING)
def ping() -> str:
    return "pong"


@app.task(name=DB_PING)
def db_ping() -> dict[str, object]:
    """Proves the worker reaches MongoDB through its per-process loop and client."""

    async def check() -> dict[str, object]:
        runtime = get_runtime(settings)
        reply = await runtime.clients.engine.client.admin.command("ping")
        return {"ok": reply.get("ok"), "database": runtime.clients.engine.database_name}

    return run(settings, check())
