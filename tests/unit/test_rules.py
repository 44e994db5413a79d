"""Where a customer message goes (DOMAIN.md "Ticket statuses and transitions"), as pure rules."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ticketing.models.records import (
    DEFAULT_REOPEN_WINDOW_SECONDS,
    MAX_REOPEN_WINDOW_SECONDS,
    MIN_REOPEN_WINDOW_SECONDS,
    Channel,
    Conversation,
    TicketStatus,
    WorkspaceSettings,
)
from ticketing.rules import (
    AppendToTicket,
    CreateTicket,
    ReopenTicket,
    StartConversation,
    route_customer_message,
    within_reopen_window,
)

NOW = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
DAY = 24 * 3600


def conversation(
    *,
    open_ticket_id: str | None = None,
    latest_ticket_id: str | None = None,
    latest_ticket_status: TicketStatus | None = None,
    latest_closed_at: datetime | None = None,
) -> Conversation:
    return Conversation(
        workspace_id="ws-1",
        conversation_id="c-1",
        contact_id="ct-1",
        channel=Channel.MESSENGER,
        account_id="page-1",
        customer_id="psid-1",
        created_at=NOW - timedelta(days=30),
        open_ticket_id=open_ticket_id,
        latest_ticket_id=latest_ticket_id,
        latest_ticket_status=latest_ticket_status,
        latest_closed_at=latest_closed_at,
    )


def settings(window: int | None = DEFAULT_REOPEN_WINDOW_SECONDS) -> WorkspaceSettings:
    return WorkspaceSettings(workspace_id="ws-1", reopen_window_seconds=window)


def closed(ago: timedelta) -> Conversation:
    return conversation(
        latest_ticket_id="t-old",
        latest_ticket_status=TicketStatus.CLOSED,
        latest_closed_at=NOW - ago,
    )


# ---------------------------------------------------------------------------- every branch
def test_no_conversation_starts_one():
    # GIVEN a customer who never wrote on this channel account
    # WHEN the message is routed
    route = route_customer_message(None, settings(), NOW)
    # THEN the conversation is created with its first ticket
    assert route == StartConversation()


def test_open_ticket_gets_the_message():
    # GIVEN a conversation with an open ticket
    conv = conversation(
        open_ticket_id="t-open", latest_ticket_id="t-open", latest_ticket_status=TicketStatus.OPEN
    )
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(), NOW)
    # THEN it is appended to that open ticket, guarded on its open status
    assert route == AppendToTicket("t-open", TicketStatus.OPEN)


def test_closed_inside_window_is_reopened():
    # GIVEN the latest ticket closed 23 h 59 min 59 s ago and a 24 h window
    conv = closed(timedelta(seconds=DAY - 1))
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(DAY), NOW)
    # THEN that ticket is reopened
    assert route == ReopenTicket("t-old")


def test_closed_exactly_at_window_creates_linked_ticket():
    # GIVEN the latest ticket closed exactly one window ago
    conv = closed(timedelta(seconds=DAY))
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(DAY), NOW)
    # THEN the window is over: a new ticket is created, linked to the closed one
    assert route == CreateTicket(previous_ticket_id="t-old")


def test_closed_after_window_creates_linked_ticket():
    # GIVEN the latest ticket closed two days ago and a 24 h window
    conv = closed(timedelta(days=2))
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(DAY), NOW)
    # THEN a new ticket is created, linked to the closed one
    assert route == CreateTicket(previous_ticket_id="t-old")


def test_window_off_never_reopens():
    # GIVEN the latest ticket closed one second ago and the workspace's reopen window off
    conv = closed(timedelta(seconds=1))
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(None), NOW)
    # THEN a new ticket is always created
    assert route == CreateTicket(previous_ticket_id="t-old")


def test_spam_latest_ticket_gets_the_message():
    # GIVEN the latest ticket was marked spam
    conv = conversation(latest_ticket_id="t-spam", latest_ticket_status=TicketStatus.SPAM)
    # WHEN the spammer writes again
    route = route_customer_message(conv, settings(), NOW)
    # THEN the message is stored on the spam ticket, guarded on its spam status
    assert route == AppendToTicket("t-spam", TicketStatus.SPAM)


def test_spam_with_a_recent_close_time_is_still_spam():
    # GIVEN a spam ticket that carries a recent close time (closed, then marked spam)
    conv = conversation(
        latest_ticket_id="t-spam",
        latest_ticket_status=TicketStatus.SPAM,
        latest_closed_at=NOW - timedelta(minutes=5),
    )
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(), NOW)
    # THEN it goes to the spam ticket; spam is never reopened by the customer
    assert route == AppendToTicket("t-spam", TicketStatus.SPAM)


def test_no_latest_ticket_creates_one_without_link():
    # GIVEN a conversation that has no ticket yet
    conv = conversation()
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(), NOW)
    # THEN a ticket is created with no previous ticket
    assert route == CreateTicket(previous_ticket_id=None)


def test_closed_without_close_time_is_not_reopened():
    # GIVEN a closed latest ticket whose close time is unknown
    conv = conversation(latest_ticket_id="t-old", latest_ticket_status=TicketStatus.CLOSED)
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(), NOW)
    # THEN it is not reopened (the window cannot be checked): a linked ticket is created
    assert route == CreateTicket(previous_ticket_id="t-old")


# ---------------------------------------------------------------------------- property
ticket_ids = st.sampled_from(["t-1", "t-2", "t-3"])
windows = st.none() | st.integers(MIN_REOPEN_WINDOW_SECONDS, MAX_REOPEN_WINDOW_SECONDS)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@st.composite
def conversations(draw: st.DrawFn) -> Conversation | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    return conversation(
        open_ticket_id=draw(st.none() | ticket_ids),
        latest_ticket_id=draw(st.none() | ticket_ids),
        latest_ticket_status=draw(st.none() | st.sampled_from(TicketStatus)),
        latest_closed_at=draw(st.none() | moments),
    )


@given(conv=conversations(), window=windows, now=moments)
def test_route_invariants(conv, window, now):
    # GIVEN any conversation state, workspace window and time
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(window), now)
    # THEN only a missing conversation starts one
    assert isinstance(route, StartConversation) == (conv is None)
    if conv is None:
        return
    # AND an open ticket always gets the message: never reopen or create next to it
    if conv.open_ticket_id is not None:
        assert route == AppendToTicket(conv.open_ticket_id, TicketStatus.OPEN)
    # AND only a closed latest ticket inside the window is reopened
    if isinstance(route, ReopenTicket):
        assert conv.open_ticket_id is None
        assert route.ticket_id == conv.latest_ticket_id
        assert conv.latest_ticket_status is TicketStatus.CLOSED
        assert window is not None
        assert conv.latest_closed_at is not None
        assert now - conv.latest_closed_at < timedelta(seconds=window)
    # AND a new ticket always links to the latest one
    if isinstance(route, CreateTicket):
        assert conv.open_ticket_id is None
        assert route.previous_ticket_id == conv.latest_ticket_id
    # AND the only non-open append is to the latest ticket when it is spam
    if isinstance(route, AppendToTicket) and route.expected_status is TicketStatus.SPAM:
        assert conv.open_ticket_id is None
        assert route.ticket_id == conv.latest_ticket_id
        assert conv.latest_ticket_status is TicketStatus.SPAM


@given(conv=conversations(), now=moments)
def test_window_off_never_reopens_property(conv, now):
    # GIVEN any conversation and a workspace with the reopen window off
    # WHEN a customer message is routed
    route = route_customer_message(conv, settings(None), now)
    # THEN nothing is ever reopened
    assert not isinstance(route, ReopenTicket)


# ---------------------------------------------------------------------------- window edges
@pytest.mark.parametrize(
    ("closed_at", "window", "expected"),
    [
        pytest.param(None, DAY, False, id="never-closed"),
        pytest.param(NOW - timedelta(seconds=1), None, False, id="window-off"),
        pytest.param(NOW, DAY, True, id="closed-this-instant"),
        pytest.param(NOW - timedelta(seconds=DAY, microseconds=-1), DAY, True, id="1us-before-end"),
        pytest.param(NOW - timedelta(seconds=DAY), DAY, False, id="exactly-at-end"),
        pytest.param(NOW - timedelta(seconds=DAY + 1), DAY, False, id="after-end"),
        pytest.param(NOW - timedelta(seconds=59), 60, True, id="min-window-inside"),
        pytest.param(NOW + timedelta(seconds=5), 60, True, id="closed-after-now-clock-skew"),
    ],
)
def test_within_reopen_window_edges(closed_at, window, expected):
    # GIVEN a close time and a window
    # WHEN the window is checked at NOW
    inside = within_reopen_window(closed_at, window, NOW)
    # THEN the window is half-open: [closed_at, closed_at + window)
    assert inside is expected


# ---------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    "window",
    [60, DAY, 7 * DAY, None],
    ids=["1-minute", "default-24h", "7-days", "off"],
)
def test_reopen_window_accepted(window):
    # GIVEN a window from 1 minute to 7 days, or off
    # WHEN workspace settings are built
    ws = WorkspaceSettings(workspace_id="ws-1", reopen_window_seconds=window)
    # THEN it is kept as given
    assert ws.reopen_window_seconds == window


@pytest.mark.parametrize(
    "window", [59, 7 * DAY + 1, 0, -60], ids=["59s", "7-days-plus-1s", "zero", "negative"]
)
def test_reopen_window_rejected(window):
    # GIVEN a window outside 1 minute .. 7 days
    # WHEN workspace settings are built
    # THEN validation fails, naming the field
    with pytest.raises(ValidationError, match="reopen_window_seconds"):
        WorkspaceSettings(workspace_id="ws-1", reopen_window_seconds=window)


def test_reopen_window_defaults_to_24_hours():
    # GIVEN settings without a window
    # WHEN they are built
    ws = WorkspaceSettings(workspace_id="ws-1")
    # THEN the default is 24 hours
    assert ws.reopen_window_seconds == DAY == DEFAULT_REOPEN_WINDOW_SECONDS


@given(window=st.integers(-(10**9), 10**9))
def test_reopen_window_range_property(window):
    # GIVEN any whole number of seconds
    # WHEN settings are built
    # THEN exactly the 60 s .. 7 days range is accepted
    if MIN_REOPEN_WINDOW_SECONDS <= window <= MAX_REOPEN_WINDOW_SECONDS:
        ws = WorkspaceSettings(workspace_id="w", reopen_window_seconds=window)
        assert ws.reopen_window_seconds == window
    else:
        with pytest.raises(ValidationError):
            WorkspaceSettings(workspace_id="w", reopen_window_seconds=window)
