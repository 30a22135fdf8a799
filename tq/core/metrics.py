"""Prometheus metrics (prometheus-client). Every process records into these; with
PROMETHEUS_MULTIPROC_DIR set (several web workers, Celery workers) each writes its own files
there and GET /metrics adds them up. prometheus-client reads that variable itself when first
imported, so it is set in the environment the processes start with (`make run` does)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

HTTP_REQUESTS = Counter(
    "tq_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "tq_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# One child per label set, looked up once: `labels()` checks and locks on every call, which
# was a tenth of the cheapest request's CPU. Bounded: routes are templates, statuses few.
@functools.lru_cache(maxsize=4096)
def http_requests(method: str, route: str, status: str) -> Counter:
    return HTTP_REQUESTS.labels(method, route, status)


@functools.lru_cache(maxsize=4096)
def http_latency(method: str, route: str) -> Histogram:
    return HTTP_LATENCY.labels(method, route)


HTTP_IN_FLIGHT = Gauge(
    "tq_http_requests_in_flight", "HTTP requests being answered", multiprocess_mode="livesum"
)
JOB_RUNS = Counter("tq_job_runs_total", "Job runs by outcome", ["job", "outcome"])
JOB_DURATION = Histogram(
    "tq_job_duration_seconds",
    "Time one job run took",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
WEBHOOK_DELIVERIES = Counter(
    "tq_webhook_deliveries_total", "Outbound webhook delivery attempts by outcome", ["outcome"]
)
STREAM_ERRORS = Counter("tq_stream_errors_total", "Failed calls to Stream", ["kind"])


class Snapshot(Collector):
    """Values read at scrape time (queue depths, the outbox), as gauges."""

    def __init__(self, queues: Mapping[str, int], outbox: int) -> None:
        self.queues = queues
        self.outbox = outbox

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "tq_queue_depth", "Messages waiting per Celery queue", labels=["queue"]
        )
        for name, count in sorted(self.queues.items()):
            depth.add_metric([name], count)
        yield depth
        yield GaugeMetricFamily(
            "tq_job_outbox_size", "Jobs waiting in the outbox for the broker", value=self.outbox
        )


def exposition(multiproc_dir: str | None, snapshot: Snapshot) -> bytes:
    """The text exposition: every process's metrics (or this one's), then the snapshot."""
    if multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
        recorded = generate_latest(registry)
    else:
        recorded = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(snapshot)
    return recorded + generate_latest(extra)
