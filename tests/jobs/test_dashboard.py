"""The job dashboard: Flower, as `make run` starts it, behind basic auth; its tasks page, in
headless Chromium, shows the project's jobs that ran."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import httpx

from config import Settings
from tests.support import (
    ROOT,
    VENV_BIN,
    Chromium,
    free_port,
    http_client,
    register,
    running_app,
    settings_env,
    start_process,
    wait_until,
)


async def test_flower_tasks_page_shows_the_project_jobs(
    settings: Settings, celery_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    port = free_port()
    flower = start_process(
        [
            str(VENV_BIN / "python"),
            "-m",
            "workers.dashboard",
            "--address=127.0.0.1",
            f"--port={port}",
        ],
        {**settings_env(settings), "FLOWER_BASIC_AUTH": "ops:dashboard-pass"},
        ROOT / "var/test-logs/flower.log",
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:dashboard-pass").decode()}
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthcheck", headers=auth, timeout=2).status_code == 200
            except httpx.TransportError:
                assert flower.poll() is None, "flower exited; see var/test-logs/flower.log"
                return False

        deadline = time.monotonic() + 40
        while not up():
            assert time.monotonic() < deadline
            time.sleep(0.3)
        # Every page wants the password, metrics and health included; and no process's
        # command line shows it.
        for page in ("/tasks", "/metrics", "/healthcheck", "/api/workers"):
            assert httpx.get(f"{base}{page}", timeout=5).status_code == 401, page
        assert httpx.get(f"{base}/metrics", headers=auth, timeout=5).status_code == 200
        assert b"dashboard-pass" not in Path(f"/proc/{flower.pid}/cmdline").read_bytes()
        # Ops trigger a named job through Flower's API (as the README shows).
        applied = httpx.post(
            f"{base}/api/task/async-apply/purge_job_runs", json={}, headers=auth, timeout=10
        )
        assert applied.status_code == 200, applied.text
        assert applied.json()["task-id"]
        async with (
            running_app(settings) as (_app, url),
            http_client(url) as http,
            Chromium(tmp_path / "chromium") as browser,
        ):

            async def listed() -> bool:
                # Flower turns the workers' task events on every few seconds: keep a job
                # running (a sign-up queues sync_user) until it has seen one.
                await register(http)
                await browser.open(f"{base}/tasks", auth)
                text = await browser.evaluate("document.body.innerText")
                return "sync_user" in str(text)

            await wait_until(listed, timeout=60, interval=1.0)
            await browser.screenshot(ROOT / "var" / "test-logs" / "flower-tasks.png")
    finally:
        flower.terminate()
        try:
            flower.wait(10)
        except subprocess.TimeoutExpired:
            flower.kill()
