"""services.conversion.join_or_open_ticket on DynamoDB Local: rules, idempotency, races.

Concurrency: threads released by a barrier call the service over one thread-safe boto3 client
(the service takes a repository, not a resolver)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import unique
from ticketing.models import Channel, TicketStatus, WorkspaceSettings
from ticketing.models.commands import CustomerMessageReceived
from ticketing.repository import keys
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo
from ticketing.services import tickets
from ticketing.services.conversion import ConversionResult, join_or_open_ticket
from ticketing.services.ingest import (
    IngestResult,
    conversation_id_for,
    ingest_customer_message,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
WRITERS = 16


def _convert(
    repo: DynamoTicketRepository,
    ws: str,
    account: str,
    customer: str,
    source_id: str,
    *,
    now: datetime = NOW,
) -> ConversionResult:
    return join_or_open_ticket(
        repo,
        workspace_id=ws,
        channel=Channel.INSTAGRAM,
        account_id=account,
        customer_id=customer,
        display_name="buyer",
        source_kind="comment",
        source_id=source_id,
        actor="agent-1",
        now=now,
    )


def _source_links(repo: DynamoTicketRepository, ws: str, ticket_id: str) -> list[dict[str, Any]]:
    response = repo.client.query(
        TableName=repo.table_name,
        KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
        ExpressionAttributeValues=to_dynamo(
            {":p": keys.ticket_key(ws, ticket_id)["pk"], ":s": keys.SOURCE_LINK_PREFIX}
        ),
        ConsistentRead=True,
    )
    return [from_dynamo(i) for i in response["Items"]]


def _open_tickets(repo: DynamoTicketRepository, ws: str) -> list[str]:
    page = repo.list_tickets(ws, TicketStatus.OPEN, 100, None)
    return [t.ticket_id for t in page.items]


@pytest.fixture
def ws(repo: DynamoTicketRepository) -> str:
    workspace_id = unique("ws-")
    repo.put_workspace(WorkspaceSettings(workspace_id=workspace_id, name="shop"))
    return workspace_id


def test_first_conversion_creates_contact_conversation_ticket_and_link(
    repo: DynamoTicketRepository, ws: str
) -> None:
    # GIVEN a commenter never seen before
    account, customer = unique("ig-"), unique("igsid-")
    # WHEN their comment is converted, twice
    first = _convert(repo, ws, account, customer, "c1")
    again = _convert(repo, ws, account, customer, "c1")
    # THEN one open ticket, joined the second time, with one link to the comment
    assert first.created is True
    assert again.created is False
    assert again.ticket.ticket_id == first.ticket.ticket_id
    conversation = repo.get_conversation(ws, conversation_id_for("instagram", account, customer))
    assert conversation is not None
    assert conversation.open_ticket_id == first.ticket.ticket_id
    assert conversation.customer_id == customer
    contact = repo.get_contact(ws, conversation.contact_id)
    assert contact is not None
    assert contact.display_name == "buyer"
    links = _source_links(repo, ws, first.ticket.ticket_id)
    assert [(x["source_kind"], x["source_id"]) for x in links] == [("comment", "c1")]
    stored = repo.get_ticket(ws, first.ticket.ticket_id)
    assert stored is not None
    assert stored.messages_in == 0
    history = repo.list_history(ws, first.ticket.ticket_id)
    assert [(h.event, h.actor, h.detail) for h in history] == [
        ("created", "agent-1", "converted from comment c1")
    ]


def test_closed_ticket_is_reopened_in_window_else_a_new_linked_ticket(
    repo: DynamoTicketRepository, ws: str
) -> None:
    account, customer = unique("ig-"), unique("igsid-")
    first = _convert(repo, ws, account, customer, "c1")
    tickets.close_ticket(repo, ws, first.ticket.ticket_id, actor="a", now=NOW)
    # WHEN converted again within the reopen window (24 h): the same ticket is reopened
    reopened = _convert(repo, ws, account, customer, "c2", now=NOW + timedelta(hours=1))
    assert reopened.ticket.ticket_id == first.ticket.ticket_id
    assert reopened.ticket.status is TicketStatus.OPEN
    assert reopened.created is False
    tickets.close_ticket(repo, ws, first.ticket.ticket_id, actor="a", now=NOW + timedelta(hours=2))
    # WHEN converted after the window: a new ticket, linked to the previous one
    later = _convert(repo, ws, account, customer, "c3", now=NOW + timedelta(days=3))
    assert later.created is True
    assert later.ticket.previous_ticket_id == first.ticket.ticket_id
    assert _open_tickets(repo, ws) == [later.ticket.ticket_id]
    assert {x["source_id"] for x in _source_links(repo, ws, first.ticket.ticket_id)} == {
        "c1",
        "c2",
    }
    assert [x["source_id"] for x in _source_links(repo, ws, later.ticket.ticket_id)] == ["c3"]


def test_sixteen_parallel_conversions_open_one_ticket_with_one_link(
    repo: DynamoTicketRepository, ws: str
) -> None:
    # GIVEN a new commenter; WHEN 16 conversions of the same comment start at the same instant
    account, customer = unique("ig-"), unique("igsid-")
    barrier = threading.Barrier(WRITERS)

    def convert(_: int) -> ConversionResult:
        barrier.wait(timeout=30)
        return _convert(repo, ws, account, customer, "c-race")

    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(convert, range(WRITERS)))
    # THEN every call answers the same ticket, exactly one created it, one link, one contact
    assert len({r.ticket.ticket_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    ticket_id = results[0].ticket.ticket_id
    assert _open_tickets(repo, ws) == [ticket_id]
    assert len(_source_links(repo, ws, ticket_id)) == 1
    conversation = repo.get_conversation(ws, conversation_id_for("instagram", account, customer))
    assert conversation is not None
    assert conversation.open_ticket_id == ticket_id
    contact_tickets = repo.list_contact_tickets(ws, conversation.contact_id, 10, None)
    assert [t.ticket_id for t in contact_tickets.items] == [ticket_id]


def test_conversion_racing_incoming_dms_on_the_same_conversation(
    repo: DynamoTicketRepository, ws: str
) -> None:
    # GIVEN a customer whose comment is converted while their DMs arrive (same IGSID)
    account, customer = unique("ig-"), unique("igsid-")
    barrier = threading.Barrier(WRITERS)

    def act(index: int) -> ConversionResult | IngestResult:
        barrier.wait(timeout=30)
        if index % 2 == 0:
            return _convert(repo, ws, account, customer, f"c-{index}")
        command = CustomerMessageReceived(
            channel=Channel.INSTAGRAM,
            account_id=account,
            customer_id=customer,
            channel_message_id=f"mid-{index}",
            text="hello",
            sent_at=NOW,
        )
        return ingest_customer_message(repo, ws, command, NOW)

    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(act, range(WRITERS)))
    # THEN one open ticket: every conversion joined it and every DM is stored on it
    ticket_ids = {
        r.ticket.ticket_id if isinstance(r, ConversionResult) else r.ticket_id for r in results
    }
    assert len(ticket_ids) == 1
    (ticket_id,) = ticket_ids
    assert _open_tickets(repo, ws) == [ticket_id]
    messages = repo.list_messages(ws, ticket_id, 100, None)
    assert len(messages.items) == WRITERS // 2
    ticket = repo.get_ticket(ws, ticket_id)
    assert ticket is not None
    assert ticket.messages_in == WRITERS // 2
    links = _source_links(repo, ws, ticket_id)
    assert sorted(x["source_id"] for x in links) == sorted(f"c-{i}" for i in range(0, WRITERS, 2))
