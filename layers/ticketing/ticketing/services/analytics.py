"""Ticket analytics: consume ticket events into per-ticket metrics and workspace counters, and
answer the workspace summary from those counters (README "Ticket events and analytics").

Each event is applied exactly once in effect, whatever the delivery (duplicates, any order):

- counters that add up (created / closed / reopened / spam / messages per day) move in the same
  transaction as the event's processed-marker, so a redelivery moves nothing;
- the first response of a ticket is the EARLIEST outbound message (its time minus the ticket's
  creation): a later reply processed first is replaced when the earlier one arrives, and the
  day histogram moves with it (-1 in the old bucket, +1 in the new), in the same transaction;
- the resolution time is creation → the LATEST close seen;
- open-now is reconciled, not summed from deltas: the ticket item carries ``counted_open``
  (whether it is counted), and each event of the ticket sets it to "the ticket is open now"
  (strongly consistent read) with ±1 on the open-now counter when it flips, guarded on the flag
  and on the status read (a status that moved since makes the event decide again). The event of a
  ticket's last change is processed after that change, so it reads the final status: the counter
  converges to the number of open tickets whatever the order.

The ticket's own ``reopen_count``, ``messages_in`` and ``messages_out`` are kept exactly by the
write paths (in the transaction of each change): they are reused, not counted again.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, datetime

from ticketing import analytics
from ticketing.errors import InvalidRequestError, StorageUnavailableError
from ticketing.models.events import MESSAGE_IN, MESSAGE_OUT, TicketEvent
from ticketing.models.records import TicketStatus
from ticketing.repository.analytics import (
    AnalyticsChange,
    AnalyticsRepository,
    Outcome,
    TicketState,
)

MAX_ATTEMPTS = 8
# history event → the day counter it adds one to
DAY_COUNTERS = {
    "created": "created",
    "closed": "closed",
    "reopened": "reopened",
    "marked_spam": "spam",
    MESSAGE_IN: "messages_in",
    MESSAGE_OUT: "messages_out",
}
FIRST_RESPONSES = "fr_count"
FIRST_RESPONSE_SECONDS = "fr_seconds"


def _stamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def plan(event: TicketEvent, ticket: TicketState, now: datetime) -> AnalyticsChange:
    """The effects of one event on the counters and on the ticket, given the ticket as read."""
    change = AnalyticsChange(
        workspace_id=event.workspace_id,
        ticket_id=event.ticket_id,
        idempotency_key=event.idempotency_key,
        now=now,
    )
    day = analytics.day_of(event.at)
    counter = DAY_COUNTERS.get(event.event)
    if counter:
        change.add(day, counter, 1)

    seen = ticket.metrics
    is_open = ticket.status == TicketStatus.OPEN.value
    counted = bool(seen.get("counted_open", False))
    if is_open != counted:
        change.open_delta = 1 if is_open else -1
        change.ticket_set["counted_open"] = is_open
        change.ticket_seen["counted_open"] = seen.get("counted_open")
        # and the status it was derived from: had the ticket moved since the read, the write fails
        # and the event is decided again (else a late flip could leave a closed ticket counted)
        change.ticket_seen["status"] = ticket.status

    if event.event == MESSAGE_OUT:
        old_at = seen.get("first_response_at")
        if old_at is None or event.at < datetime.fromisoformat(str(old_at)):
            seconds = analytics.seconds_between(ticket.created_at, event.at)
            change.ticket_set |= {
                "first_response_at": _stamp(event.at),
                "first_response_seconds": seconds,
            }
            change.ticket_seen["first_response_at"] = old_at
            change.add(day, FIRST_RESPONSES, 1)
            change.add(day, analytics.bucket_attribute(analytics.bucket_of(seconds)), 1)
            change.add(day, FIRST_RESPONSE_SECONDS, seconds)
            if old_at is not None:
                old_day = analytics.day_of(datetime.fromisoformat(str(old_at)))
                old_seconds = int(seen.get("first_response_seconds", 0))
                change.add(old_day, FIRST_RESPONSES, -1)
                change.add(
                    old_day, analytics.bucket_attribute(analytics.bucket_of(old_seconds)), -1
                )
                change.add(old_day, FIRST_RESPONSE_SECONDS, -old_seconds)

    if event.event == "closed":
        old_at = seen.get("resolved_at")
        if old_at is None or event.at > datetime.fromisoformat(str(old_at)):
            change.ticket_set |= {
                "resolved_at": _stamp(event.at),
                "resolution_seconds": analytics.seconds_between(ticket.created_at, event.at),
            }
            change.ticket_seen["resolved_at"] = old_at
    return change


def apply_event(repo: AnalyticsRepository, event: TicketEvent, now: datetime) -> Outcome | None:
    """Apply one event (idempotent). None when its ticket does not exist (nothing to count)."""
    for attempt in range(MAX_ATTEMPTS):
        ticket = repo.ticket_state(event.workspace_id, event.ticket_id)
        if ticket is None:
            return None
        change = plan(event, ticket, now)
        if change.empty:
            return "unchanged"
        outcome = repo.apply(change)
        if outcome in ("applied", "duplicate"):
            return outcome
        # the ticket's metrics moved since our read (another event of it), or a transaction on
        # the same counters ran at once: read again and decide again
        time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not crypto
    raise StorageUnavailableError(
        "analytics counters kept changing; retry later",
        details={"idempotency_key": event.idempotency_key},
    )


# ---------------------------------------------------------------------------- the summary
@dataclass(frozen=True)
class DaySummary:
    day: date
    created: int
    closed: int
    reopened: int
    spam: int
    messages_in: int
    messages_out: int
    first_responses: int
    median_first_response_seconds: float | None
    buckets: dict[int, int]


@dataclass(frozen=True)
class WorkspaceSummary:
    workspace_id: str
    first: date
    last: date
    open_now: int
    days: list[DaySummary]
    median_first_response_seconds: float | None


def check_range(first: date, last: date) -> None:
    if last < first:
        raise InvalidRequestError(
            "'to' is before 'from'", details={"from": first.isoformat(), "to": last.isoformat()}
        )
    span = (last - first).days + 1
    if span > analytics.MAX_SUMMARY_DAYS:
        raise InvalidRequestError(
            f"the range is at most {analytics.MAX_SUMMARY_DAYS} days",
            details={"days": span, "max_days": analytics.MAX_SUMMARY_DAYS},
        )


def summary(
    repo: AnalyticsRepository, workspace_id: str, first: date, last: date
) -> WorkspaceSummary:
    """Open now (one GetItem) and the per-day counters of [first, last] (one Query)."""
    check_range(first, last)
    stored = repo.day_counters(workspace_id, first.isoformat(), last.isoformat())
    open_now = repo.open_now(workspace_id)
    prefix = analytics.bucket_attribute(0)[:4]  # "frb_"
    everything: dict[int, int] = {}
    out: list[DaySummary] = []
    for day in analytics.days(first, last):
        counters = stored.get(day.isoformat(), {})
        buckets = {
            int(name.removeprefix(prefix)): n
            for name, n in counters.items()
            if name.startswith(prefix) and n > 0
        }
        for index, n in buckets.items():
            everything[index] = everything.get(index, 0) + n
        out.append(
            DaySummary(
                day=day,
                created=counters.get("created", 0),
                closed=counters.get("closed", 0),
                reopened=counters.get("reopened", 0),
                spam=counters.get("spam", 0),
                messages_in=counters.get("messages_in", 0),
                messages_out=counters.get("messages_out", 0),
                first_responses=counters.get(FIRST_RESPONSES, 0),
                median_first_response_seconds=analytics.median_from_buckets(buckets),
                buckets=buckets,
            )
        )
    return WorkspaceSummary(
        workspace_id=workspace_id,
        first=first,
        last=last,
        open_now=max(open_now, 0),
        days=out,
        median_first_response_seconds=analytics.median_from_buckets(everything),
    )
