"""GET /metrics: protected by its token, and its series move with traffic: in this process,
and across processes (web workers and a Celery worker) in multi-process mode."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis as redis_sync
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from tests.fakes.stream import FakeStream
from tests.support import (
    ROOT,
    free_port,
    http_client,
    procfile_command,
    register,
    running_app,
    settings_env,
    start_process,
    start_worker,
    stop_worker,
)

TOKEN = "scrape-" + "m" * 20


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name` with these labels (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def scrape(http: httpx.AsyncClient) -> str:
    answer = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


async def test_series_move_with_traffic(settings: Settings, fake_stream: FakeStream) -> None:
    mine = settings.model_copy(update={"metrics_token": TOKEN})
    async with running_app(mine) as (_app, url), http_client(url) as http:
        refused = await http.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"] == "metrics_token"
        assert (
            await http.get("/metrics", headers={"Authorization": "Bearer no"})
        ).status_code == 401
        user = await register(http)
        before = await scrape(http)
        for _ in range(3):
            await http.get("/api/auth/me", headers=user["headers"])
        await http.get("/api/sessions/not-an-id", headers=user["headers"])
        # Creating a session brings its Stream channel in step at once: Stream answers 500.
        fake_stream.fail(times=1, status=500)
        made = await http.post("/api/sessions", json={"title": "M"}, headers=user["headers"])
        assert made.status_code == 201 and made.json()["session"]["streamSync"] == "pending"
        after = await scrape(http)
    me = {"method": "GET", "route": "/api/auth/me", "status": "200"}
    assert (
        value(after, "tq_http_requests_total", **me) - value(before, "tq_http_requests_total", **me)
        == 3
    )
    missing = {"method": "GET", "route": "/api/sessions/<session_id:str>", "status": "404"}
    assert value(after, "tq_http_requests_total", **missing) > value(
        before, "tq_http_requests_total", **missing
    )
    timed = {"method": "GET", "route": "/api/auth/me"}
    assert value(after, "tq_http_request_duration_seconds_count", **timed) >= 3
    assert "tq_http_requests_in_flight" in after
    assert "tq_queue_depth" in after and 'queue="runs"' in after
    assert value(after, "tq_job_outbox_size") >= 0 and "tq_job_outbox_size" in after
    failed = {"kind": "500"}
    assert (
        value(after, "tq_stream_errors_total", **failed)
        - value(before, "tq_stream_errors_total", **failed)
        == 1
    )


def test_multi_process_mode_adds_up_web_workers_and_jobs(
    settings: Settings, services: dict[str, str], tmp_path: Path
) -> None:
    """Two web workers and a Celery worker, sharing PROMETHEUS_MULTIPROC_DIR (as `make run`
    sets it): the web's /metrics counts every worker's requests and the worker's job runs."""
    url = f"{services['redis']}/15"
    broker = redis_sync.Redis.from_url(url)
    broker.flushdb()
    shared = tmp_path / "metrics"
    shared.mkdir()
    mine = settings.model_copy(
        update={"redis_url": url, "metrics_token": TOKEN, "prometheus_multiproc_dir": str(shared)}
    )
    port = free_port()
    env = settings_env(mine) | {"PORT": str(port), "WORKERS": "2"}
    web = start_process(
        [sys.executable, *procfile_command("web")[1:]], env, ROOT / "var/test-logs/web-metrics.log"
    )
    worker, _ = start_worker(mine, name="metrics")
    try:
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/api/health", timeout=2).status_code == 200
            except httpx.TransportError:
                assert web.poll() is None, "web exited"
                return False

        deadline = time.monotonic() + 40
        while not ready():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as http:
            for _ in range(20):  # a connection each: the kernel spreads them over both workers
                assert httpx.get(f"{base}/api/health", timeout=5).status_code == 200
            made = http.post(
                "/api/auth/register",
                json={"email": f"m{time.time_ns()}@example.com", "password": "x" * 12, "name": "M"},
            )
            assert made.status_code == 201  # queues sync_user for the worker

            def job_counted() -> Any:
                text = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
                runs = value(text, "tq_job_runs_total", job="sync_user", outcome="succeeded")
                return text if runs >= 1 else None

            deadline = time.monotonic() + 30
            text = None
            while text is None:
                assert time.monotonic() < deadline, "the worker's job run was not counted"
                text = job_counted()
                time.sleep(0.3)
        health = {"method": "GET", "route": "/api/health", "status": "200"}
        assert value(text, "tq_http_requests_total", **health) >= 20
        assert value(text, "tq_job_duration_seconds_count", job="sync_user") >= 1
        # Each process writes its own files: at least a web worker and the Celery worker (which
        # web worker took which connection is the kernel's choice).
        pids = {p.name.split("_")[-1] for p in shared.glob("counter_*.db")}
        assert len(pids) >= 2, pids
    finally:
        stop_worker(worker)
        web.terminate()
        web.wait(20)
        broker.flushdb()
        broker.close()
