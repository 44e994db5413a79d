"""Inbox views (issue 4): unassigned, mine, by assignee, by team, by label, by channel — each one
gsi1 Query over view entries that the projector (functions/ticket_views) keeps from the table's
stream. On DynamoDB Local: its real stream is read and fed to the real handler, as Lambda would."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from bench.meter import CapacityMeter
from functions.ticket_api.app import lambda_handler as api
from functions.ticket_views.app import lambda_handler as projector
from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import EVENTS, FakeLambdaContext, StreamTail, api_call, unique
from ticketing.repository import keys
from ticketing.repository.dynamodb import dynamodb_client, to_dynamo
from ticketing.services.ingest import conversation_id_for

pytestmark = pytest.mark.integration


@pytest.fixture
def tail(ddb_client: Any, table_name: str, app_env: None) -> StreamTail:
    return StreamTail(ddb_client, table_name)


call = partial(api_call, api)


def admin(accounts: Any) -> dict[str, str]:
    return {**accounts.claims("admin-1"), "cognito:groups": "admin"}


def customer_says(accounts: Any, psid: str, *, at: int) -> str:
    """A Messenger customer writes (channel time ``at``); the conversation's open ticket id."""
    event = accounts.messenger(
        accounts.messenger_message(unique("mid-"), "hello", psid=psid, ts=at)
    )
    response = ingest(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    conversation = accounts_repo(accounts).get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, psid)
    )
    assert conversation is not None
    assert conversation.open_ticket_id
    return str(conversation.open_ticket_id)


def accounts_repo(accounts: Any) -> Any:
    from ticketing.repository.dynamodb import get_repository

    return get_repository()


