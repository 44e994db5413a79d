"""At-least-once delivery: redeliveries, batches and out-of-order arrival (shared/channels.md).

Invariant under test (shared/DOMAIN.md): a message accepted from a channel is stored exactly once,
on exactly one ticket, however often the channel redelivers it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.ticket_api.app import lambda_handler as ticket_api
from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext, api_get, unique
from ticketing.models import Channel, TicketStatus
from ticketing.services.ingest import conversation_id_for

pytestmark = pytest.mark.integration


def post(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = ingest(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def open_tickets(repo: Any, workspace_id: str) -> list[Any]:
    return repo.list_tickets(workspace_id, TicketStatus.OPEN, 100, None).items


def all_tickets(repo: Any, workspace_id: str) -> list[Any]:
    return [t for s in TicketStatus for t in repo.list_tickets(workspace_id, s, 100, None).items]


def channel_ids(repo: Any, workspace_id: str, ticket_id: str) -> list[str]:
    page = repo.list_messages(workspace_id, ticket_id, 100, None)
    return [m.channel_message_id for m in page.items]


def test_same_messenger_mid_three_times_is_stored_once(accounts, repo):
    # GIVEN one signed Messenger webhook
    psid = unique("psid-")
    event = accounts.messenger(accounts.messenger_message("mid-dup-1", "hi", psid=psid))

    # WHEN Meta delivers it three times
    answers = [post(event) for _ in range(3)]

    # THEN every delivery is acknowledged; one ticket holds one message
    assert [status for status, _ in answers] == [200, 200, 200]
    assert [body["outcomes"] for _, body in answers] == [
        {"created": 1},
        {"duplicate": 1},
        {"duplicate": 1},
    ]
    (ticket,) = all_tickets(repo, accounts.workspace_id)
    assert ticket.messages_in == 1
    assert channel_ids(repo, accounts.workspace_id, ticket.ticket_id) == ["mid-dup-1"]


def test_redelivery_of_a_batch_fills_nothing_twice(accounts, repo):
    # GIVEN a batch of three messages from one customer, already delivered once
    psid = unique("psid-")
    batch = accounts.messenger(
        *(
            accounts.messenger_message(f"mid-b{i}", f"part {i}", psid=psid, ts=demo.T0 + i)
            for i in range(3)
        )
    )
    assert post(batch)[1]["outcomes"] == {"created": 1, "appended": 2}

    # WHEN the same batch is redelivered
    status, body = post(batch)

    # THEN nothing is stored twice
    assert status == 200
    assert body["outcomes"] == {"duplicate": 3}
    (ticket,) = all_tickets(repo, accounts.workspace_id)
    assert ticket.messages_in == 3
    assert channel_ids(repo, accounts.workspace_id, ticket.ticket_id) == [
        "mid-b0",
        "mid-b1",
        "mid-b2",
    ]


def test_line_redelivery_is_not_stored_twice(accounts, repo):
    # GIVEN a LINE message that was delivered and stored
    user = unique("Uuser")
    message_id = unique("5")
    first = accounts.line(demo.line_text(message_id, "สวัสดีค่ะ", user=user, ts=demo.T0))
    assert post(first) == (200, {"received": 1, "outcomes": {"created": 1}})

    # WHEN LINE redelivers it (isRedelivery: true, same webhookEventId and message id)
    again = accounts.line(
        demo.line_text(message_id, "สวัสดีค่ะ", user=user, ts=demo.T0, redelivery=True)
    )
    assert again["body"] != first["body"]  # a different body, signed anew
    status, body = post(again)

    # THEN it is acknowledged as a duplicate; the ticket holds the message once
    assert status == 200
    assert body["outcomes"] == {"duplicate": 1}
    (ticket,) = all_tickets(repo, accounts.workspace_id)
    assert ticket.channel is Channel.LINE
    assert ticket.messages_in == 1
    assert channel_ids(repo, accounts.workspace_id, ticket.ticket_id) == [message_id]


def test_batch_for_two_customers_creates_two_tickets(accounts, repo):
    # GIVEN one request whose two entries come from two different customers
    alice, bob = unique("psid-a-"), unique("psid-b-")
    event = accounts.messenger(
        accounts.messenger_message("mid-alice", "from alice", psid=alice, ts=demo.T0),
        accounts.messenger_message("mid-bob", "from bob", psid=bob, ts=demo.T0 + 5),
    )
    assert len(json.loads(event["body"])["entry"]) == 2

    # WHEN it is posted
    status, body = post(event)

    # THEN each customer gets their own ticket, conversation and contact
    assert status == 200, body
    assert body == {"received": 2, "outcomes": {"created": 2}}
    stored = {t.conversation_id: t for t in open_tickets(repo, accounts.workspace_id)}
    conv_a = conversation_id_for(Channel.MESSENGER, accounts.page_id, alice)
    conv_b = conversation_id_for(Channel.MESSENGER, accounts.page_id, bob)
    assert set(stored) == {conv_a, conv_b}
    assert stored[conv_a].contact_id != stored[conv_b].contact_id
    assert stored[conv_a].number != stored[conv_b].number
    assert channel_ids(repo, accounts.workspace_id, stored[conv_a].ticket_id) == ["mid-alice"]
    assert channel_ids(repo, accounts.workspace_id, stored[conv_b].ticket_id) == ["mid-bob"]


def test_messages_are_ordered_by_channel_time_not_arrival(accounts, repo):
    # GIVEN the later-timestamped message of a customer arrives first
    psid = unique("psid-")
    late = accounts.messenger(
        accounts.messenger_message("mid-second", "second", psid=psid, ts=demo.T0 + 2_000)
    )
    early = accounts.messenger(
        accounts.messenger_message("mid-first", "first", psid=psid, ts=demo.T0 + 1_000)
    )
    assert post(late)[0] == 200

    # WHEN the earlier one arrives after it
    assert post(early)[0] == 200

    # THEN the agent API lists them in channel-time order
    (ticket,) = open_tickets(repo, accounts.workspace_id)
    response = ticket_api(
        api_get(
            f"/tickets/{ticket.ticket_id}",
            "/tickets/{ticket_id}",
            claims=accounts.claims(),
            path_parameters={"ticket_id": ticket.ticket_id},
        ),
        FakeLambdaContext(),
    )
    assert response["statusCode"] == 200, response["body"]
    detail = json.loads(response["body"])
    assert [m["text"] for m in detail["messages"]] == ["first", "second"]
    assert [m["channel_message_id"] for m in detail["messages"]] == ["mid-first", "mid-second"]
    assert detail["ticket"]["messages_in"] == 2


def test_batch_is_stored_in_channel_time_order(accounts, repo):
    # GIVEN one request whose events are out of channel-time order
    psid = unique("psid-")
    event = accounts.messenger(
        accounts.messenger_message("mid-z", "later", psid=psid, ts=demo.T0 + 9_000),
        accounts.messenger_message("mid-a", "earlier", psid=psid, ts=demo.T0 + 1_000),
    )

    # WHEN it is posted
    status, body = post(event)

    # THEN both land on one ticket and read back in channel-time order
    assert status == 200, body
    (ticket,) = open_tickets(repo, accounts.workspace_id)
    assert channel_ids(repo, accounts.workspace_id, ticket.ticket_id) == ["mid-a", "mid-z"]
    assert ticket.messages_in == 2
