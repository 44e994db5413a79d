"""Agent replies through the ticket API, on DynamoDB Local: the outbound message, the ticket's
activity and the outbox item are one transaction; a retry with the same client_message_id is
the same message and never a second outbox item; closed/spam tickets refuse with 409."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

import functions.ticket_api.app as ticket_app
from functions.ticket_api.app import lambda_handler as api
from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from local.auth import mint_token
from local.server import serve
from local.template import load_template
from tests.helpers import Accounts, FakeLambdaContext, unique
from ticketing.models import Channel, ChannelConnection, WorkspaceSettings
from ticketing.models.replies import OUTBOUND_MESSAGE_REQUESTED
from ticketing.repository import keys
from ticketing.repository.dynamodb import dynamodb_client
from ticketing.services.ingest import conversation_id_for
from ticketing.services.replies import reply_message_id

pytestmark = pytest.mark.integration

T1 = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- helpers
def call(
    method: str,
    path: str,
    resource: str,
    claims: dict[str, str] | None,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    event = demo.api_event(
        method,
        resource,
        path,
        body=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        path_parameters=params,
        claims=claims,
    )
    response = api(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def send_reply(
    accounts: Accounts,
    ticket_id: str,
    body: dict[str, Any] | None,
    claims: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    return call(
        "POST",
        f"/tickets/{ticket_id}/messages",
        "/tickets/{ticket_id}/messages",
        accounts.claims() if claims is None else claims,
        body=body,
        params={"ticket_id": ticket_id},
    )


def transition(accounts: Accounts, ticket_id: str, action: str) -> int:
    status, _ = call(
        "POST",
        f"/tickets/{ticket_id}/{action}",
        f"/tickets/{{ticket_id}}/{action}",
        accounts.claims(),
        params={"ticket_id": ticket_id},
    )
    return status


def get_ticket(accounts: Accounts, ticket_id: str) -> dict[str, Any]:
    status, body = call(
        "GET",
        f"/tickets/{ticket_id}",
        "/tickets/{ticket_id}",
        accounts.claims(),
        params={"ticket_id": ticket_id},
    )
    assert status == 200, body
    return body


def open_ticket_for(accounts: Accounts, repo: Any, psid: str) -> str:
    """A customer writes on Messenger; the ticket it opens."""
    event = accounts.messenger(accounts.messenger_message(unique("mid-"), "hello", psid=psid))
    response = ingest(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    conversation = repo.get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, psid)
    )
    assert conversation is not None
    assert conversation.open_ticket_id
    return str(conversation.open_ticket_id)


def outbox(repo: Any, workspace_id: str) -> list[Any]:
    return repo.list_outbox(workspace_id, 100, None).items


def outbound(repo: Any, workspace_id: str, ticket_id: str) -> list[Any]:
    messages = repo.list_messages(workspace_id, ticket_id, 100, None).items
    return [m for m in messages if m.direction == "outbound"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The API's clock: the handler reads ``now`` from here (set [0] to move it)."""
    now = [T1]
    monkeypatch.setattr(ticket_app, "utc_now", lambda: now[0])
    return now


@pytest.fixture
def hooks(app_env: None) -> Iterator[list[tuple[str, Any]]]:
    """botocore event hooks on the handler's DynamoDB client, removed after the test."""
    registered: list[tuple[str, Any]] = []
    yield registered
    client = dynamodb_client()
    for name, hook in registered:
        client.meta.events.unregister(name, hook)


def add_hook(registered: list[tuple[str, Any]], name: str, hook: Any) -> None:
    dynamodb_client().meta.events.register(name, hook)
    registered.append((name, hook))


