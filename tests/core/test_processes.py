"""The deployable processes: the Procfile's web command, start-up refusal, a real worker."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from config import Settings
from tests.support import ROOT, free_port, procfile_command, settings_env, start_process


def test_procfile_has_exactly_web_worker_beat_runner() -> None:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line]
    assert [line.split(":")[0] for line in lines] == ["web", "worker", "beat", "runner"]
    # User code runs only where the runs queue is consumed: the runner, and only it.
    assert " -Q runs " in lines[3]
    assert "-Q" not in lines[1]


@pytest.mark.slow
def test_web_process_from_procfile_serves_health(settings: Settings) -> None:
    port = free_port()
    env = settings_env(settings) | {"PORT": str(port), "WORKERS": "1"}
    command = procfile_command("web")
    assert command[0] == "python"
    proc = start_process([sys.executable, *command[1:]], env, ROOT / "var/test-logs/web.log")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/health/ready", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "web process exited"
                assert time.monotonic() < deadline, "web process did not answer in 30s"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["mongo"] == "up"
        assert response.json()["redis"] == "up"
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"APP_ENV": "production"}, "JWT_SECRET"),
        ({"NODE_ENV": "production"}, "JWT_SECRET"),
        ({"APP_ENV": "production", "JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"APP_ENV": "production", "JWT_SECRET": "s" * 48}, "STREAM_API_KEY"),
        (
            {"APP_ENV": "production", "JWT_SECRET": "s" * 48, "STREAM_API_KEY": "k"},
            "STREAM_API_SECRET",
        ),
        (
            {
                "APP_ENV": "production",
                "JWT_SECRET": "s" * 48,
                "STREAM_API_KEY": "k",
                "STREAM_API_SECRET": "s",
            },
            "METRICS_TOKEN",
        ),
    ],
)
def test_production_refuses_to_start_without_secrets(
    settings: Settings, env: dict[str, str], named: str
) -> None:
    base = settings_env(settings)
    for key in (
        "JWT_SECRET",
        "STREAM_API_KEY",
        "STREAM_API_SECRET",
        "METRICS_TOKEN",
        "APP_ENV",
        "NODE_ENV",
    ):
        base.pop(key, None)
    result = subprocess.run(
        [sys.executable, "server.py"],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert named in lines[0]


def test_ping_task_round_trips_through_a_real_worker(celery_client) -> None:
    assert celery_client.send_task("workers.tasks.ping").get(timeout=30) == "pong"
    reply = celery_client.send_task("workers.tasks.db_ping").get(timeout=30)
    assert reply["ok"] == 1.0
