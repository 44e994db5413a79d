"""A storage failure answers 5xx (so the channel redelivers), and the redelivery is safe.

Faults are injected in the handler's own boto3 client with a ``before-call`` hook that answers one
chosen DynamoDB call with a 500 InternalServerError, exactly as DynamoDB would. The hook matches a
message id inside the request, so it hits the same logical write however the batch is processed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext, unique
from ticketing.models import TicketStatus
from ticketing.repository.dynamodb import get_repository

pytestmark = pytest.mark.integration


def post(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = ingest(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


class Fault:
    """Answers the handler's DynamoDB `operation` with a 500 whenever its request mentions
    `needle`, while armed."""

    def __init__(self, operation: str, needle: str) -> None:
        self.operation = operation
        self.needle = needle.encode()
        self.armed = True
        self.hits = 0

    def __call__(
        self, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = params.get("body", b"")
        body = body.encode() if isinstance(body, str) else body
        if not self.armed or self.needle not in body:
            return None
        self.hits += 1
        http = AWSResponse(params.get("url", "http://dynamodb"), 500, {}, None)
        parsed = {
            "Error": {"Code": "InternalServerError", "Message": "injected fault"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }
        return http, parsed


@pytest.fixture
def inject(app_env: None) -> Iterator[Any]:
    """inject(operation, needle) → Fault registered on the handler's DynamoDB client."""
    client = get_repository().client
    registered: list[tuple[str, Fault]] = []

    def arm(operation: str, needle: str) -> Fault:
        fault = Fault(operation, needle)
        event = f"before-call.dynamodb.{operation}"
        client.meta.events.register(event, fault)
        registered.append((event, fault))
        return fault

    yield arm
    for event, fault in registered:
        client.meta.events.unregister(event, fault)


def open_tickets(repo: Any, workspace_id: str) -> list[Any]:
    return repo.list_tickets(workspace_id, TicketStatus.OPEN, 100, None).items


def all_tickets(repo: Any, workspace_id: str) -> list[Any]:
    return [t for s in TicketStatus for t in repo.list_tickets(workspace_id, s, 100, None).items]


def stored_mids(repo: Any, workspace_id: str) -> list[str]:
    mids: list[str] = []
    for ticket in all_tickets(repo, workspace_id):
        page = repo.list_messages(workspace_id, ticket.ticket_id, 100, None)
        mids.extend(m.channel_message_id for m in page.items)
    return sorted(mids)


@pytest.mark.parametrize(
    ("operation", "failing"),
    [
        ("TransactWriteItems", 1),  # the write of the 2nd message (an append)
        ("TransactWriteItems", 0),  # the write that would have opened the ticket
        ("BatchGetItem", 1),  # the routing read of the 2nd message
        ("TransactWriteItems", 2),  # the last message of the batch
    ],
    ids=["append-write", "first-write", "routing-read", "last-write"],
)
def test_storage_failure_is_503_and_redelivery_stores_each_message_once(
    accounts, repo, inject, operation, failing
):
    # GIVEN a 3-message batch from one new customer, and DynamoDB failing one of its calls
    psid = unique("psid-")
    mids = [unique(f"mid-{i}-") for i in range(3)]
    event = accounts.messenger(
        *(
            accounts.messenger_message(mid, f"part {i}", psid=psid, ts=demo.T0 + i * 1000)
            for i, mid in enumerate(mids)
        )
    )
    fault = inject(operation, mids[failing])

    # WHEN it is posted
    status, body = post(event)

    # THEN the channel is told to retry, with the error shape, and only the others are stored
    assert fault.hits >= 1
    assert status == 503, body
    assert body["error"]["code"] == "storage_unavailable"
    assert body["error"]["message"]
    assert stored_mids(repo, accounts.workspace_id) == sorted(m for m in mids if m != mids[failing])

    # WHEN the channel redelivers the same request and DynamoDB has recovered
    fault.armed = False
    status, body = post(event)

    # THEN 200: every message exactly once, on one open ticket
    assert status == 200, body
    assert body["outcomes"].get("duplicate") == 2
    assert sum(body["outcomes"].values()) == 3
    assert stored_mids(repo, accounts.workspace_id) == sorted(mids)
    (ticket,) = all_tickets(repo, accounts.workspace_id)
    assert ticket.status is TicketStatus.OPEN
    assert ticket.messages_in == 3
    page = repo.list_messages(accounts.workspace_id, ticket.ticket_id, 100, None)
    assert [m.channel_message_id for m in page.items] == mids  # channel-time order

    # AND a further redelivery changes nothing
    status, body = post(event)
    assert (status, body["outcomes"]) == (200, {"duplicate": 3})
    assert [t.messages_in for t in all_tickets(repo, accounts.workspace_id)] == [3]


def test_failure_for_one_customer_does_not_lose_the_others(accounts, repo, inject):
    # GIVEN a batch for three customers and DynamoDB failing the second customer's write
    customers = [unique(f"psid-{i}-") for i in range(3)]
    mids = [unique(f"mid-{i}-") for i in range(3)]
    event = accounts.messenger(
        *(
            accounts.messenger_message(mid, "hello", psid=psid, ts=demo.T0 + i)
            for i, (mid, psid) in enumerate(zip(mids, customers, strict=True))
        )
    )
    fault = inject("TransactWriteItems", mids[1])

    # WHEN it is posted, then redelivered once DynamoDB recovers
    first_status, first_body = post(event)
    fault.armed = False
    second_status, second_body = post(event)

    # THEN 503 then 200; three tickets, one message each, nothing twice
    assert first_status == 503, first_body
    assert first_body["error"]["code"] == "storage_unavailable"
    assert second_status == 200, second_body
    assert second_body["outcomes"] == {"duplicate": 2, "created": 1}
    tickets = open_tickets(repo, accounts.workspace_id)
    assert sorted(t.messages_in for t in tickets) == [1, 1, 1]
    assert len({t.conversation_id for t in tickets}) == 3
    assert stored_mids(repo, accounts.workspace_id) == sorted(mids)


def test_failure_of_the_connection_lookup_is_5xx_and_stores_nothing(accounts, repo, inject):
    # GIVEN DynamoDB failing the read of the channel connection
    psid = unique("psid-")
    event = accounts.messenger(accounts.messenger_message("mid-conn", "hi", psid=psid))
    inject("GetItem", accounts.page_id)

    # WHEN a webhook arrives
    status, body = post(event)

    # THEN 503 (retry later, not "unknown account"), and nothing is stored
    assert status == 503, body
    assert body["error"]["code"] == "storage_unavailable"
    assert all_tickets(repo, accounts.workspace_id) == []
