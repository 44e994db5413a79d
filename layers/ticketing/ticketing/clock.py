"""Time helpers. Services take `now` as an argument; only handlers call `utc_now()`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_ms(value: datetime) -> int:
    # exact integer arithmetic (both ways): float seconds lose a millisecond for some values,
    # e.g. 33059094; naive values are taken as local time, as datetime.timestamp() does
    return (value.astimezone(UTC) - _EPOCH) // _MS


def from_ms(value: int) -> datetime:
    return _EPOCH + value * _MS
