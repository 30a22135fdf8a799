"""The webhook retry rule on its own: what one attempt's result means for the next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tq.integrations.delivery import Attempt, next_attempt, retry_after_s

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SCHEDULE = [0.0, 5.0, 300.0]  # the delay before attempt 1, 2, 3


def test_a_2xx_finishes_whatever_the_attempt() -> None:
    for attempts in (1, 3, 9):
        assert next_attempt(attempts, SCHEDULE, Attempt(status=204), NOW) == ("succeeded", None)


def test_a_failure_waits_for_the_schedule_then_gives_up() -> None:
    failed = Attempt(status=500)
    assert next_attempt(1, SCHEDULE, failed, NOW) == ("retrying", NOW + timedelta(seconds=5))
    assert next_attempt(2, SCHEDULE, failed, NOW) == ("retrying", NOW + timedelta(seconds=300))
    assert next_attempt(3, SCHEDULE, failed, NOW) == ("failed", None)
    no_answer = Attempt(error="no answer within 10 s")
    assert next_attempt(1, SCHEDULE, no_answer, NOW)[0] == "retrying"
    assert next_attempt(1, SCHEDULE, Attempt(status=302), NOW)[0] == "retrying"  # no redirects


def test_retry_after_delays_but_never_hastens() -> None:
    slow_down = Attempt(status=429, retry_after_s=120.0)
    assert next_attempt(1, SCHEDULE, slow_down, NOW) == ("retrying", NOW + timedelta(seconds=120))
    soon = Attempt(status=429, retry_after_s=1.0)
    assert next_attempt(2, SCHEDULE, soon, NOW) == ("retrying", NOW + timedelta(seconds=300))


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    def response(value: str | None) -> httpx.Response:
        headers = {"retry-after": value} if value is not None else {}
        return httpx.Response(429, headers=headers)

    assert retry_after_s(response("30")) == 30.0
    assert retry_after_s(response("-5")) == 0.0
    assert retry_after_s(response(None)) is None
    assert retry_after_s(response("soon")) is None
    later = retry_after_s(response("Wed, 21 Oct 2099 07:28:00 GMT"))
    assert later is not None and later > 1e9
