"""The agent API's read endpoints through the real handler (``functions.ticket_api.app``).

Tickets are put in place through the ingest service with explicit ``now`` values (so "newest
activity first" is deterministic) or through the webhook handler; every answer is read from the
handler's response and checked against what DynamoDB holds.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.ticket_api.app import lambda_handler as ticket_api
from functions.webhook_ingest.app import lambda_handler as webhook
from local import demo
from tests.helpers import Accounts, FakeLambdaContext, api_get, load_event, unique
from ticketing.models import (
    Channel,
    ChannelConnection,
    CustomerMessageReceived,
    TicketStatus,
    WorkspaceSettings,
)
from ticketing.repository import keys
from ticketing.services import tickets
from ticketing.services.ingest import conversation_id_for, ingest_customer_message

pytestmark = pytest.mark.integration

T0 = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- helpers
def call(event: dict[str, Any]) -> tuple[int, Any]:
    response = ticket_api(event, FakeLambdaContext())
    body = response["body"]
    return response["statusCode"], json.loads(body) if body else None


def list_tickets(claims: dict[str, str] | None, **query: str) -> tuple[int, Any]:
    return call(api_get("/tickets", "/tickets", claims=claims, query=query or None))


def get_ticket(claims: dict[str, str] | None, ticket_id: str, **query: str) -> tuple[int, Any]:
    return call(
        api_get(
            f"/tickets/{ticket_id}",
            "/tickets/{ticket_id}",
            claims=claims,
            query=query or None,
            path_parameters={"ticket_id": ticket_id},
        )
    )


def error_code(body: Any) -> str:
    assert set(body) == {"error"}, body
    assert set(body["error"]) >= {"code", "message", "details"}, body
    code: str = body["error"]["code"]
    return code


def another_workspace(repo: Any) -> Accounts:
    """A second workspace with its own Page (the `accounts` fixture gives the first)."""
    acc = Accounts(workspace_id=unique("ws-"), page_id=unique("page-"), line_bot_id=unique("Ubot"))
    repo.put_workspace(WorkspaceSettings(workspace_id=acc.workspace_id, name="Other shop"))
    repo.put_connection(
        ChannelConnection(
            channel=Channel.MESSENGER,
            account_id=acc.page_id,
            workspace_id=acc.workspace_id,
            secret_ref=demo.SECRET_REFS["messenger"],
        )
    )
    return acc


def customer_writes(
    repo: Any, acc: Accounts, psid: str, mid: str, now: datetime, text: str = "hello"
) -> Any:
    command = CustomerMessageReceived(
        channel=Channel.MESSENGER,
        account_id=acc.page_id,
        customer_id=psid,
        channel_message_id=mid,
        sent_at=now - timedelta(seconds=1),
        text=text,
    )
    return ingest_customer_message(repo, acc.workspace_id, command, now)


def seed_tickets(repo: Any, acc: Accounts, count: int) -> list[str]:
    """`count` open tickets, one customer each, activity T0+0min, +1min, ... (oldest first)."""
    ids = []
    for i in range(count):
        result = customer_writes(
            repo, acc, unique(f"psid-{i}-"), unique("mid-"), T0 + timedelta(minutes=i)
        )
        assert result.outcome == "created"
        ids.append(result.ticket_id)
    return ids


def walk(claims: dict[str, str], **query: str) -> tuple[list[str], int]:
    """Follow next_cursor to the end; return every ticket id seen and the number of pages."""
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params = dict(query, **({"cursor": cursor} if cursor else {}))
        status, body = list_tickets(claims, **params)
        assert status == 200, body
        pages += 1
        seen.extend(t["ticket_id"] for t in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 20, "pagination does not end"


# ---------------------------------------------------------------------------- GET /tickets
def test_open_tickets_newest_activity_first(accounts, repo):
    # GIVEN three open tickets, then new activity on the oldest, and a closed one
    first, second, third = seed_tickets(repo, accounts, 3)
    psid_first = repo.get_ticket(accounts.workspace_id, first)
    conversation = repo.get_conversation(accounts.workspace_id, psid_first.conversation_id)
    bump = customer_writes(
        repo, accounts, conversation.customer_id, "mid-bump", T0 + timedelta(minutes=10)
    )
    assert (bump.outcome, bump.ticket_id) == ("appended", first)
    (closed,) = seed_tickets(repo, accounts, 1)
    tickets.leave_open(
        repo,
        accounts.workspace_id,
        closed,
        TicketStatus.CLOSED,
        actor="a",
        now=T0 + timedelta(minutes=20),
    )

    # WHEN an agent lists the open inbox
    status, body = list_tickets(accounts.claims(), status="open")

    # THEN the open tickets come newest activity first; the closed one is not there
    assert status == 200, body
    assert [t["ticket_id"] for t in body["items"]] == [first, third, second]
    assert body["next_cursor"] is None
    assert all(t["status"] == "open" for t in body["items"])
    assert all(t["workspace_id"] == accounts.workspace_id for t in body["items"])
    assert body["items"][0]["messages_in"] == 2
    # AND the closed inbox lists it
    status, body = list_tickets(accounts.claims(), status="closed")
    assert status == 200
    assert [t["ticket_id"] for t in body["items"]] == [closed]


def test_default_status_is_open(accounts, repo):
    # GIVEN one open ticket
    (ticket_id,) = seed_tickets(repo, accounts, 1)
    # WHEN the inbox is listed without a status
    status, body = list_tickets(accounts.claims())
    # THEN the open inbox is returned
    assert status == 200, body
    assert [t["ticket_id"] for t in body["items"]] == [ticket_id]


def test_pagination_walks_every_ticket_once(accounts, repo):
    # GIVEN five open tickets
    ids = seed_tickets(repo, accounts, 5)

    # WHEN an agent pages through them two at a time
    seen, pages = walk(accounts.claims(), status="open", limit="2")

    # THEN every ticket comes exactly once, newest first, in three pages
    assert seen == list(reversed(ids))
    assert len(set(seen)) == 5
    assert pages == 3


def test_cursor_is_opaque(accounts, repo):
    # GIVEN a first page of two
    seed_tickets(repo, accounts, 3)
    status, body = list_tickets(accounts.claims(), limit="2")
    assert status == 200
    cursor = body["next_cursor"]
    # THEN its cursor is one URL-safe token (no raw key structure to fiddle with in the query)
    assert isinstance(cursor, str)
    assert cursor
    assert all(c.isalnum() or c in "-_=" for c in cursor)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!!",
        "e30",  # {} in base64
        base64.urlsafe_b64encode(b'{"pk":"x"}').decode(),
        base64.urlsafe_b64encode(b"[1,2,3]").decode(),
        "%%%",
    ],
    ids=["garbage", "empty-object", "wrong-keys", "array", "percent"],
)
def test_invalid_cursor_is_400(accounts, repo, cursor):
    # GIVEN a workspace with tickets
    seed_tickets(repo, accounts, 1)
    # WHEN the list is asked with a cursor it never issued
    status, body = list_tickets(accounts.claims(), cursor=cursor)
    # THEN 400 invalid_cursor
    assert status == 400, body
    assert error_code(body) == "invalid_cursor"


def test_cursor_of_another_workspace_is_refused(accounts, repo):
    # GIVEN workspace A with five tickets, a page cursor of A, and workspace B with its own ticket
    a_ids = seed_tickets(repo, accounts, 5)
    other = another_workspace(repo)
    (b_id,) = seed_tickets(repo, other, 1)
    status, body = list_tickets(accounts.claims(), limit="2")
    cursor_of_a = body["next_cursor"]
    assert cursor_of_a

    # WHEN an agent of B sends A's cursor
    status, body = list_tickets(other.claims("agent-b"), limit="2", cursor=cursor_of_a)

    # THEN 400, and neither A's nor B's tickets are in the answer
    assert status == 400, body
    assert error_code(body) == "invalid_cursor"
    text = json.dumps(body)
    assert not any(t in text for t in [*a_ids, b_id])


def test_cursor_rewritten_to_another_workspace_is_refused(accounts, repo):
    # GIVEN A's cursor, decoded and rewritten to point into B's open inbox
    seed_tickets(repo, accounts, 3)
    other = another_workspace(repo)
    b_ids = seed_tickets(repo, other, 3)
    _, body = list_tickets(accounts.claims(), limit="1")
    cursor = body["next_cursor"]
    plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = {k: v.replace(accounts.workspace_id, other.workspace_id) for k, v in plain.items()}
    token = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()

    # WHEN A's agent uses the forged cursor
    status, body = list_tickets(accounts.claims(), limit="1", cursor=token)

    # THEN 400: a cursor can never reach into another workspace
    assert status == 400, body
    assert error_code(body) == "invalid_cursor"
    assert not any(t in json.dumps(body) for t in b_ids)


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "1000"},
        {"limit": "-1"},
        {"limit": "two"},
        {"status": "bogus"},
        {"status": "OPEN"},
    ],
    ids=["limit-0", "limit-1000", "limit-negative", "limit-text", "status-bogus", "status-case"],
)
def test_invalid_list_query_is_422(accounts, query):
    # WHEN the list is asked with an invalid parameter
    status, body = list_tickets(accounts.claims(), **query)
    # THEN 422 validation_error naming the parameter
    assert status == 422, body
    assert error_code(body) == "validation_error"
    (name,) = query
    assert any(name in e["loc"] for e in body["error"]["details"]["errors"]), body


def test_limit_bounds_are_accepted(accounts, repo):
    # GIVEN two tickets
    seed_tickets(repo, accounts, 2)
    # WHEN the list is asked with limit 1 and limit 100
    one = list_tickets(accounts.claims(), limit="1")
    hundred = list_tickets(accounts.claims(), limit="100")
    # THEN both are served
    assert one[0] == hundred[0] == 200
    assert len(one[1]["items"]) == 1
    assert len(hundred[1]["items"]) == 2


# ---------------------------------------------------------------------------- GET /tickets/{id}
def test_ticket_detail_with_paginated_messages_and_history(accounts, repo):
    # GIVEN a ticket with five messages, closed and reopened by the customer
    psid = unique("psid-")
    mids = [f"mid-d{i}" for i in range(5)]
    first = customer_writes(repo, accounts, psid, mids[0], T0, text="message 0")
    for i, mid in enumerate(mids[1:4], start=1):
        customer_writes(repo, accounts, psid, mid, T0 + timedelta(minutes=i), text=f"message {i}")
    tickets.leave_open(
        repo,
        accounts.workspace_id,
        first.ticket_id,
        TicketStatus.CLOSED,
        actor="agent-9",
        now=T0 + timedelta(minutes=5),
    )
    last = customer_writes(
        repo, accounts, psid, mids[4], T0 + timedelta(minutes=6), text="message 4"
    )
    assert (last.outcome, last.ticket_id) == ("reopened", first.ticket_id)

    # WHEN an agent reads it two messages at a time
    texts: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"messages_limit": "2", **({"messages_cursor": cursor} if cursor else {})}
        status, body = get_ticket(accounts.claims(), first.ticket_id, **query)
        assert status == 200, body
        pages += 1
        assert len(body["messages"]) <= 2
        texts.extend(m["text"] for m in body["messages"])
        cursor = body["next_messages_cursor"]
        if cursor is None:
            break
        assert pages < 10

    # THEN the messages come in order, each once, and the ticket and history are complete
    assert texts == [f"message {i}" for i in range(5)]
    assert pages == 3
    ticket = body["ticket"]
    assert ticket["ticket_id"] == first.ticket_id
    assert (ticket["status"], ticket["messages_in"], ticket["reopen_count"]) == ("open", 5, 1)
    assert [
        (h["event"], h["actor"], h.get("from_status"), h["to_status"]) for h in body["history"]
    ] == [
        ("created", "customer", None, "open"),
        ("closed", "agent-9", "open", "closed"),
        ("reopened", "customer", "closed", "open"),
    ]


def test_messages_cursor_of_another_ticket_is_refused(accounts, repo):
    # GIVEN two tickets with three messages each and a message cursor of the first
    ids = []
    for _ in range(2):
        psid = unique("psid-")
        for i in range(3):
            result = customer_writes(
                repo, accounts, psid, unique("mid-"), T0 + timedelta(seconds=i)
            )
        ids.append(result.ticket_id)
    _, body = get_ticket(accounts.claims(), ids[0], messages_limit="1")
    cursor = body["next_messages_cursor"]
    assert cursor

    # WHEN it is used on the second ticket / used as a list cursor
    on_other = get_ticket(accounts.claims(), ids[1], messages_limit="1", messages_cursor=cursor)
    as_list = list_tickets(accounts.claims(), cursor=cursor)

    # THEN both are refused with 400 invalid_cursor
    assert on_other[0] == as_list[0] == 400
    assert error_code(on_other[1]) == error_code(as_list[1]) == "invalid_cursor"


def test_ticket_of_another_workspace_is_404(accounts, repo):
    # GIVEN a ticket of workspace A
    (a_ticket,) = seed_tickets(repo, accounts, 1)
    other = another_workspace(repo)

    # WHEN an agent of workspace B asks for it by id
    status, body = get_ticket(other.claims("agent-b"), a_ticket)

    # THEN 404, exactly as for a ticket that does not exist, and nothing of A is returned
    assert status == 404, body
    assert error_code(body) == "not_found"
    assert "ticket" not in body
    missing_status, missing_body = get_ticket(other.claims("agent-b"), "t_doesnotexist")
    assert missing_status == 404
    assert error_code(missing_body) == "not_found"
    # AND A's agent does see it
    assert get_ticket(accounts.claims(), a_ticket)[0] == 200


@pytest.mark.parametrize(
    "query",
    [{"messages_limit": "0"}, {"messages_limit": "101"}, {"messages_limit": "x"}],
    ids=["zero", "too-many", "text"],
)
def test_invalid_detail_query_is_422(accounts, repo, query):
    (ticket_id,) = seed_tickets(repo, accounts, 1)
    # WHEN the ticket is asked with an invalid messages_limit
    status, body = get_ticket(accounts.claims(), ticket_id, **query)
    # THEN 422 validation_error
    assert status == 422, body
    assert error_code(body) == "validation_error"


# ---------------------------------------------------------------------------- authorisation
@pytest.mark.parametrize(
    ("path", "resource", "params"),
    [
        ("/tickets", "/tickets", None),
        ("/tickets/t_x", "/tickets/{ticket_id}", {"ticket_id": "t_x"}),
    ],
    ids=["list", "detail"],
)
def test_no_claims_is_401(app_env, path, resource, params):
    # WHEN a request arrives without the authorizer's claims
    status, body = call(api_get(path, resource, claims=None, path_parameters=params))
    # THEN 401 with the error shape
    assert status == 401, body
    assert error_code(body) == "unauthorized"


@pytest.mark.parametrize(
    "claims",
    [{"sub": ""}, {"email": "someone@example.com"}],
    ids=["empty-sub", "no-sub"],
)
def test_claims_without_an_agent_are_401(app_env, claims):
    status, body = list_tickets(claims)
    assert status == 401, body
    assert error_code(body) == "unauthorized"


@pytest.mark.parametrize(
    "claims",
    [{"sub": "agent-1"}, {"sub": "agent-1", "custom:workspace_id": ""}],
    ids=["missing", "empty"],
)
def test_claims_without_a_workspace_are_403(app_env, claims):
    # WHEN an authenticated agent's token names no workspace
    status, body = list_tickets(claims)
    # THEN 403 with the error shape
    assert status == 403, body
    assert error_code(body) == "forbidden"


def test_query_string_cannot_choose_the_workspace(accounts, repo):
    # GIVEN tickets in workspaces A and B
    (a_id,) = seed_tickets(repo, accounts, 1)
    other = another_workspace(repo)
    (b_id,) = seed_tickets(repo, other, 1)
    # WHEN B's agent adds A's workspace id to the query
    status, body = list_tickets(other.claims("agent-b"), workspace_id=accounts.workspace_id)
    # THEN only B's tickets are listed (the workspace comes from the token alone)
    assert status == 200, body
    assert [t["ticket_id"] for t in body["items"]] == [b_id]
    assert a_id not in json.dumps(body)


def test_unknown_route_is_404(accounts):
    status, body = call(demo.api_event("GET", "/nothing", "/nothing", claims=accounts.claims()))
    assert status == 404, body
    assert error_code(body) == "not_found"


# ---------------------------------------------------------------------------- webhook → API
def test_webhook_message_is_readable_through_the_api(accounts, repo):
    # GIVEN a customer message posted through the webhook handler
    psid = unique("psid-")
    event = accounts.messenger(accounts.messenger_message("mid-api", "ขอบคุณค่ะ 🙏", psid=psid))
    assert webhook(event, FakeLambdaContext())["statusCode"] == 200

    # WHEN the agent lists the inbox and opens the ticket
    status, listing = list_tickets(accounts.claims(), status="open")
    assert status == 200
    (item,) = listing["items"]
    status, detail = get_ticket(accounts.claims(), item["ticket_id"])

    # THEN the ticket and its message are there, as stored
    assert status == 200, detail
    conversation_id = conversation_id_for(Channel.MESSENGER, accounts.page_id, psid)
    assert detail["ticket"]["conversation_id"] == conversation_id
    assert detail["ticket"]["number"] == 1
    (message,) = detail["messages"]
    assert (message["text"], message["direction"], message["channel_message_id"]) == (
        "ขอบคุณค่ะ 🙏",
        "inbound",
        "mid-api",
    )
    assert message["sent_at"].startswith("2025-11-24T16:00:00")
    stored = repo.get_ticket(accounts.workspace_id, item["ticket_id"])
    assert stored.messages_in == 1


# ---------------------------------------------------------------------------- sample events
def test_sample_events_against_the_demo_workspace(app_env, repo):
    # GIVEN the demo workspace of the local stack (its ids are global: other runs may have
    # posted the same samples, so only this test's own answers are asserted)
    demo.seed_demo()

    # WHEN / THEN the signed Messenger sample is stored (or known already)
    response = webhook(load_event("webhook_messenger_message"), FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    (outcome,) = json.loads(response["body"])["outcomes"]
    assert outcome in {"created", "appended", "reopened", "duplicate"}
    stored = repo.client.get_item(
        TableName=repo.table_name,
        Key={
            k: {"S": v}
            for k, v in keys.message_key(
                demo.WORKSPACE_ID, Channel.MESSENGER, demo.MESSENGER_PAGE_ID, "m_demo_0001"
            ).items()
        },
    )
    assert "Item" in stored

    # AND the batch sample (our own echo + a customer message) is accepted
    response = webhook(load_event("webhook_messenger_batch"), FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    batch = json.loads(response["body"])
    assert batch["received"] == 2
    assert batch["outcomes"].get("outbound_skipped") == 1  # app_id == META_APP_ID

    # AND the badly signed sample is refused
    response = webhook(load_event("webhook_messenger_bad_signature"), FakeLambdaContext())
    assert response["statusCode"] == 401
    assert error_code(json.loads(response["body"])) == "invalid_signature"

    # AND the verification handshake echoes the challenge
    response = webhook(load_event("webhook_messenger_verify"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert response["body"] == "1158201444"

    # AND the LINE sample followed by its redelivery leaves one LINE message
    first = webhook(load_event("webhook_line_message"), FakeLambdaContext())
    again = webhook(load_event("webhook_line_redelivery"), FakeLambdaContext())
    assert first["statusCode"] == again["statusCode"] == 200
    assert json.loads(again["body"])["outcomes"] == {"duplicate": 1}
    line_key = keys.message_key(
        demo.WORKSPACE_ID, Channel.LINE, demo.LINE_BOT_ID, "500000000000001"
    )
    item = repo.client.get_item(
        TableName=repo.table_name,
        Key={k: {"S": v} for k, v in line_key.items()},
        ConsistentRead=True,
    )["Item"]
    ticket_id = item["ticket_id"]["S"]
    on_ticket = repo.list_messages(demo.WORKSPACE_ID, ticket_id, 100, None).items
    assert [m.channel_message_id for m in on_ticket].count("500000000000001") == 1

    # AND the API samples answer for the demo agent
    status, body = call(load_event("ticket_api_list_open"))
    assert status == 200, body
    assert all(t["workspace_id"] == demo.WORKSPACE_ID for t in body["items"])
    status, body = call(load_event("ticket_api_get_ticket"))
    assert status == 404  # the sample names a placeholder ticket id
    assert error_code(body) == "not_found"