# ---------------------------------------------------------------------------- happy path
def test_reply_is_stored_on_the_ticket_and_queued_on_the_outbox(accounts, repo, clock):
    # GIVEN an open ticket a customer started on Messenger
    ticket_id = open_ticket_for(accounts, repo, "psid-r1")
    # WHEN an agent replies
    status, body = send_reply(
        accounts, ticket_id, {"text": "Hi! On it.", "client_message_id": "c1"}
    )
    # THEN the outbound message is stored: the agent's, "sending", with a placeholder channel id
    assert status == 201, body
    message_id = reply_message_id(accounts.workspace_id, ticket_id, "c1")
    assert body["message_id"] == message_id
    assert body["direction"] == "outbound"
    assert body["sender_id"] == "agent-1"
    assert body["delivery_status"] == "sending"
    assert body["channel_message_id"] == f"out:{message_id}"
    assert body["text"] == "Hi! On it."
    assert body["channel"] == "messenger"
    assert body["account_id"] == accounts.page_id
    # AND the ticket counts it: activity, messages_out, first agent reply
    detail = get_ticket(accounts, ticket_id)
    assert detail["ticket"]["messages_out"] == 1
    assert detail["ticket"]["first_agent_reply_at"] == "2025-11-24T16:00:00Z"
    assert detail["ticket"]["last_activity_at"] == "2025-11-24T16:00:00Z"
    assert [m["message_id"] for m in detail["messages"] if m["direction"] == "outbound"] == [
        message_id
    ]
    # AND one outbox item carries what the sender needs, keyed for dedupe, expiring in 7 days
    (item,) = outbox(repo, accounts.workspace_id)
    assert item.idempotency_key == message_id
    assert item.detail_type == OUTBOUND_MESSAGE_REQUESTED
    assert item.detail.message_id == message_id
    assert item.detail.ticket_id == ticket_id
    assert item.detail.channel is Channel.MESSENGER
    assert item.detail.account_id == accounts.page_id
    assert item.detail.customer_id == "psid-r1"
    assert item.detail.text == "Hi! On it."
    assert item.detail.sender_id == "agent-1"
    assert item.detail.channel_message_id == f"out:{message_id}"
    assert item.expires_at == int((T1 + timedelta(days=keys.OUTBOX_TTL_DAYS)).timestamp())


def test_stored_outbox_item_matches_the_pipe_filter(accounts, repo, ddb_client, table_name, clock):
    # GIVEN a reply
    ticket_id = open_ticket_for(accounts, repo, "psid-r2")
    send_reply(accounts, ticket_id, {"text": "hello", "client_message_id": "c1"})
    # WHEN its outbox item is read as the stream's NEW_IMAGE would carry it
    response = ddb_client.query(
        TableName=table_name,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.outbox_partition(accounts.workspace_id)}},
    )
    (image,) = response["Items"]
    # THEN the attributes the pipe filters on and templates from are there, as strings
    assert image["type"] == {"S": "outbox"}
    assert image["detail_type"] == {"S": OUTBOUND_MESSAGE_REQUESTED}
    assert image["detail"]["M"]["customer_id"] == {"S": "psid-r2"}
    assert image[keys.TTL_ATTRIBUTE]["N"]


# ---------------------------------------------------------------------------- one transaction
def test_a_cancelled_transaction_stores_neither_message_nor_outbox_item(
    accounts, repo, clock, hooks
):
    # GIVEN an open ticket, and DynamoDB made to refuse the outbox Put of the transaction
    ticket_id = open_ticket_for(accounts, repo, "psid-r3")

    calls = []

    def refuse_outbox(params: dict[str, Any], **_: Any) -> None:
        calls.append(1)
        for op in params["TransactItems"]:
            if op.get("Put", {}).get("Item", {}).get("type") == {"S": "outbox"}:
                op["Put"]["ConditionExpression"] = "attribute_exists(pk)"

    add_hook(hooks, "before-parameter-build.dynamodb.TransactWriteItems", refuse_outbox)
    # WHEN an agent replies
    status, body = send_reply(accounts, ticket_id, {"text": "hello", "client_message_id": "c1"})
    # THEN DynamoDB cancelled it (retried as a conflict, then a retryable 503), nothing written
    assert calls
    assert status == 503, body
    assert body["error"]["code"] == "storage_unavailable"
    assert outbound(repo, accounts.workspace_id, ticket_id) == []
    assert outbox(repo, accounts.workspace_id) == []
    ticket = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert ticket.messages_out == 0
    assert ticket.first_agent_reply_at is None


def test_a_failed_call_writes_nothing_and_the_retry_stores_it_once(accounts, repo, clock, hooks):
    # GIVEN an open ticket, and the TransactWriteItems call failing before it reaches DynamoDB
    ticket_id = open_ticket_for(accounts, repo, "psid-r4")

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://dynamodb.invalid")

    add_hook(hooks, "before-call.dynamodb.TransactWriteItems", unreachable)
    # WHEN the agent's reply fails
    status, body = send_reply(accounts, ticket_id, {"text": "hello", "client_message_id": "c1"})
    # THEN 503 and neither message nor outbox item exists
    assert status == 503, body
    assert outbound(repo, accounts.workspace_id, ticket_id) == []
    assert outbox(repo, accounts.workspace_id) == []
    # WHEN the UI retries with the same client_message_id once the store answers again
    dynamodb_client().meta.events.unregister("before-call.dynamodb.TransactWriteItems", unreachable)
    status, body = send_reply(accounts, ticket_id, {"text": "hello", "client_message_id": "c1"})
    # THEN it is stored and queued once
    assert status == 201, body
    assert len(outbound(repo, accounts.workspace_id, ticket_id)) == 1
    assert len(outbox(repo, accounts.workspace_id)) == 1


