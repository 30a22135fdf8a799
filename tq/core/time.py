"""Time as stored: UTC with millisecond precision, which is all MongoDB keeps."""

import time
from datetime import UTC, datetime


def to_millis(moment: datetime) -> datetime:
    """`moment` in UTC (a naive one is taken as UTC), truncated to whole milliseconds, so what
    we return equals what we store."""
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("the time is out of range") from None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utcnow() -> datetime:
    return to_millis(datetime.now(UTC))


class Deadline:
    """A beat job's time budget: its loops stop once it has passed, and what is left (still
    marked in the database) is the next run's. Bounded by time, not only by count, a job ends
    well inside Celery's time limit however much has piled up."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.ends
