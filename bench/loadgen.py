"""A small closed-loop HTTP load generator: N connections each send the next request as soon as
the previous answer arrives, for a fixed time. Loopback only; it stops by itself."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

RequestSpec = tuple[str, str, dict[str, str], Any]  # method, path, headers, json body (or None)


@dataclass
class LoadResult:
    name: str
    concurrency: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    # CPU of the serving process (and its children) per request, when the caller measured it.
    cpu_ms_per_request: float | None = None
    # What the errors were: an HTTP status, or "timeout" / "connection".
    error_kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_load(
    base_url: str,
    name: str,
    make_request: Callable[[int], RequestSpec],
    concurrency: int,
    duration_s: float,
    ok_statuses: tuple[int, ...] = (200, 201, 204),
) -> LoadResult:
    assert base_url.startswith(("http://127.", "http://localhost")), "loopback only"
    latencies: list[float] = []
    errors = 0
    kinds: Counter[str] = Counter()
    counter = 0
    deadline = time.monotonic() + duration_s
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=10)  # keeps every cell bounded in time
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as http:

        async def worker() -> None:
            nonlocal errors, counter
            while time.monotonic() < deadline:
                counter += 1
                method, path, headers, body = make_request(counter)
                started = time.perf_counter()
                try:
                    async with http.request(method, path, headers=headers, json=body) as resp:
                        await resp.read()
                        if resp.status not in ok_statuses:
                            errors += 1
                            kinds[str(resp.status)] += 1
                except TimeoutError:
                    errors += 1
                    kinds["timeout"] += 1
                except aiohttp.ClientError:
                    errors += 1
                    kinds["connection"] += 1
                latencies.append((time.perf_counter() - started) * 1000)

        started_all = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started_all
    return LoadResult(
        name=name,
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(latencies), 2) if latencies else float("nan"),
        p99_ms=round(percentile(latencies, 99), 2),
        error_kinds=dict(kinds),
    )


async def api(
    http: aiohttp.ClientSession, method: str, path: str, token: str | None = None, body: Any = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, path, json=body, headers=headers) as resp:
        data = await resp.json()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path} → {resp.status}: {data}")
        return data
