"""Notes, labels and ticket fields through the ticket API, on DynamoDB Local: every change is one
transaction with its history event (actor, time), values are checked against the workspace's
definitions (422 naming every bad field), If-Match gives 412, and workspace B sees none of A's."""

from __future__ import annotations

import json
import threading
from functools import partial
from typing import Any

import pytest

from functions.ticket_api.app import lambda_handler as api
from functions.webhook_ingest.app import lambda_handler as ingest
from tests.helpers import FakeLambdaContext, api_call, unique
from ticketing.clock import utc_now
from ticketing.errors import ConflictError
from ticketing.services import annotations as annotating
from ticketing.services.ingest import conversation_id_for

pytestmark = pytest.mark.integration


# ---------------------------------------------------------------------------- helpers
call = partial(api_call, api)


def admin(accounts: Any) -> dict[str, str]:
    return {
        "sub": "admin-1",
        "custom:workspace_id": accounts.workspace_id,
        "cognito:groups": "admin",
    }


def new_ticket(accounts: Any, repo: Any, text: str = "where is my order?") -> str:
    psid = unique("psid-")
    event = accounts.messenger(accounts.messenger_message(unique("mid-"), text, psid=psid))
    response = ingest(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    conv = repo.get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, psid)
    )
    return str(conv.open_ticket_id)


def history(repo: Any, accounts: Any, ticket_id: str) -> list[tuple[str, str, str | None]]:
    return [
        (h.event, h.actor, h.detail) for h in repo.list_history(accounts.workspace_id, ticket_id)
    ]