# ---------------------------------------------------------------------------- idempotency
def test_retry_with_the_same_client_message_id_is_the_same_message(accounts, repo, clock):
    # GIVEN a reply already stored
    ticket_id = open_ticket_for(accounts, repo, "psid-r5")
    first_status, first = send_reply(
        accounts, ticket_id, {"text": "hello", "client_message_id": "c1"}
    )
    # WHEN the UI sends it again (a timeout, a double click), later
    clock[0] = T1 + timedelta(seconds=30)
    second_status, second = send_reply(
        accounts, ticket_id, {"text": "hello", "client_message_id": "c1"}
    )
    # THEN the second answer is 200 with the stored message, and nothing more was written
    assert first_status == 201, first
    assert second_status == 200, second
    assert second == first
    assert len(outbound(repo, accounts.workspace_id, ticket_id)) == 1
    assert len(outbox(repo, accounts.workspace_id)) == 1
    ticket = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert ticket.messages_out == 1
    assert ticket.last_activity_at == T1


def test_the_same_client_message_id_on_another_ticket_is_another_message(accounts, repo, clock):
    # GIVEN two open tickets (two customers)
    first_ticket = open_ticket_for(accounts, repo, "psid-r6a")
    second_ticket = open_ticket_for(accounts, repo, "psid-r6b")
    # WHEN the UI uses the same client_message_id on both
    s1, m1 = send_reply(accounts, first_ticket, {"text": "a", "client_message_id": "c1"})
    s2, m2 = send_reply(accounts, second_ticket, {"text": "b", "client_message_id": "c1"})
    # THEN each ticket has its own reply and its own outbox item
    assert (s1, s2) == (201, 201)
    assert m1["message_id"] != m2["message_id"]
    assert sorted(i.detail.ticket_id for i in outbox(repo, accounts.workspace_id)) == sorted(
        [first_ticket, second_ticket]
    )


def test_first_agent_reply_is_recorded_once(accounts, repo, clock):
    # GIVEN a first reply at T1
    ticket_id = open_ticket_for(accounts, repo, "psid-r7")
    send_reply(accounts, ticket_id, {"text": "first", "client_message_id": "c1"})
    # WHEN a second reply follows ten minutes later
    clock[0] = T1 + timedelta(minutes=10)
    status, _ = send_reply(accounts, ticket_id, {"text": "second", "client_message_id": "c2"})
    # THEN the first agent reply time stays, activity and the count move on
    assert status == 201
    ticket = get_ticket(accounts, ticket_id)["ticket"]
    assert ticket["first_agent_reply_at"] == "2025-11-24T16:00:00Z"
    assert ticket["last_activity_at"] == "2025-11-24T16:10:00Z"
    assert ticket["messages_out"] == 2
    assert len(outbox(repo, accounts.workspace_id)) == 2


# ---------------------------------------------------------------------------- conflicts
@pytest.mark.parametrize(("action", "status"), [("close", "closed"), ("spam", "spam")])
def test_reply_on_a_closed_or_spam_ticket_is_409(accounts, repo, clock, action, status):
    # GIVEN a ticket an agent closed (or marked spam)
    ticket_id = open_ticket_for(accounts, repo, f"psid-r8-{action}")
    assert transition(accounts, ticket_id, action) == 200
    # WHEN an agent replies on it
    code, body = send_reply(accounts, ticket_id, {"text": "hello", "client_message_id": "c1"})
    # THEN 409 says the ticket must be reopened first, and nothing was stored or queued
    assert code == 409, body
    assert body["error"]["code"] == "conflict"
    assert body["error"]["details"] == {"ticket_id": ticket_id, "status": status}
    assert "reopen" in body["error"]["message"]
    assert outbound(repo, accounts.workspace_id, ticket_id) == []
    assert outbox(repo, accounts.workspace_id) == []


def test_retry_of_a_reply_stored_before_the_close_answers_the_stored_reply(accounts, repo, clock):
    # GIVEN a reply stored, then the ticket closed
    ticket_id = open_ticket_for(accounts, repo, "psid-r9")
    _, first = send_reply(accounts, ticket_id, {"text": "bye", "client_message_id": "c1"})
    assert transition(accounts, ticket_id, "close") == 200
    # WHEN the UI retries that reply
    status, body = send_reply(accounts, ticket_id, {"text": "bye", "client_message_id": "c1"})
    # THEN it gets the stored reply (not a 409), still queued once
    assert status == 200, body
    assert body == first
    assert len(outbox(repo, accounts.workspace_id)) == 1


