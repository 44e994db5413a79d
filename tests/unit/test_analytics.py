"""Analytics rules: event mapping, first-response buckets and the median read from them, and the
effects one event has on the counters and the ticket (services.analytics.plan)."""

import math
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing import analytics
from ticketing.models.events import (
    MESSAGE_IN,
    MESSAGE_OUT,
    TICKET_CHANGED,
    TICKET_MESSAGE_ADDED,
    TicketEvent,
    changed_detail,
    message_detail,
    ticket_event,
)
from ticketing.models.records import Channel, Direction, HistoryEvent, Message, TicketStatus
from ticketing.repository.analytics import TicketState
from ticketing.services.analytics import plan

T0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 5, tzinfo=UTC)
LAST_BOUND = analytics.BOUNDS[-1]


def event(name: str, at: datetime, key: str = "e1") -> TicketEvent:
    return TicketEvent(idempotency_key=key, workspace_id="ws", ticket_id="tk", event=name, at=at)


def ticket(status: str = "open", **metrics: object) -> TicketState:
    return TicketState(created_at=T0, status=status, metrics=dict(metrics))


# ---------------------------------------------------------------------------- event mapping
def test_a_history_event_maps_to_a_ticket_changed_detail_and_back():
    # GIVEN a stored history event
    history = HistoryEvent(
        workspace_id="ws",
        ticket_id="tk",
        event_id="ev1",
        event="reopened",
        actor="customer",
        at=T0,
        from_status=TicketStatus.CLOSED,
        to_status=TicketStatus.OPEN,
    )
    # WHEN it is rendered as its bus detail and read back by a consumer
    read = ticket_event(TICKET_CHANGED, changed_detail(history).model_dump(mode="json"))
    # THEN the idempotency key is the history event id, and the status it leaves is known
    assert (read.idempotency_key, read.event, read.at) == ("ev1", "reopened", T0)
    assert read.status_after is TicketStatus.OPEN


@pytest.mark.parametrize(
    ("direction", "name"), [("inbound", MESSAGE_IN), ("outbound", MESSAGE_OUT)]
)
def test_a_message_maps_to_a_message_event_by_direction(direction, name):
    message = Message(
        workspace_id="ws",
        message_id="ms1",
        ticket_id="tk",
        conversation_id="cv",
        channel=Channel.WHATSAPP,
        account_id="a",
        direction=Direction(direction),
        channel_message_id="wamid.1",
        sender_id="s",
        sent_at=T0 - timedelta(seconds=3),
        received_at=T0,
    )
    read = ticket_event(TICKET_MESSAGE_ADDED, message_detail(message).model_dump(mode="json"))
    # THEN keyed by the message id, timed when we stored it
    assert (read.idempotency_key, read.event, read.at) == ("ms1", name, T0)
    assert read.status_after is None


def test_an_unknown_detail_type_is_refused():
    with pytest.raises(ValueError, match="not a ticket event"):
        ticket_event("OutboundMessageRequested", {})


# ---------------------------------------------------------------------------- buckets, median
def test_buckets_cover_every_time_in_order():
    # GIVEN the bucket bounds
    # THEN they start at 0, grow by 2^(1/4), and every time falls in the bucket that holds it
    assert analytics.BOUNDS[0] == 0
    assert analytics.BOUNDS[1] == 10
    for lower, upper in zip(analytics.BOUNDS[1:], analytics.BOUNDS[2:], strict=False):
        assert upper / lower == pytest.approx(2**0.25)
    for seconds in (0, 9.99, 10, 11.9, 3600, LAST_BOUND - 1, LAST_BOUND, 10**9):
        lower, upper = analytics.bucket_bounds(analytics.bucket_of(seconds))
        assert lower <= seconds < upper
    assert analytics.bucket_of(-5) == 0
    assert analytics.bucket_attribute(7) == "frb_07"


def median_of(values: list[int]) -> float | None:
    counts: dict[int, int] = {}
    for value in values:
        index = analytics.bucket_of(value)
        counts[index] = counts.get(index, 0) + 1
    return analytics.median_from_buckets(counts)