def add_note(accounts: Any, ticket_id: str, text: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    return call(
        "POST",
        "/tickets/{ticket_id}/notes",
        kw.get("claims", accounts.claims()),
        params={"ticket_id": ticket_id},
        body={"text": text},
    )


def list_notes(accounts: Any, ticket_id: str, **query: str) -> tuple[int, dict[str, Any]]:
    return call(
        "GET",
        "/tickets/{ticket_id}/notes",
        accounts.claims(),
        params={"ticket_id": ticket_id},
        query=query or None,
    )


def add_labels(
    accounts: Any, ticket_id: str, labels: list[str], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    return call(
        "POST",
        "/tickets/{ticket_id}/labels",
        accounts.claims(),
        params={"ticket_id": ticket_id},
        body={"labels": labels},
        headers=headers,
    )


def remove_label(
    accounts: Any, ticket_id: str, label: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    return call(
        "DELETE",
        "/tickets/{ticket_id}/labels/{label}",
        accounts.claims(),
        params={"ticket_id": ticket_id, "label": label},
        headers=headers,
    )


def put_field(accounts: Any, key: str, body: dict[str, Any], claims: Any = None) -> Any:
    return call(
        "PUT",
        "/ticket-fields/{key}",
        claims if claims is not None else admin(accounts),
        params={"key": key},
        body=body,
    )


def set_fields(
    accounts: Any, ticket_id: str, values: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    return call(
        "PATCH",
        "/tickets/{ticket_id}/fields",
        accounts.claims(),
        params={"ticket_id": ticket_id},
        body={"values": values},
        headers=headers,
    )


@pytest.fixture
def fields(accounts: Any) -> Any:
    """A workspace with one field of each type (and one limited to LINE)."""
    for key, body in {
        "order_id": {"label": "Order", "type": "text", "required": True},
        "amount": {"label": "Amount", "type": "number"},
        "vip": {"label": "VIP", "type": "boolean"},
        "due": {"label": "Due", "type": "date"},
        "priority": {"label": "Priority", "type": "single_select", "options": ["low", "high"]},
        "topics": {"label": "Topics", "type": "multi_select", "options": ["refund", "shipping"]},
        "line_only": {"label": "LINE id", "type": "text", "channels": ["line"]},
    }.items():
        status, answer = put_field(accounts, key, body)
        assert status == 200, answer
    return accounts


# ---------------------------------------------------------------------------- notes
def test_notes_are_added_listed_oldest_first_and_recorded(accounts, repo):
    # GIVEN a ticket
    ticket_id = new_ticket(accounts, repo)
    # WHEN an agent adds two notes
    first_status, first = add_note(accounts, ticket_id, "customer called: VIP")
    second_status, second = add_note(accounts, ticket_id, "refund approved")
    # THEN each is 201 with its author and time
    assert (first_status, second_status) == (201, 201), (first, second)
    assert first["author"] == "agent-1"
    assert first["text"] == "customer called: VIP"
    assert first["note_id"]
    assert first["created_at"]
    # and the list shows them oldest first
    status, page = list_notes(accounts, ticket_id)
    assert status == 200, page
    assert [n["text"] for n in page["items"]] == ["customer called: VIP", "refund approved"]
    assert page["next_cursor"] is None
    # and each is in the history, by the agent; the ticket's version moved with each
    added = [h for h in history(repo, accounts, ticket_id) if h[0] == "note_added"]
    assert [(e, a) for e, a, _ in added] == [("note_added", "agent-1")] * 2
    assert repo.get_ticket(accounts.workspace_id, ticket_id).version == 3


def test_notes_paginate_with_an_opaque_cursor(accounts, repo):
    # GIVEN a ticket with three notes
    ticket_id = new_ticket(accounts, repo)
    for i in range(3):
        assert add_note(accounts, ticket_id, f"note {i}")[0] == 201
    # WHEN they are read two at a time
    _, one = list_notes(accounts, ticket_id, limit="2")
    _, two = list_notes(accounts, ticket_id, limit="2", cursor=one["next_cursor"])
    # THEN the pages follow each other
    assert [n["text"] for n in one["items"]] == ["note 0", "note 1"]
    assert [n["text"] for n in two["items"]] == ["note 2"]
    # and another ticket's cursor is refused
    other = new_ticket(accounts, repo)
    status, body = list_notes(accounts, other, cursor=one["next_cursor"])
    assert status == 400
    assert body["error"]["code"] == "invalid_cursor"


def test_notes_never_appear_in_the_tickets_messages(accounts, repo):
    # GIVEN a ticket with a note
    ticket_id = new_ticket(accounts, repo, "hello")
    add_note(accounts, ticket_id, "secret internal remark")
    # WHEN the ticket is read
    status, detail = call(
        "GET", "/tickets/{ticket_id}", accounts.claims(), params={"ticket_id": ticket_id}
    )
    # THEN its messages are the customer's only
    assert status == 200, detail
    assert [m["text"] for m in detail["messages"]] == ["hello"]
    assert "secret internal remark" not in json.dumps(detail["messages"])
    assert detail["ticket"]["messages_out"] == 0
    assert any(h["event"] == "note_added" for h in detail["history"])


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "x" * 10_001}, {}, {"text": "a", "x": 1}])
def test_invalid_notes_are_422(accounts, repo, body):
    ticket_id = new_ticket(accounts, repo)
    status, answer = call(
        "POST",
        "/tickets/{ticket_id}/notes",
        accounts.claims(),
        params={"ticket_id": ticket_id},
        body=body,
    )
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"
    assert list_notes(accounts, ticket_id)[1]["items"] == []


def test_note_on_an_unknown_ticket_is_404(accounts):
    status, body = add_note(accounts, "t_nope", "hello")
    assert status == 404, body
    assert list_notes(accounts, "t_nope")[0] == 404


# ---------------------------------------------------------------------------- labels
def test_labels_are_normalised_added_once_and_removed(accounts, repo):
    # GIVEN a ticket
    ticket_id = new_ticket(accounts, repo)
    # WHEN an agent adds labels (with case, spaces and a repeat), then the same again
    status, ticket = add_labels(accounts, ticket_id, [" VIP", "vip", "Refund request"])
    again_status, again = add_labels(accounts, ticket_id, ["vip"])
    # THEN they are stored normalised, once; adding again changes nothing
    assert status == 200, ticket
    assert ticket["labels"] == ["vip", "refund request"]
    assert again_status == 200
    assert again["labels"] == ["vip", "refund request"]
    assert again["version"] == ticket["version"]
    # WHEN one is removed (by any spelling, URL-encoded in the path)
    status, ticket = remove_label(accounts, ticket_id, "Refund%20Request")
    # THEN it is gone, and the history says who did what
    assert status == 200, ticket
    assert ticket["labels"] == ["vip"]
    assert repo.get_ticket(accounts.workspace_id, ticket_id).labels == ["vip"]
    changes = [h for h in history(repo, accounts, ticket_id) if h[0] == "labels_changed"]
    assert changes == [
        ("labels_changed", "agent-1", "added: vip, refund request"),
        ("labels_changed", "agent-1", "removed: refund request"),
    ]
    # and removing a label the ticket lacks changes nothing
    status, same = remove_label(accounts, ticket_id, "nope")
    assert status == 200
    assert same["version"] == ticket["version"]


def test_invalid_labels_and_too_many_are_422(accounts, repo):
    ticket_id = new_ticket(accounts, repo)
    # GIVEN bad labels
    for labels in (["vip!"], [""], ["x" * 51], []):
        status, body = add_labels(accounts, ticket_id, labels)
        assert status == 422, (labels, body)
        assert body["error"]["code"] == "validation_error"
    status, body = remove_label(accounts, ticket_id, "bad!")
    assert status == 422
    assert body["error"]["details"]["errors"][0]["field"] == "label"
    # GIVEN 18 labels, adding 3 more would pass 20
    assert add_labels(accounts, ticket_id, [f"l{i}" for i in range(18)])[0] == 200
    status, body = add_labels(accounts, ticket_id, ["a", "b", "c"])
    assert status == 422, body
    assert body["error"]["details"]["errors"] == [
        {"field": "labels", "msg": "a ticket has at most 20 labels"}
    ]
    assert add_labels(accounts, ticket_id, ["a", "b"])[0] == 200
    assert len(repo.get_ticket(accounts.workspace_id, ticket_id).labels) == 20


def test_labels_with_a_stale_if_match_are_412(accounts, repo):
    # GIVEN a ticket an agent loaded at version 1, then changed by someone else
    ticket_id = new_ticket(accounts, repo)
    add_note(accounts, ticket_id, "someone else was here")
    # WHEN the agent adds a label / removes one with If-Match 1
    add_status, add_body = add_labels(accounts, ticket_id, ["vip"], {"If-Match": '"1"'})
    remove_status, _ = remove_label(accounts, ticket_id, "vip", {"If-Match": "1"})
    # THEN 412 and nothing changed
    assert (add_status, remove_status) == (412, 412), add_body
    assert add_body["error"]["code"] == "version_mismatch"
    assert add_body["error"]["details"]["version"] == 2
    assert repo.get_ticket(accounts.workspace_id, ticket_id).labels == []
    # and with the current version it works
    status, ticket = add_labels(accounts, ticket_id, ["vip"], {"If-Match": "2"})
    assert status == 200
    assert ticket["version"] == 3


def test_agents_adding_labels_at_once_lose_none(accounts, repo):
    # GIVEN a ticket and eight agents, each adding their own label at the same instant
    ticket_id = new_ticket(accounts, repo)
    barrier = threading.Barrier(8)
    results: dict[str, int] = {}

    def agent(i: int) -> None:
        barrier.wait()
        # the service, as the handler calls it (one resolver serves one event at a time)
        try:
            annotating.add_labels(
                repo,
                accounts.workspace_id,
                ticket_id,
                [f"agent-{i}"],
                actor=f"agent-{i}",
                now=utc_now(),
            )
        except ConflictError:
            results[f"agent-{i}"] = 409
        else:
            results[f"agent-{i}"] = 200

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN every label answered 200 is on the ticket, once, each with its history event
    # (a lost race re-reads and decides again; only a ticket that keeps changing gets a 409)
    assert set(results.values()) <= {200, 409}, results
    added = sorted(label for label, code in results.items() if code == 200)
    assert len(added) >= 4, results
    ticket = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert sorted(ticket.labels) == added
    changes = [h for h in history(repo, accounts, ticket_id) if h[0] == "labels_changed"]
    assert sorted(d.removeprefix("added: ") for _, _, d in changes) == added
    assert all(actor == detail.removeprefix("added: ") for _, actor, detail in changes)
    assert ticket.version == 1 + len(added)


# ---------------------------------------------------------------------------- field definitions
def test_admins_define_fields_everyone_lists_them(fields):
    accounts = fields
    # WHEN an agent lists the definitions
    status, body = call("GET", "/ticket-fields", accounts.claims())
    # THEN every field is there, by key, with who defined it
    assert status == 200, body
    by_key = {f["key"]: f for f in body["items"]}
    assert list(by_key) == sorted(by_key)
    assert set(by_key) == {"order_id", "amount", "vip", "due", "priority", "topics", "line_only"}
    assert by_key["priority"]["options"] == ["low", "high"]
    assert by_key["order_id"]["required"] is True
    assert by_key["line_only"]["channels"] == ["line"]
    assert by_key["amount"]["updated_by"] == "admin-1"
    # WHEN an admin replaces one
    status, changed = put_field(
        accounts, "priority", {"label": "Prio", "type": "single_select", "options": ["p1", "p2"]}
    )
    assert status == 200, changed
    assert changed["options"] == ["p1", "p2"]
    listed = call("GET", "/ticket-fields", accounts.claims())[1]["items"]
    assert len(listed) == 7


def test_non_admins_cannot_define_fields(accounts):
    status, body = put_field(
        accounts, "order_id", {"label": "Order", "type": "text"}, claims=accounts.claims()
    )
    assert status == 403, body
    assert body["error"]["code"] == "forbidden"
    assert call("GET", "/ticket-fields", accounts.claims())[1]["items"] == []


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("Order-Id", {"label": "Order", "type": "text"}),
        ("order_id", {"label": "Order", "type": "single_select"}),
        ("order_id", {"label": "Order", "type": "text", "options": ["a"]}),
        ("order_id", {"label": "Order", "type": "money"}),
    ],
)
def test_invalid_definitions_are_422(accounts, key, body):
    status, answer = put_field(accounts, key, body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"


# ---------------------------------------------------------------------------- field values
def test_valid_values_are_set_and_cleared_with_history(fields, repo):
    accounts = fields
    ticket_id = new_ticket(accounts, repo)
    # WHEN an agent sets a value of each type
    values = {
        "order_id": "SO-1042",
        "amount": 12.5,
        "vip": True,
        "due": "2025-12-01",
        "priority": "high",
        "topics": ["refund", "shipping", "refund"],
    }
    status, ticket = set_fields(accounts, ticket_id, values)
    # THEN they are stored (a multi-select without repeats) and recorded
    assert status == 200, ticket
    assert ticket["fields"] == {**values, "topics": ["refund", "shipping"]}
    assert repo.get_ticket(accounts.workspace_id, ticket_id).fields == ticket["fields"]
    # WHEN optional values are cleared with null
    status, ticket = set_fields(accounts, ticket_id, {"amount": None, "vip": None})
    assert status == 200, ticket
    assert set(ticket["fields"]) == {"order_id", "due", "priority", "topics"}
    changes = [h for h in history(repo, accounts, ticket_id) if h[0] == "fields_changed"]
    assert changes == [
        ("fields_changed", "agent-1", "set: amount, due, order_id, priority, topics, vip"),
        ("fields_changed", "agent-1", "cleared: amount, vip"),
    ]


def test_invalid_values_are_422_naming_every_bad_field(fields, repo):
    accounts = fields
    ticket_id = new_ticket(accounts, repo)
    # WHEN an agent sends an unknown key, a wrong type, an option not offered, a LINE-only field
    # on a Messenger ticket, a required field cleared — and one good value
    status, body = set_fields(
        accounts,
        ticket_id,
        {
            "nope": "x",
            "amount": "ten",
            "priority": "urgent",
            "line_only": "U1",
            "order_id": None,
            "vip": True,
        },
    )
    # THEN 422 names every bad field, and nothing is stored
    assert status == 422, body
    assert body["error"]["code"] == "validation_error"
    errors = body["error"]["details"]["errors"]
    assert {e["field"] for e in errors} == {"nope", "amount", "priority", "line_only", "order_id"}
    assert all(e["msg"] for e in errors)
    ticket = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert ticket.fields == {}
    assert ticket.version == 1


def test_field_values_with_a_stale_if_match_are_412(fields, repo):
    accounts = fields
    ticket_id = new_ticket(accounts, repo)
    # GIVEN two agents loaded version 1; the first sets a value
    status, first = set_fields(accounts, ticket_id, {"priority": "low"}, {"If-Match": "1"})
    assert status == 200, first
    # WHEN the second sets another value with If-Match 1
    status, body = set_fields(accounts, ticket_id, {"priority": "high"}, {"If-Match": "1"})
    # THEN 412, and the first agent's value stands
    assert status == 412, body
    assert body["error"]["code"] == "version_mismatch"
    assert repo.get_ticket(accounts.workspace_id, ticket_id).fields == {"priority": "low"}


# ---------------------------------------------------------------------------- isolation, auth
ROUTES = [
    ("POST", "/tickets/{ticket_id}/notes", {"text": "hi"}),
    ("GET", "/tickets/{ticket_id}/notes", None),
    ("POST", "/tickets/{ticket_id}/labels", {"labels": ["vip"]}),
    ("DELETE", "/tickets/{ticket_id}/labels/{label}", None),
    ("PATCH", "/tickets/{ticket_id}/fields", {"values": {"vip": True}}),
]


def test_another_workspace_gets_404_on_every_route(fields, repo):
    accounts = fields
    # GIVEN A's ticket with a label, and workspace B with the same field defined
    ticket_id = new_ticket(accounts, repo)
    add_labels(accounts, ticket_id, ["vip"])
    b_ws = unique("ws-b-")
    b_admin = {"sub": "admin-b", "custom:workspace_id": b_ws, "cognito:groups": "admin"}
    assert put_field(accounts, "vip", {"label": "B", "type": "boolean"}, claims=b_admin)[0] == 200
    foreign = {"sub": "agent-b", "custom:workspace_id": b_ws}
    # WHEN B calls every annotation route on A's ticket
    for method, resource, body in ROUTES:
        status, answer = call(
            method,
            resource,
            foreign,
            params={"ticket_id": ticket_id, "label": "vip"},
            body=body,
        )
        # THEN 404, as for a ticket that does not exist
        assert status == 404, (method, resource, answer)
        assert answer["error"]["code"] == "not_found"
    # and B's definitions are B's alone
    b_fields = call("GET", "/ticket-fields", foreign)[1]["items"]
    assert [(f["key"], f["label"]) for f in b_fields] == [("vip", "B")]
    a_vip = [f for f in call("GET", "/ticket-fields", accounts.claims())[1]["items"]]
    assert ("vip", "VIP") in [(f["key"], f["label"]) for f in a_vip]
    # and A's ticket is untouched
    ticket = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert ticket.labels == ["vip"]
    assert ticket.fields == {}
    assert list_notes(accounts, ticket_id)[1]["items"] == []


@pytest.mark.parametrize(
    ("method", "resource", "body"),
    [
        *ROUTES,
        ("GET", "/ticket-fields", None),
        ("PUT", "/ticket-fields/{key}", {"label": "Order", "type": "text"}),
    ],
)
def test_no_claims_is_401(accounts, method, resource, body):
    status, answer = call(
        method,
        resource,
        None,
        params={"ticket_id": "t_x", "label": "vip", "key": "order_id"},
        body=body,
    )
    assert status == 401, answer
    assert answer["error"]["code"] == "unauthorized"
