"""Unit tests of tq.workers.jobs (pure functions, no services)."""

from __future__ import annotations

import random

from workers.jobs import retry_delay


def test_retry_delay_grows_with_jitter_and_honours_retry_after() -> None:
    random.seed(7)
    for attempt in range(8):
        ceiling = min(60.0, 1.0 * 2**attempt)
        delays = [retry_delay(attempt, 1.0, 60.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 1  # jittered, not fixed
    assert retry_delay(0, 1.0, 60.0, retry_after=30.0) >= 30.0
