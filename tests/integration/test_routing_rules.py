"""The routing rule of shared/DOMAIN.md, end to end on DynamoDB Local.

Customer messages go through the real webhook handler (signature, parsing, services, conditional
writes); agent actions through ``services.tickets``. Every assertion reads the outcome back from the
table. Where the rule depends on time, ``now`` is passed to the services explicitly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext, unique
from ticketing.clock import utc_now
from ticketing.models import (
    Channel,
    CustomerMessageReceived,
    Direction,
    Ticket,
    TicketStatus,
    WorkspaceSettings,
)
from ticketing.repository import keys
from ticketing.services import tickets
from ticketing.services.ingest import conversation_id_for, ingest_customer_message

pytestmark = pytest.mark.integration

OTHER_APP_ID = 263902037430900  # e.g. the Page inbox app: its echoes are the shop's replies
OWN_APP_ID = 1517776481860111  # META_APP_ID in app_env: our own sends, already stored by us


# ---------------------------------------------------------------------------- helpers
def post(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = ingest(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def say(accounts: Any, mid: str, text: str, *, psid: str, ts: int = demo.T0) -> dict[str, Any]:
    """POST one customer message; assert the handler accepted it; return its outcomes."""
    status, body = post(accounts.messenger(accounts.messenger_message(mid, text, psid=psid, ts=ts)))
    assert status == 200, body
    outcomes: dict[str, Any] = body["outcomes"]
    return outcomes


def echo(accounts: Any, mid: str, text: str, *, psid: str, app_id: int, ts: int) -> dict[str, Any]:
    return {
        "sender": {"id": accounts.page_id},
        "recipient": {"id": psid},
        "timestamp": ts,
        "message": {"mid": mid, "is_echo": True, "app_id": app_id, "text": text},
    }


def conversation_of(repo: Any, accounts: Any, psid: str) -> Any:
    cid = conversation_id_for(Channel.MESSENGER, accounts.page_id, psid)
    return repo.get_conversation(accounts.workspace_id, cid)


def all_tickets(repo: Any, workspace_id: str) -> list[Ticket]:
    found: list[Ticket] = []
    for status in TicketStatus:
        cursor = None
        while True:
            page = repo.list_tickets(workspace_id, status, 100, cursor)
            found.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    return found


def open_ids(repo: Any, workspace_id: str) -> list[str]:
    return [
        t.ticket_id for t in repo.list_tickets(workspace_id, TicketStatus.OPEN, 100, None).items
    ]


def messages(repo: Any, workspace_id: str, ticket_id: str) -> list[Any]:
    return repo.list_messages(workspace_id, ticket_id, 100, None).items


def history(repo: Any, workspace_id: str, ticket_id: str) -> list[tuple[Any, ...]]:
    return [
        (h.event, h.actor, h.from_status, h.to_status)
        for h in repo.list_history(workspace_id, ticket_id)
    ]


def message_item(repo: Any, workspace_id: str, page_id: str, mid: str) -> Any:
    key = keys.message_key(workspace_id, Channel.MESSENGER, page_id, mid)
    response = repo.client.get_item(
        TableName=repo.table_name,
        Key={k: {"S": v} for k, v in key.items()},
        ConsistentRead=True,
    )
    return response.get("Item")


def customer_message(accounts: Any, mid: str, psid: str, sent_at: datetime) -> Any:
    return CustomerMessageReceived(
        channel=Channel.MESSENGER,
        account_id=accounts.page_id,
        customer_id=psid,
        channel_message_id=mid,
        sent_at=sent_at,
        text=f"text of {mid}",
    )


# ---------------------------------------------------------------------------- open ticket
def test_message_on_open_ticket_is_appended(accounts, repo):
    # GIVEN a customer with an open ticket
    psid = unique("psid-")
    assert say(accounts, "mid-a1", "hello", psid=psid) == {"created": 1}
    (ticket,) = all_tickets(repo, accounts.workspace_id)

    # WHEN they write again
    outcomes = say(accounts, "mid-a2", "anyone there?", psid=psid, ts=demo.T0 + 1000)

    # THEN the message joins that ticket; no second ticket appears
    assert outcomes == {"appended": 1}
    (after,) = all_tickets(repo, accounts.workspace_id)
    assert after.ticket_id == ticket.ticket_id
    assert after.status is TicketStatus.OPEN
    assert after.messages_in == 2
    assert after.last_activity_at >= ticket.last_activity_at
    assert [m.text for m in messages(repo, accounts.workspace_id, ticket.ticket_id)] == [
        "hello",
        "anyone there?",
    ]
    conversation = conversation_of(repo, accounts, psid)
    assert conversation.open_ticket_id == ticket.ticket_id


# ---------------------------------------------------------------------------- closed tickets
def test_closed_within_window_is_reopened_with_complete_history(accounts, repo):
    # GIVEN a ticket an agent closed a moment ago (default window: 24 h)
    psid = unique("psid-")
    say(accounts, "mid-r1", "my parcel is late", psid=psid)
    (ticket,) = all_tickets(repo, accounts.workspace_id)
    closed = tickets.leave_open(
        repo,
        accounts.workspace_id,
        ticket.ticket_id,
        TicketStatus.CLOSED,
        actor="agent-7",
        now=utc_now(),
    )
    assert closed.status is TicketStatus.CLOSED
    assert open_ids(repo, accounts.workspace_id) == []

    # WHEN the customer writes again through the webhook
    outcomes = say(accounts, "mid-r2", "still nothing", psid=psid, ts=demo.T0 + 60_000)

    # THEN the same ticket is reopened, the message on it, and the history tells the whole story
    assert outcomes == {"reopened": 1}
    (reopened,) = all_tickets(repo, accounts.workspace_id)
    assert reopened.ticket_id == ticket.ticket_id
    assert reopened.status is TicketStatus.OPEN
    assert reopened.reopen_count == 1
    assert reopened.closed_at is None
    assert reopened.messages_in == 2
    assert open_ids(repo, accounts.workspace_id) == [ticket.ticket_id]
    assert [
        m.channel_message_id for m in messages(repo, accounts.workspace_id, ticket.ticket_id)
    ] == [
        "mid-r1",
        "mid-r2",
    ]
    assert history(repo, accounts.workspace_id, ticket.ticket_id) == [
        ("created", "customer", None, TicketStatus.OPEN),
        ("closed", "agent-7", TicketStatus.OPEN, TicketStatus.CLOSED),
        ("reopened", "customer", TicketStatus.CLOSED, TicketStatus.OPEN),
    ]
    events = repo.list_history(accounts.workspace_id, ticket.ticket_id)
    assert [e.at for e in events] == sorted(e.at for e in events)
    conversation = conversation_of(repo, accounts, psid)
    assert conversation.open_ticket_id == ticket.ticket_id
    assert conversation.latest_closed_at is None


@pytest.mark.parametrize(
    ("after_close", "expected"),
    [
        (timedelta(hours=24) - timedelta(milliseconds=1), "reopened"),
        (timedelta(hours=24), "created"),
        (timedelta(days=3), "created"),
    ],
    ids=["just-inside-window", "window-edge", "days-later"],
)
def test_reopen_window_edges(accounts, repo, after_close, expected):
    # GIVEN a ticket closed at a known instant (default 24 h window)
    psid = unique("psid-")
    t0 = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
    first = ingest_customer_message(
        repo, accounts.workspace_id, customer_message(accounts, "mid-e1", psid, t0), t0
    )
    closed_at = t0 + timedelta(minutes=30)
    tickets.leave_open(
        repo,
        accounts.workspace_id,
        first.ticket_id,
        TicketStatus.CLOSED,
        actor="agent-1",
        now=closed_at,
    )

    # WHEN the customer writes `after_close` later
    later = closed_at + after_close
    result = ingest_customer_message(
        repo, accounts.workspace_id, customer_message(accounts, "mid-e2", psid, later), later
    )

    # THEN inside the window the ticket reopens; from its edge on a new ticket is created
    assert result.outcome == expected
    stored = {t.ticket_id: t for t in all_tickets(repo, accounts.workspace_id)}
    if expected == "reopened":
        assert result.ticket_id == first.ticket_id
        assert list(stored) == [first.ticket_id]
        assert stored[first.ticket_id].status is TicketStatus.OPEN
    else:
        assert result.ticket_id != first.ticket_id
        assert set(stored) == {first.ticket_id, result.ticket_id}
        assert stored[first.ticket_id].status is TicketStatus.CLOSED
        assert stored[result.ticket_id].previous_ticket_id == first.ticket_id


def test_closed_outside_window_creates_linked_ticket_with_next_number(accounts, repo):
    # GIVEN a ticket closed more than the 24 h window ago
    psid = unique("psid-")
    t0 = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
    first = ingest_customer_message(
        repo, accounts.workspace_id, customer_message(accounts, "mid-o1", psid, t0), t0
    )
    closed_at = t0 + timedelta(hours=1)
    tickets.leave_open(
        repo,
        accounts.workspace_id,
        first.ticket_id,
        TicketStatus.CLOSED,
        actor="agent-1",
        now=closed_at,
    )

    # WHEN the customer writes 25 hours after the close
    later = closed_at + timedelta(hours=25)
    second = ingest_customer_message(
        repo, accounts.workspace_id, customer_message(accounts, "mid-o2", psid, later), later
    )

    # THEN a new open ticket is created, linked to the old one, with the next number
    assert first.outcome == "created"
    assert second.outcome == "created"
    old = repo.get_ticket(accounts.workspace_id, first.ticket_id)
    new = repo.get_ticket(accounts.workspace_id, second.ticket_id)
    assert old.status is TicketStatus.CLOSED
    assert old.closed_at == closed_at
    assert old.reopen_count == 0
    assert new.status is TicketStatus.OPEN
    assert new.previous_ticket_id == old.ticket_id
    assert new.conversation_id == old.conversation_id
    assert new.contact_id == old.contact_id
    assert new.number > old.number
    assert (old.number, new.number) == (1, 2)  # a fresh workspace's sequence
    assert [m.channel_message_id for m in messages(repo, accounts.workspace_id, new.ticket_id)] == [
        "mid-o2"
    ]
    assert [m.channel_message_id for m in messages(repo, accounts.workspace_id, old.ticket_id)] == [
        "mid-o1"
    ]
    assert open_ids(repo, accounts.workspace_id) == [new.ticket_id]
    assert history(repo, accounts.workspace_id, old.ticket_id) == [
        ("created", "customer", None, TicketStatus.OPEN),
        ("closed", "agent-1", TicketStatus.OPEN, TicketStatus.CLOSED),
    ]
    assert history(repo, accounts.workspace_id, new.ticket_id) == [
        ("created", "customer", None, TicketStatus.OPEN)
    ]
    conversation = conversation_of(repo, accounts, psid)
    assert conversation.open_ticket_id == new.ticket_id
    assert conversation.latest_ticket_id == new.ticket_id


def test_reopen_window_off_always_creates_new_ticket(accounts, repo):
    # GIVEN a workspace whose reopen window is off
    repo.put_workspace(
        WorkspaceSettings(workspace_id=accounts.workspace_id, reopen_window_seconds=None)
    )
    assert repo.get_workspace(accounts.workspace_id).reopen_window_seconds is None
    psid = unique("psid-")
    say(accounts, "mid-w1", "first", psid=psid)
    (first,) = all_tickets(repo, accounts.workspace_id)

    chain = [first.ticket_id]
    for n in (2, 3):
        # WHEN the open ticket is closed and the customer writes a second later
        tickets.leave_open(
            repo, accounts.workspace_id, chain[-1], TicketStatus.CLOSED, actor="a", now=utc_now()
        )
        outcomes = say(accounts, f"mid-w{n}", "again", psid=psid, ts=demo.T0 + n * 1000)

        # THEN each message starts a new ticket linked to the previous one
        assert outcomes == {"created": 1}
        conversation = conversation_of(repo, accounts, psid)
        assert conversation.open_ticket_id not in chain
        new = repo.get_ticket(accounts.workspace_id, conversation.open_ticket_id)
        assert new.previous_ticket_id == chain[-1]
        assert new.reopen_count == 0
        chain.append(new.ticket_id)

    stored = {t.ticket_id: t for t in all_tickets(repo, accounts.workspace_id)}
    assert set(stored) == set(chain)
    assert [stored[t].status for t in chain] == [
        TicketStatus.CLOSED,
        TicketStatus.CLOSED,
        TicketStatus.OPEN,
    ]
    assert [stored[t].number for t in chain] == sorted({stored[t].number for t in chain})
    assert all(stored[t].reopen_count == 0 for t in chain)


def test_custom_short_window_is_honoured(accounts, repo):
    # GIVEN a 60 s reopen window (the minimum) and a ticket closed at t
    repo.put_workspace(
        WorkspaceSettings(workspace_id=accounts.workspace_id, reopen_window_seconds=60)
    )
    psid = unique("psid-")
    t0 = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
    first = ingest_customer_message(
        repo, accounts.workspace_id, customer_message(accounts, "mid-s1", psid, t0), t0
    )
    tickets.leave_open(
        repo, accounts.workspace_id, first.ticket_id, TicketStatus.CLOSED, actor="a", now=t0
    )

    # WHEN the customer writes 59 s later, the agent closes again, and they write 61 s after that
    t1 = t0 + timedelta(seconds=59)
    second = ingest_customer_message(
        repo, accounts.workspace_id, customer_message(accounts, "mid-s2", psid, t1), t1
    )
    tickets.leave_open(
        repo, accounts.workspace_id, first.ticket_id, TicketStatus.CLOSED, actor="a", now=t1
    )
    t2 = t1 + timedelta(seconds=61)
    third = ingest_customer_message(
        repo, accounts.workspace_id, customer_message(accounts, "mid-s3", psid, t2), t2
    )

    # THEN the first return reopens, the second (outside 60 s) creates a new ticket
    assert (second.outcome, second.ticket_id) == ("reopened", first.ticket_id)
    assert third.outcome == "created"
    new = repo.get_ticket(accounts.workspace_id, third.ticket_id)
    assert new.previous_ticket_id == first.ticket_id
    assert repo.get_ticket(accounts.workspace_id, first.ticket_id).reopen_count == 1


# ---------------------------------------------------------------------------- spam
def test_spam_ticket_keeps_collecting_messages_out_of_the_inbox(accounts, repo):
    # GIVEN a ticket an agent marked as spam
    psid = unique("psid-")
    say(accounts, "mid-sp1", "cheap watches", psid=psid)
    (ticket,) = all_tickets(repo, accounts.workspace_id)
    tickets.leave_open(
        repo,
        accounts.workspace_id,
        ticket.ticket_id,
        TicketStatus.SPAM,
        actor="agent-2",
        now=utc_now(),
    )

    # WHEN the spammer writes twice more
    first = say(accounts, "mid-sp2", "cheaper watches", psid=psid, ts=demo.T0 + 1000)
    second = say(accounts, "mid-sp3", "cheapest watches", psid=psid, ts=demo.T0 + 2000)

    # THEN the messages are stored on the spam ticket, which stays spam and out of the open inbox
    assert first == second == {"spam": 1}
    (after,) = all_tickets(repo, accounts.workspace_id)
    assert after.ticket_id == ticket.ticket_id
    assert after.status is TicketStatus.SPAM
    assert after.messages_in == 3
    assert open_ids(repo, accounts.workspace_id) == []
    spam = repo.list_tickets(accounts.workspace_id, TicketStatus.SPAM, 10, None).items
    assert [t.ticket_id for t in spam] == [ticket.ticket_id]
    assert [
        m.channel_message_id for m in messages(repo, accounts.workspace_id, ticket.ticket_id)
    ] == [
        "mid-sp1",
        "mid-sp2",
        "mid-sp3",
    ]
    assert history(repo, accounts.workspace_id, ticket.ticket_id) == [
        ("created", "customer", None, TicketStatus.OPEN),
        ("marked_spam", "agent-2", TicketStatus.OPEN, TicketStatus.SPAM),
    ]
    conversation = conversation_of(repo, accounts, psid)
    assert conversation.open_ticket_id is None
    assert conversation.latest_ticket_status is TicketStatus.SPAM


# ---------------------------------------------------------------------------- echoes
def test_echo_from_another_app_is_stored_as_outbound_on_open_ticket(accounts, repo):
    # GIVEN a customer with an open ticket
    psid = unique("psid-")
    say(accounts, "mid-e1", "is it in stock?", psid=psid)
    (ticket,) = all_tickets(repo, accounts.workspace_id)

    # WHEN the shop answers from the Page inbox (an echo sent by another app)
    status, body = post(
        accounts.messenger(
            echo(
                accounts,
                "mid-echo-1",
                "yes it is",
                psid=psid,
                app_id=OTHER_APP_ID,
                ts=demo.T0 + 500,
            )
        )
    )

    # THEN the reply is stored as outbound on that ticket; the ticket is otherwise unchanged
    assert status == 200, body
    assert body["outcomes"] == {"outbound_stored": 1}
    (after,) = all_tickets(repo, accounts.workspace_id)
    assert after.ticket_id == ticket.ticket_id
    assert (after.status, after.messages_in, after.messages_out) == (TicketStatus.OPEN, 1, 1)
    assert after.first_agent_reply_at is not None
    stored = messages(repo, accounts.workspace_id, ticket.ticket_id)
    assert [(m.direction, m.text, m.sender_id) for m in stored] == [
        (Direction.INBOUND, "is it in stock?", psid),
        (Direction.OUTBOUND, "yes it is", accounts.page_id),
    ]


def test_echo_never_creates_a_ticket(accounts, repo):
    # GIVEN a customer the shop has never heard from
    psid = unique("psid-")

    # WHEN the shop messages them first (an echo from another app)
    status, body = post(
        accounts.messenger(
            echo(
                accounts,
                "mid-echo-new",
                "Your order shipped",
                psid=psid,
                app_id=OTHER_APP_ID,
                ts=demo.T0,
            )
        )
    )

    # THEN it is acknowledged, but no ticket, conversation or message is stored
    assert status == 200, body
    assert body["outcomes"] == {"outbound_skipped": 1}
    assert all_tickets(repo, accounts.workspace_id) == []
    assert conversation_of(repo, accounts, psid) is None
    assert message_item(repo, accounts.workspace_id, accounts.page_id, "mid-echo-new") is None


def test_echo_never_reopens_a_closed_ticket(accounts, repo):
    # GIVEN a ticket closed a moment ago (well within the reopen window)
    psid = unique("psid-")
    say(accounts, "mid-c1", "thanks, all good", psid=psid)
    (ticket,) = all_tickets(repo, accounts.workspace_id)
    tickets.leave_open(
        repo, accounts.workspace_id, ticket.ticket_id, TicketStatus.CLOSED, actor="a", now=utc_now()
    )

    # WHEN the shop sends a follow-up from the Page inbox
    status, body = post(
        accounts.messenger(
            echo(
                accounts,
                "mid-echo-c",
                "have a nice day",
                psid=psid,
                app_id=OTHER_APP_ID,
                ts=demo.T0 + 9,
            )
        )
    )

    # THEN it is kept on the latest ticket, which stays closed
    assert status == 200, body
    assert body["outcomes"] == {"outbound_stored": 1}
    (after,) = all_tickets(repo, accounts.workspace_id)
    assert after.status is TicketStatus.CLOSED
    assert after.reopen_count == 0
    assert after.messages_out == 1
    assert open_ids(repo, accounts.workspace_id) == []
    assert [e[0] for e in history(repo, accounts.workspace_id, ticket.ticket_id)] == [
        "created",
        "closed",
    ]


def test_echo_of_our_own_send_is_skipped(accounts, repo):
    # GIVEN a customer with an open ticket
    psid = unique("psid-")
    say(accounts, "mid-own1", "hello", psid=psid)
    (ticket,) = all_tickets(repo, accounts.workspace_id)

    # WHEN Meta echoes a message our own app (META_APP_ID) sent
    status, body = post(
        accounts.messenger(
            echo(
                accounts, "mid-echo-own", "sent by us", psid=psid, app_id=OWN_APP_ID, ts=demo.T0 + 1
            )
        )
    )

    # THEN it is acknowledged and not stored a second time
    assert status == 200, body
    assert body["outcomes"] == {"outbound_skipped": 1}
    (after,) = all_tickets(repo, accounts.workspace_id)
    assert (after.messages_in, after.messages_out) == (1, 0)
    assert message_item(repo, accounts.workspace_id, accounts.page_id, "mid-echo-own") is None
    assert [
        m.channel_message_id for m in messages(repo, accounts.workspace_id, ticket.ticket_id)
    ] == ["mid-own1"]


# ---------------------------------------------------------------------------- workspace defaults
def test_workspace_without_settings_item_uses_defaults(app_env, repo):
    # GIVEN a connected Page whose workspace has no settings item (defaults apply)
    from tests.helpers import Accounts
    from ticketing.models import ChannelConnection

    acc = Accounts(workspace_id=unique("ws-"), page_id=unique("page-"), line_bot_id=unique("U"))
    repo.put_connection(
        ChannelConnection(
            channel=Channel.MESSENGER,
            account_id=acc.page_id,
            workspace_id=acc.workspace_id,
            secret_ref=demo.SECRET_REFS["messenger"],
        )
    )
    assert repo.get_workspace(acc.workspace_id) is None

    # WHEN two customers write, and the first one again after an agent closed their ticket
    first = say(acc, "mid-n1", "hello", psid="cust-1")
    second = say(acc, "mid-n2", "hi", psid="cust-2", ts=demo.T0 + 1)
    ticket_1 = conversation_of(repo, acc, "cust-1").open_ticket_id
    tickets.leave_open(
        repo, acc.workspace_id, ticket_1, TicketStatus.CLOSED, actor="a", now=utc_now()
    )
    third = say(acc, "mid-n3", "me again", psid="cust-1", ts=demo.T0 + 2)

    # THEN both get tickets numbered 1 and 2, and the default 24 h window reopens the first
    assert (first, second, third) == ({"created": 1}, {"created": 1}, {"reopened": 1})
    numbers = sorted(t.number for t in all_tickets(repo, acc.workspace_id))
    assert numbers == [1, 2]
