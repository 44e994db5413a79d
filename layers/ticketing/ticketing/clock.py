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


def after(previous: datetime | None, now: datetime) -> datetime:
    """``now``, or a millisecond after ``previous`` when this writer's clock is behind the state it
    decided on (history is ordered by time: a change never sorts before the one it followed)."""
    if previous is None or now > previous:
        return now
    return from_ms(to_ms(previous) + 1)
