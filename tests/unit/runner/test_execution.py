"""Unit tests of tq.runner.execution: the limits of one execute request."""

from __future__ import annotations

from config import Settings
from tq.runner.execution import limits_from
from tq.runner.sandbox import Limits


def test_limits_come_from_the_settings(settings: Settings) -> None:
    assert limits_from(settings) == Limits(
        compile_timeout_s=10.0,
        run_timeout_s=3.0,
        memory_mb=256,
        processes=64,
        file_size_mb=8,
        open_files=128,
        output_bytes=64 * 1024,
        workdir_mb=64,
        compile_memory_mb=1024,
    )


def test_a_client_may_shorten_the_timeouts(settings: Settings) -> None:
    limits = limits_from(settings, compile_timeout_ms=2500, run_timeout_ms=500)
    assert (limits.compile_timeout_s, limits.run_timeout_s) == (2.5, 0.5)


def test_a_client_may_not_lengthen_the_timeouts(settings: Settings) -> None:
    limits = limits_from(settings, compile_timeout_ms=60_000, run_timeout_ms=3001)
    assert (limits.compile_timeout_s, limits.run_timeout_s) == (10.0, 3.0)


def test_zero_or_missing_timeouts_mean_the_configured_ones(settings: Settings) -> None:
    limits = limits_from(settings, compile_timeout_ms=0, run_timeout_ms=None)
    assert (limits.compile_timeout_s, limits.run_timeout_s) == (10.0, 3.0)
