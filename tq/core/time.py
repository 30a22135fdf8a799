from datetime import UTC, datetime


def utcnow() -> datetime:
    # MongoDB keeps milliseconds; truncating here makes what we return equal what we store.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
