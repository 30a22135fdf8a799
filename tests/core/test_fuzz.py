"""schemathesis against the served OpenAPI spec, authenticated as a real user: no 5xx, every
response matches its documented schema and status codes. `make fuzz` runs a longer pass
(FUZZ_EXAMPLES)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import redis as redis_sync

from config import Settings
from tests.support import VENV_BIN, app_on_own_database, create, register
from tq.jobs.registry import DEFAULT_QUEUE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))


async def test_api_fuzz(settings: Settings, tmp_path, runner_worker) -> None:
    """With a runner up, as in production: a missing one is a documented 503, which the
    no-server-error check would (rightly) count."""
    # The fuzzer fails logins on purpose by the thousand; throttling would only hide the API.
    fuzz = settings.model_copy(
        update={
            "login_max_failures": 1_000_000,
            "login_client_max_failures": 1_000_000,
            "login_email_max_failures": 1_000_000,
        }
    )
    # On a database of its own: what the fuzzer makes by the thousand (sessions, invitations,
    # webhook deliveries) stays out of the other tests' way.
    async with app_on_own_database(fuzz, "fuzz") as own:
        http, url = own["http"], own["url"]
        user = await register(http, role="interviewer")
        session = await create(http, user, title="Fuzz target")
        await http.post(
            "/api/chat/save-message",
            headers=user["headers"],
            json={"sessionId": session["_id"], "text": "seed message"},
        )
        spec = (await http.get("/docs/openapi.json")).json()
        operations = [
            (path, method)
            for path, item in spec["paths"].items()
            for method in item
            if method in {"get", "put", "post", "patch", "delete"}
        ]
        assert ("/api/auth/logout", "post") in operations
        process = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "schemathesis"),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{url}/docs/openapi.json",
            "--header",
            f"Authorization: Bearer {user['token']}",
            "--max-examples",
            str(EXAMPLES),
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            # Logging out would revoke the fuzzer's own token halfway through.
            "--exclude-path",
            "/api/auth/logout",
            "--workers",
            "1",
            "--request-timeout",
            "15",
            "--generation-deterministic",
            "--report-dir",
            str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await process.communicate()
    # The jobs it queued (emails, webhook deliveries to made-up hosts) are for that database:
    # drop them rather than have the suite's worker work through them.
    broker = redis_sync.Redis.from_url(settings.redis_url)
    broker.delete(DEFAULT_QUEUE)
    broker.close()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-30000:]
    # Every operation the spec declares was tested, but logout (excluded above).
    assert f"Tested: {len(operations) - 1}" in text, text[-2000:]
