"""Time as stored: UTC with millisecond precision, which is all MongoDB keeps."""

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