@given(st.lists(st.integers(min_value=0, max_value=int(LAST_BOUND) - 1), min_size=1))
def test_median_from_buckets_is_within_the_middle_buckets_width(values):
    # GIVEN first-response times below the last (open) bucket
    # WHEN the median is read from their buckets
    estimate = median_of(values)
    # THEN it is off the exact median by at most the width of a middle value's bucket
    ordered = sorted(values)
    middle = {ordered[(len(values) - 1) // 2], ordered[len(values) // 2]}
    width = max(
        analytics.bucket_bounds(analytics.bucket_of(v))[1]
        - analytics.bucket_bounds(analytics.bucket_of(v))[0]
        for v in middle
    )
    assert estimate is not None
    assert abs(estimate - statistics.median(values)) <= width


@given(st.lists(st.integers(min_value=10, max_value=int(LAST_BOUND) - 1), min_size=1))
def test_median_relative_error_is_at_most_the_documented_bound(values):
    # GIVEN times between 10 s and the last bound: THEN within 2^(1/8) (±9.1 %) of the median
    estimate = median_of(values)
    exact = statistics.median(values)
    assert estimate is not None
    assert exact / 2**0.125 - 1e-9 <= estimate <= exact * 2**0.125 + 1e-9


def test_median_of_nothing_is_none_and_the_open_bucket_reads_as_its_floor():
    assert analytics.median_from_buckets({}) is None
    assert analytics.median_from_buckets({3: 0}) is None
    assert median_of([10**8]) == pytest.approx(LAST_BOUND)
    assert median_of([0, 1, 2]) == 5  # bucket 0 reads as its midpoint
    assert not math.isinf(analytics.representative(analytics.BUCKET_COUNT - 1))


# ---------------------------------------------------------------------------- plan
def test_a_created_event_counts_on_its_utc_day_and_counts_the_open_ticket_once():
    # GIVEN a new open ticket not counted yet
    change = plan(event("created", T0), ticket("open"), NOW)
    # THEN created +1 on the UTC day, open-now +1, and the ticket marked as counted
    assert change.days == {"2026-03-01": {"created": 1}}
    assert change.open_delta == 1
    assert change.ticket_set == {"counted_open": True}
    assert change.ticket_seen == {"counted_open": None, "status": "open"}
    # AND once counted, the next event of the still-open ticket leaves open-now alone
    again = plan(event("assigned", T0), ticket("open", counted_open=True), NOW)
    assert (again.open_delta, again.ticket_set, again.days) == (0, {}, {})


def test_open_now_follows_the_ticket_status_read_not_the_event():
    # GIVEN a "created" event processed after the ticket was already closed
    change = plan(event("created", T0), ticket("closed"), NOW)
    # THEN it is counted as created but never as open
    assert change.open_delta == 0
    # AND a counted ticket found closed or spam is uncounted by whichever event comes
    for status in ("closed", "spam"):
        late = plan(event("labels_changed", T0), ticket(status, counted_open=True), NOW)
        assert late.open_delta == -1
        # guarded on the flag and the status it was derived from
        assert late.ticket_seen == {"counted_open": True, "status": status}


def test_the_first_outbound_message_sets_the_first_response_and_its_bucket():
    at = T0 + timedelta(minutes=65)
    change = plan(event(MESSAGE_OUT, at), ticket("open", counted_open=True), NOW)
    bucket = analytics.bucket_attribute(analytics.bucket_of(3900))
    # THEN the day of the response (UTC: the next day) counts it, and the ticket holds 3900 s
    assert change.days == {
        "2026-03-02": {"messages_out": 1, "fr_count": 1, bucket: 1, "fr_seconds": 3900}
    }
    assert change.ticket_set == {
        "first_response_at": "2026-03-02T00:05:00Z",
        "first_response_seconds": 3900,
    }
    assert change.ticket_seen == {"first_response_at": None}


def test_an_earlier_reply_processed_later_moves_the_first_response_back():
    # GIVEN the ticket's first response recorded from a later reply (1 day after creation)
    later = "2026-03-02T23:00:00Z"
    state = ticket("open", counted_open=True, first_response_at=later, first_response_seconds=86400)
    # WHEN the earlier reply (60 s after creation) arrives
    change = plan(event(MESSAGE_OUT, T0 + timedelta(seconds=60)), state, NOW)
    # THEN the old day's bucket gives its count back and the new day's takes it
    old = analytics.bucket_attribute(analytics.bucket_of(86400))
    new = analytics.bucket_attribute(analytics.bucket_of(60))
    assert change.days == {
        "2026-03-01": {"messages_out": 1, "fr_count": 1, new: 1, "fr_seconds": 60},
        "2026-03-02": {"fr_count": -1, old: -1, "fr_seconds": -86400},
    }
    assert change.ticket_set["first_response_seconds"] == 60
    assert change.ticket_seen == {"first_response_at": later}


def test_a_later_reply_leaves_the_first_response_alone():
    state = ticket("open", counted_open=True, first_response_at="2026-03-01T23:01:00Z")
    change = plan(event(MESSAGE_OUT, T0 + timedelta(hours=2)), state, NOW)
    assert change.days == {"2026-03-02": {"messages_out": 1}}
    assert change.ticket_set == {}


def test_resolution_is_creation_to_the_latest_close():
    # GIVEN a ticket closed once already (1 h after creation)
    state = ticket("closed", resolved_at="2026-03-02T00:00:00Z", resolution_seconds=3600)
    # WHEN an older close arrives: nothing moves but the day's count
    older = plan(event("closed", T0 + timedelta(minutes=1)), state, NOW)
    assert older.ticket_set == {}
    assert older.days == {"2026-03-01": {"closed": 1}}
    # WHEN a newer close arrives: the resolution becomes creation → it
    newer = plan(event("closed", T0 + timedelta(hours=3)), state, NOW)
    assert newer.ticket_set == {"resolved_at": "2026-03-02T02:00:00Z", "resolution_seconds": 10800}
    assert newer.ticket_seen == {"resolved_at": "2026-03-02T00:00:00Z"}


@pytest.mark.parametrize(
    ("name", "counter"),
    [
        ("reopened", "reopened"),
        ("marked_spam", "spam"),
        (MESSAGE_IN, "messages_in"),
        ("note_added", None),
    ],
)
def test_day_counters_by_event(name, counter):
    change = plan(event(name, T0), ticket("open", counted_open=True), NOW)
    assert change.days == ({"2026-03-01": {counter: 1}} if counter else {})
