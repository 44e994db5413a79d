"""Analytics rules (pure): first-response buckets, the median from them, days of a summary.

First response times are counted per day in fixed, geometric buckets: bucket 0 is [0, 10 s), then
each bucket is 2^(1/4) ≈ 1.19 times wider than the last, up to 10·2^17 s ≈ 15.2 days; the last
bucket is [15.2 days, ∞). The median read back from the buckets takes each middle value as its
bucket's geometric midpoint, so between 10 s and 15.2 days it is within ±9.1 % (2^(1/8)) of the
exact median, below 10 s within ±5 s; beyond 15.2 days it reads as 15.2 days (a floor).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta

BUCKET_BASE_SECONDS = 10.0
BUCKETS_PER_DOUBLING = 4
BUCKET_COUNT = 70
# BOUNDS[i] is the lower bound of bucket i (seconds); bucket i is [BOUNDS[i], BOUNDS[i + 1]).
BOUNDS: tuple[float, ...] = (
    0.0,
    *(BUCKET_BASE_SECONDS * 2 ** (k / BUCKETS_PER_DOUBLING) for k in range(BUCKET_COUNT - 1)),
)
MAX_SUMMARY_DAYS = 92


def bucket_of(seconds: float) -> int:
    """The bucket a first-response time falls in (negative times count as 0)."""
    return bisect.bisect_right(BOUNDS, max(seconds, 0.0)) - 1


def bucket_attribute(index: int) -> str:
    return f"frb_{index:02d}"


def bucket_bounds(index: int) -> tuple[float, float]:
    upper = BOUNDS[index + 1] if index + 1 < BUCKET_COUNT else math.inf
    return BOUNDS[index], upper


def representative(index: int) -> float:
    """The value a bucket stands for: its geometric midpoint (bucket 0: 5 s; the last: its
    lower bound)."""
    lower, upper = bucket_bounds(index)
    if index == 0:
        return upper / 2
    if math.isinf(upper):
        return lower
    return math.sqrt(lower * upper)


def median_from_buckets(counts: Mapping[int, int]) -> float | None:
    """The median (as statistics.median: the mean of the two middle values for an even count),
    each middle value read as its bucket's representative. None when there is nothing."""
    total = sum(n for n in counts.values() if n > 0)
    if total == 0:
        return None
    wanted = [(total - 1) // 2, total // 2]
    found: list[float] = []
    seen = 0
    for index in sorted(counts):
        n = counts[index]
        if n <= 0:
            continue
        while wanted and wanted[0] < seen + n:
            found.append(representative(index))
            wanted.pop(0)
        seen += n
    return (found[0] + found[1]) / 2


def day_of(at: datetime) -> str:
    """The UTC day an event counts on (YYYY-MM-DD)."""
    return at.astimezone(UTC).date().isoformat()


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def seconds_between(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))