def test_reopened_ticket_takes_replies_again(accounts, repo, clock):
    # GIVEN a closed ticket reopened by the agent
    ticket_id = open_ticket_for(accounts, repo, "psid-r10")
    transition(accounts, ticket_id, "close")
    assert transition(accounts, ticket_id, "reopen") == 200
    # WHEN the agent replies
    status, body = send_reply(accounts, ticket_id, {"text": "back", "client_message_id": "c1"})
    # THEN it is stored
    assert status == 201, body


# ---------------------------------------------------------------------------- validation/auth
@pytest.mark.parametrize(
    "body",
    [
        {"text": "", "client_message_id": "c1"},
        {"text": "   \n", "client_message_id": "c1"},
        {"text": "x" * 4097, "client_message_id": "c1"},
        {"text": "hello"},
        {"text": "hello", "client_message_id": ""},
        {"text": "hello", "client_message_id": "c" * 65},
        {"client_message_id": "c1"},
        {"text": "hello", "client_message_id": "c1", "attachments": []},
        None,
    ],
    ids=[
        "empty-text",
        "blank-text",
        "text-too-long",
        "no-client-id",
        "empty-client-id",
        "client-id-too-long",
        "no-text",
        "unknown-field",
        "no-body",
    ],
)
def test_invalid_reply_is_422(accounts, repo, clock, body):
    # GIVEN an open ticket
    ticket_id = open_ticket_for(accounts, repo, unique("psid-"))
    # WHEN a reply without valid text or client_message_id is sent
    status, answer = send_reply(accounts, ticket_id, body)
    # THEN 422 in the one error shape, and nothing was written
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"
    assert outbox(repo, accounts.workspace_id) == []


def test_longest_reply_is_accepted(accounts, repo, clock):
    # Messenger's own limit (2,000 characters, issue 8) is below the API's 4,096
    ticket_id = open_ticket_for(accounts, repo, "psid-r11")
    status, body = send_reply(
        accounts, ticket_id, {"text": "x" * 2000, "client_message_id": "c" * 64}
    )
    assert status == 201, body


def test_another_workspaces_ticket_is_404(accounts, repo, clock):
    # GIVEN a ticket of workspace A, and an agent of workspace B
    ticket_id = open_ticket_for(accounts, repo, "psid-r12")
    other = Accounts(
        workspace_id=unique("ws-"), page_id=unique("page-"), line_bot_id=unique("Ubot")
    )
    repo.put_workspace(WorkspaceSettings(workspace_id=other.workspace_id, name="Other shop"))
    repo.put_connection(
        ChannelConnection(
            channel=Channel.MESSENGER,
            account_id=other.page_id,
            workspace_id=other.workspace_id,
            secret_ref=demo.SECRET_REFS["messenger"],
        )
    )
    # WHEN B's agent replies on A's ticket
    status, body = send_reply(
        accounts, ticket_id, {"text": "hi", "client_message_id": "c1"}, claims=other.claims()
    )
    # THEN 404, and neither workspace has anything queued
    assert status == 404, body
    assert body["error"]["code"] == "not_found"
    assert outbox(repo, accounts.workspace_id) == []
    assert outbox(repo, other.workspace_id) == []
    assert outbound(repo, accounts.workspace_id, ticket_id) == []


def test_unknown_ticket_is_404(accounts, clock):
    status, body = send_reply(accounts, "t_nope", {"text": "hi", "client_message_id": "c1"})
    assert status == 404, body


def test_without_claims_is_401(accounts, repo, clock):
    ticket_id = open_ticket_for(accounts, repo, "psid-r13")
    status, body = send_reply(accounts, ticket_id, {"text": "hi", "client_message_id": "c1"}, {})
    assert status == 401, body
    assert body["error"]["code"] == "unauthorized"
    assert outbox(repo, accounts.workspace_id) == []


# ---------------------------------------------------------------------------- local stack
def test_local_server_shows_the_outbox(accounts, repo):
    # GIVEN the local stack and an open ticket
    ticket_id = open_ticket_for(accounts, repo, "psid-r14")
    server, _ = serve(0, template=load_template())
    try:
        token = mint_token(agent_id="agent-1", workspace_id=accounts.workspace_id)
        # WHEN an agent replies over HTTP, then the outbox is listed
        request = urllib.request.Request(  # noqa: S310 - the local server
            f"{server.url}/tickets/{ticket_id}/messages",
            data=json.dumps({"text": "hello", "client_message_id": "c1"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 201
            message = json.loads(response.read())
        url = f"{server.url}/_local/outbox?workspace_id={accounts.workspace_id}&limit=10"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            listed = json.loads(response.read())
    finally:
        server.shutdown()
        server.server_close()
    # THEN the reply's outbox item is there
    assert [i["idempotency_key"] for i in listed["items"]] == [message["message_id"]]
    assert listed["items"][0]["detail"]["text"] == "hello"
    assert listed["next_cursor"] is None