def view(accounts: Any, claims: dict[str, str] | None = None, **query: str) -> list[str]:
    """Ticket ids of every page of a view, in order (pages of 2, to cross page boundaries)."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        params = {**query, "limit": "2", **({"cursor": cursor} if cursor else {})}
        status, body = call("GET", "/tickets", claims or accounts.claims(), query=params)
        assert status == 200, body
        found += [t["ticket_id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return found


def project(tail: StreamTail) -> int:
    return tail.feed(projector, "ticket")


@pytest.fixture
def inbox(accounts: Any, tail: StreamTail) -> dict[str, str]:
    """Three open tickets (a, b, c — c the newest), an agent and a team."""
    for agent in ("agent-1", "agent-2"):
        status, body = call(
            "POST", "/agents", admin(accounts), body={"agent_id": agent, "name": agent}
        )
        assert status == 201, body
    status, body = call("POST", "/teams", admin(accounts), body={"team_id": "billing", "name": "B"})
    assert status == 201, body
    status, body = call(
        "PUT",
        "/teams/{team_id}/members/{agent_id}",
        admin(accounts),
        params={"team_id": "billing", "agent_id": "agent-2"},
    )
    assert status == 200, body
    tickets = {
        name: customer_says(accounts, f"psid-{name}", at=demo.T0 + i * 60_000)
        for i, name in enumerate("abc")
    }
    project(tail)
    return tickets


def test_new_tickets_are_unassigned_and_listed_by_channel_newest_first(accounts, inbox):
    a, b, c = inbox["a"], inbox["b"], inbox["c"]
    assert view(accounts, assignee="none") == [c, b, a]
    assert view(accounts, channel="messenger") == [c, b, a]
    assert view(accounts, channel="line") == []
    assert view(accounts, assignee="me") == []


def test_views_follow_assignment_labels_status_and_activity(accounts, inbox, tail):
    a, b, c = inbox["a"], inbox["b"], inbox["c"]
    # WHEN a is assigned to agent-1, b to the billing team (and agent-2), and a, c get a label
    for ticket, body in (
        (a, {"agent_id": "agent-1"}),
        (b, {"team_id": "billing", "agent_id": "agent-2"}),
    ):
        status, answer = call(
            "PUT",
            "/tickets/{ticket_id}/assignee",
            accounts.claims(),
            params={"ticket_id": ticket},
            body=body,
        )
        assert status == 200, answer
    for ticket in (a, c):
        status, answer = call(
            "POST",
            "/tickets/{ticket_id}/labels",
            accounts.claims(),
            params={"ticket_id": ticket},
            body={"labels": ["VIP"]},
        )
        assert status == 200, answer
    assert project(tail) == 4
    # THEN each view lists exactly its tickets
    assert view(accounts, accounts.claims("agent-1"), assignee="me") == [a]
    assert view(accounts, assignee="agent-2") == [b]
    assert view(accounts, team="billing") == [b]
    assert view(accounts, assignee="none") == [c]
    assert set(view(accounts, label="vip")) == {a, c}
    assert view(accounts, label=" Vip ") == view(accounts, label="vip")  # normalised like labels
    # and the entries carry the ticket as it is now
    status, body = call("GET", "/tickets", accounts.claims(), query={"label": "vip"})
    by_id = {t["ticket_id"]: t for t in body["items"]}
    assert by_id[a]["assignee"] == {"agent_id": "agent-1", "team_id": None}
    assert by_id[a]["labels"] == ["vip"]

    # WHEN a is closed, then its customer writes again within the reopen window
    status, answer = call(
        "POST", "/tickets/{ticket_id}/close", accounts.claims(), params={"ticket_id": a}
    )
    assert status == 200, answer
    customer_says(accounts, "psid-a", at=demo.T0 + 10 * 60_000)  # reopens a (within the window)
    project(tail)
    # a was reopened by its customer: it is open again and the newest activity everywhere
    assert view(accounts, accounts.claims("agent-1"), assignee="me")[0] == a
    status, answer = call(
        "POST", "/tickets/{ticket_id}/close", accounts.claims(), params={"ticket_id": a}
    )
    assert status == 200, answer
    status, answer = call(
        "DELETE",
        "/tickets/{ticket_id}/labels/{label}",
        accounts.claims(),
        params={"ticket_id": c, "label": "vip"},
    )
    assert status == 200, answer
    project(tail)
    # THEN a has left the open views and is in the closed ones; c left the label view
    assert view(accounts, accounts.claims("agent-1"), assignee="me") == []
    assert view(accounts, accounts.claims("agent-1"), assignee="me", status="closed") == [a]
    assert view(accounts, label="vip") == []
    assert view(accounts, label="vip", status="closed") == [a]
    assert view(accounts, channel="messenger") == [c, b]
    assert view(accounts, channel="messenger", status="closed") == [a]


def test_replayed_and_older_stream_records_never_move_an_entry_back(
    accounts, inbox, tail, ddb_client, table_name
):
    a = inbox["a"]
    status, answer = call(
        "PUT",
        "/tickets/{ticket_id}/assignee",
        accounts.claims(),
        params={"ticket_id": a},
        body={"agent_id": "agent-1"},
    )
    assert status == 200, answer
    records = [
        r for r in tail.read() if r["dynamodb"]["NewImage"].get("type", {}).get("S") == "ticket"
    ]
    assert len(records) == 1
    # WHEN the record is delivered three times
    for _ in range(3):
        assert projector({"Records": records}, FakeLambdaContext()) == {"batchItemFailures": []}
    assert view(accounts, assignee="agent-1") == [a]
    assert a not in view(accounts, assignee="none")
    # and an OLDER image of the ticket (as if a retry replayed the record before it) arrives late
    older = json.loads(json.dumps(records[0]))
    older["dynamodb"]["NewImage"] = older["dynamodb"]["OldImage"]
    older["dynamodb"].pop("OldImage")
    older["dynamodb"]["SequenceNumber"] = str(int(records[0]["dynamodb"]["SequenceNumber"]) - 1)
    assert projector({"Records": [older]}, FakeLambdaContext()) == {"batchItemFailures": []}
    # THEN nothing moved back: a is still agent-1's and not unassigned
    assert view(accounts, assignee="agent-1") == [a]
    assert a not in view(accounts, assignee="none")
    entry = ddb_client.get_item(
        TableName=table_name,
        Key=to_dynamo(keys.view_entry_key(accounts.workspace_id, a, "open#UNASSIGNED")),
        ConsistentRead=True,
    )["Item"]
    assert entry["type"]["S"] == "ticket_view_tombstone"
    assert "gsi1pk" not in entry


def test_one_view_at_a_time_and_bad_filters_are_clear_errors(accounts, inbox):
    status, body = call(
        "GET", "/tickets", accounts.claims(), query={"assignee": "me", "label": "vip"}
    )
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["details"]["filters"] == ["assignee", "label"]
    status, body = call("GET", "/tickets", accounts.claims(), query={"label": "no/slash"})
    assert status == 400
    assert body["error"]["details"]["label"] == "no/slash"
    status, body = call("GET", "/tickets", accounts.claims(), query={"channel": "fax"})
    assert status == 422
    status, body = call("GET", "/tickets", None, query={"assignee": "none"})
    assert status == 401


def test_views_are_tenant_isolated_and_cursors_cannot_cross_views(accounts, inbox):
    other = {"sub": "agent-1", "custom:workspace_id": unique("ws-b-")}
    assert view(accounts, other, assignee="none") == []
    assert view(accounts, other, channel="messenger") == []
    status, body = call(
        "GET", "/tickets", accounts.claims(), query={"assignee": "none", "limit": "1"}
    )
    cursor = body["next_cursor"]
    assert cursor
    for claims, query in (
        (other, {"assignee": "none"}),  # another workspace's same view
        (accounts.claims(), {"channel": "messenger"}),  # another view of this workspace
        (accounts.claims(), {}),  # the status list
    ):
        status, body = call("GET", "/tickets", claims, query={**query, "cursor": cursor})
        assert status == 400, (query, body)
        assert body["error"]["code"] == "invalid_cursor"


def test_a_view_page_is_one_query_whose_cost_follows_the_page_not_the_view(accounts, tail):
    # GIVEN 40 unassigned tickets
    for i in range(40):
        customer_says(accounts, f"psid-{i}", at=demo.T0 + i * 1000)
    project(tail)

    def page_cost(limit: int) -> tuple[list[str], float]:
        with CapacityMeter(dynamodb_client()) as meter:
            status, body = call(
                "GET",
                "/tickets",
                accounts.claims(),
                query={"assignee": "none", "limit": str(limit)},
            )
        assert status == 200, body
        return meter.operations, meter.read_units

    ops5, units5 = page_cost(5)
    ops40, units40 = page_cost(40)
    # THEN one Query each; 8x the page costs several times the units (eventually consistent)
    assert ops5 == ["Query"]
    assert ops40 == ["Query"]
    assert units5 <= 2.0
    assert units40 > 3 * units5


def test_the_sample_stream_event_projects_the_ticket_into_its_views(
    app_env, ddb_client, table_name
):
    # GIVEN events/ticket_views/ticket_assigned.json (`sam local invoke TicketViewsFunction -e`)
    event = json.loads(
        (EVENTS / "ticket_views" / "ticket_assigned.json").read_text(encoding="utf-8")
    )
    # WHEN the handler gets it
    assert projector(event, FakeLambdaContext()) == {"batchItemFailures": []}
    # THEN the ticket is in agent-demo's, the channel's and the label's open views, and its
    # unassigned entry (from the old image) is a tombstone
    ticket_id = "t_01SAMPLEVIEWS0000000000000"

    def entry(view: str) -> dict[str, Any]:
        item: dict[str, Any] = ddb_client.get_item(
            TableName=table_name,
            Key=to_dynamo(keys.view_entry_key("ws-demo", ticket_id, view)),
            ConsistentRead=True,
        ).get("Item", {})
        return item

    for view_name in ("open#AGENT#agent-demo", "open#CHANNEL#messenger", "open#LABEL#vip"):
        assert entry(view_name)["gsi1pk"]["S"] == keys.view_partition("ws-demo", view_name)
    assert "gsi1pk" not in entry("open#UNASSIGNED")


def test_an_agent_action_is_activity_and_moves_the_ticket_up_the_inbox(accounts, inbox):
    a, b, c = inbox["a"], inbox["b"], inbox["c"]
    open_list = [i for i in view(accounts) if i in (a, b, c)]
    assert open_list == [c, b, a]
    # WHEN an agent adds a note to the oldest ticket
    status, body = call(
        "POST",
        "/tickets/{ticket_id}/notes",
        accounts.claims(),
        params={"ticket_id": a},
        body={"text": "called the customer"},
    )
    assert status == 201, body
    # THEN it is the newest activity of the open inbox (gsi2, exact at once)
    assert [i for i in view(accounts) if i in (a, b, c)] == [a, c, b]
    status, body = call("GET", "/tickets/{ticket_id}", accounts.claims(), params={"ticket_id": a})
    assert body["ticket"]["last_activity_at"] > body["ticket"]["created_at"]
