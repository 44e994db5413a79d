"""Agent transitions through the ticket API, on DynamoDB Local: open by hand, close, reopen, spam,
unspam — each a conditional write with the conversation guard, with 409/412/404 where DOMAIN.md
says so, and never two open tickets on a conversation."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import pytest

from functions.ticket_api.app import lambda_handler as api
from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext, unique
from ticketing.errors import ConflictError
from ticketing.models import TicketStatus, WorkspaceSettings
from ticketing.services.ingest import conversation_id_for

pytestmark = pytest.mark.integration


# ---------------------------------------------------------------------------- helpers
def call(
    method: str,
    path: str,
    resource: str,
    claims: dict[str, str] | None,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    event = demo.api_event(
        method,
        resource,
        path,
        body=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
        path_parameters=params,
        claims=claims,
    )
    response = api(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def transition(
    accounts: Any, ticket_id: str, action: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    return call(
        "POST",
        f"/tickets/{ticket_id}/{action}",
        f"/tickets/{{ticket_id}}/{action}",
        accounts.claims(),
        params={"ticket_id": ticket_id},
        headers=headers,
    )


def customer_says(accounts: Any, psid: str, text: str = "hello") -> dict[str, Any]:
    event = accounts.messenger(accounts.messenger_message(unique("mid-"), text, psid=psid))
    response = ingest(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    outcomes: dict[str, Any] = json.loads(response["body"])["outcomes"]
    return outcomes


def conversation(accounts: Any, repo: Any, psid: str) -> Any:
    return repo.get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, psid)
    )


def open_ticket_of(accounts: Any, repo: Any, psid: str) -> str:
    conv = conversation(accounts, repo, psid)
    assert conv is not None
    assert conv.open_ticket_id
    return str(conv.open_ticket_id)


def open_tickets(repo: Any, workspace_id: str) -> list[Any]:
    return repo.list_tickets(workspace_id, TicketStatus.OPEN, 100, None).items


def history_events(repo: Any, accounts: Any, ticket_id: str) -> list[tuple[str, str]]:
    return [(h.event, h.actor) for h in repo.list_history(accounts.workspace_id, ticket_id)]


@pytest.fixture
def window_off(accounts: Any, repo: Any) -> Any:
    repo.put_workspace(
        WorkspaceSettings(workspace_id=accounts.workspace_id, reopen_window_seconds=None)
    )
    return accounts


# ---------------------------------------------------------------------------- close / reopen
def test_close_then_close_again_is_a_conflict(accounts, repo):
    # GIVEN an open ticket
    customer_says(accounts, "p1")
    ticket_id = open_ticket_of(accounts, repo, "p1")
    # WHEN an agent closes it, twice
    first_status, first = transition(accounts, ticket_id, "close")
    second_status, second = transition(accounts, ticket_id, "close")
    # THEN the first closes it (version bumped, history by the agent) and the second is a 409
    assert first_status == 200, first
    assert first["status"] == "closed"
    assert first["closed_at"]
    assert first["version"] == 2
    assert second_status == 409
    assert second["error"]["code"] == "conflict"
    assert conversation(accounts, repo, "p1").open_ticket_id is None
    assert ("closed", "agent-1") in history_events(repo, accounts, ticket_id)


def test_manual_reopen_ignores_the_window_and_counts(window_off, repo):
    accounts = window_off
    # GIVEN a closed ticket in a workspace whose reopen window is off
    customer_says(accounts, "p2")
    ticket_id = open_ticket_of(accounts, repo, "p2")
    transition(accounts, ticket_id, "close")
    # WHEN an agent reopens it
    status, body = transition(accounts, ticket_id, "reopen")
    # THEN it is open again, counted, and the guard names it
    assert status == 200, body
    assert body["status"] == "open"
    assert body["reopen_count"] == 1
    assert body["closed_at"] is None
    assert conversation(accounts, repo, "p2").open_ticket_id == ticket_id
    assert ("reopened", "agent-1") in history_events(repo, accounts, ticket_id)


def test_reopen_when_the_conversation_has_a_new_open_ticket_is_409_naming_it(window_off, repo):
    accounts = window_off
    # GIVEN a closed ticket, then a customer message that opened a new ticket (window off)
    customer_says(accounts, "p3")
    old = open_ticket_of(accounts, repo, "p3")
    transition(accounts, old, "close")
    customer_says(accounts, "p3", "me again")
    new = open_ticket_of(accounts, repo, "p3")
    assert new != old
    # WHEN the agent reopens the old one
    status, body = transition(accounts, old, "reopen")
    # THEN 409 names the open ticket, and nothing changed
    assert status == 409, body
    assert body["error"]["details"]["open_ticket_id"] == new
    assert [t.ticket_id for t in open_tickets(repo, accounts.workspace_id)] == [new]


def test_reopen_of_an_older_closed_ticket_is_409_naming_the_latest(window_off, repo):
    accounts = window_off
    # GIVEN two closed tickets on one conversation
    customer_says(accounts, "p4")
    old = open_ticket_of(accounts, repo, "p4")
    transition(accounts, old, "close")
    customer_says(accounts, "p4")
    latest = open_ticket_of(accounts, repo, "p4")
    transition(accounts, latest, "close")
    # WHEN the older one is reopened
    status, body = transition(accounts, old, "reopen")
    # THEN 409 names the latest ticket (the one that can be reopened)
    assert status == 409, body
    assert body["error"]["details"]["latest_ticket_id"] == latest
    assert open_tickets(repo, accounts.workspace_id) == []


# ---------------------------------------------------------------------------- spam
def test_spam_keeps_later_messages_on_the_spam_ticket_and_unspam_reopens(accounts, repo):
    # GIVEN an open ticket marked spam by an agent
    customer_says(accounts, "p5")
    ticket_id = open_ticket_of(accounts, repo, "p5")
    status, body = transition(accounts, ticket_id, "spam")
    assert status == 200, body
    assert body["status"] == "spam"
    # WHEN the customer writes again
    outcomes = customer_says(accounts, "p5", "buy followers")
    # THEN the message lands on the spam ticket, unsurfaced
    assert outcomes == {"spam": 1}
    assert open_tickets(repo, accounts.workspace_id) == []
    assert repo.get_ticket(accounts.workspace_id, ticket_id).messages_in == 2
    # WHEN the agent unmarks it
    status, body = transition(accounts, ticket_id, "unspam")
    # THEN it is open again and the next message appends to it
    assert status == 200, body
    assert body["status"] == "open"
    assert customer_says(accounts, "p5") == {"appended": 1}
    assert [e for e, _ in history_events(repo, accounts, ticket_id)][-2:] == [
        "marked_spam",
        "unmarked_spam",
    ]


def test_spam_on_a_closed_latest_ticket_catches_the_next_message(window_off, repo):
    accounts = window_off
    # GIVEN a closed ticket (the conversation's latest), then marked spam
    customer_says(accounts, "p6")
    ticket_id = open_ticket_of(accounts, repo, "p6")
    transition(accounts, ticket_id, "close")
    status, body = transition(accounts, ticket_id, "spam")
    assert status == 200, body
    assert body["status"] == "spam"
    # WHEN the customer writes
    outcomes = customer_says(accounts, "p6")
    # THEN it is appended to the spam ticket, no new ticket is opened
    assert outcomes == {"spam": 1}
    assert conversation(accounts, repo, "p6").latest_ticket_id == ticket_id


def test_unspam_while_another_ticket_is_open_is_409(window_off, repo):
    accounts = window_off
    # GIVEN an older closed ticket marked spam... impossible to reopen while a newer one is open
    customer_says(accounts, "p7")
    first = open_ticket_of(accounts, repo, "p7")
    transition(accounts, first, "close")
    customer_says(accounts, "p7")
    second = open_ticket_of(accounts, repo, "p7")
    status, _ = transition(accounts, first, "spam")
    assert status == 200
    # WHEN the spam mark is undone
    status, body = transition(accounts, first, "unspam")
    # THEN 409 names the open ticket
    assert status == 409, body
    assert body["error"]["details"]["open_ticket_id"] == second


# ---------------------------------------------------------------------------- If-Match
def test_if_match_with_a_stale_version_is_412_and_changes_nothing(accounts, repo):
    # GIVEN an open ticket at version 1
    customer_says(accounts, "p8")
    ticket_id = open_ticket_of(accounts, repo, "p8")
    # WHEN closed with If-Match naming version 7
    status, body = transition(accounts, ticket_id, "close", {"If-Match": '"7"'})
    # THEN 412, and the ticket is still open
    assert status == 412, body
    assert body["error"]["code"] == "version_mismatch"
    assert repo.get_ticket(accounts.workspace_id, ticket_id).status is TicketStatus.OPEN
    # WHEN closed with the right version (weak form tolerated)
    status, body = transition(accounts, ticket_id, "close", {"if-match": 'W/"1"'})
    # THEN it is closed
    assert status == 200, body
    assert body["status"] == "closed"


def test_malformed_if_match_is_400(accounts, repo):
    customer_says(accounts, "p9")
    ticket_id = open_ticket_of(accounts, repo, "p9")
    status, body = transition(accounts, ticket_id, "close", {"If-Match": "yesterday"})
    assert status == 400, body
    assert body["error"]["code"] == "invalid_request"


# ---------------------------------------------------------------------------- open by hand
def test_open_by_hand_links_the_previous_ticket_and_refuses_a_second(window_off, repo):
    accounts = window_off
    # GIVEN a conversation whose ticket is closed
    customer_says(accounts, "p10")
    old = open_ticket_of(accounts, repo, "p10")
    transition(accounts, old, "close")
    conv_id = conversation(accounts, repo, "p10").conversation_id
    # WHEN an agent opens a ticket on it, twice
    status, body = call(
        "POST", "/tickets", "/tickets", accounts.claims(), body={"conversation_id": conv_id}
    )
    again_status, again = call(
        "POST", "/tickets", "/tickets", accounts.claims(), body={"conversation_id": conv_id}
    )
    # THEN the first is a new open ticket linked to the old one; the second is 409 naming it
    assert status == 201, body
    assert body["status"] == "open"
    assert body["previous_ticket_id"] == old
    assert body["messages_in"] == 0
    assert again_status == 409
    assert again["error"]["details"]["open_ticket_id"] == body["ticket_id"]
    assert ("created", "agent-1") in history_events(repo, accounts, body["ticket_id"])


def test_open_by_hand_on_unknown_or_foreign_conversation_is_404(accounts, repo):
    # GIVEN workspace A's conversation, and workspace B's agent
    customer_says(accounts, "p11")
    conv_id = conversation(accounts, repo, "p11").conversation_id
    foreign = {"sub": "agent-b", "custom:workspace_id": unique("ws-b-")}
    # WHEN B opens a ticket on it, and A on a conversation that does not exist
    b_status, _ = call("POST", "/tickets", "/tickets", foreign, body={"conversation_id": conv_id})
    a_status, _ = call(
        "POST", "/tickets", "/tickets", accounts.claims(), body={"conversation_id": "cv_nope"}
    )
    # THEN both are 404
    assert (b_status, a_status) == (404, 404)


def test_transitions_on_another_workspace_ticket_are_404(accounts, repo):
    customer_says(accounts, "p12")
    ticket_id = open_ticket_of(accounts, repo, "p12")
    foreign = {"sub": "agent-b", "custom:workspace_id": unique("ws-b-")}
    for action in ("close", "reopen", "spam", "unspam"):
        status, body = call(
            "POST",
            f"/tickets/{ticket_id}/{action}",
            f"/tickets/{{ticket_id}}/{action}",
            foreign,
            params={"ticket_id": ticket_id},
        )
        assert status == 404, (action, body)
    assert repo.get_ticket(accounts.workspace_id, ticket_id).status is TicketStatus.OPEN


def test_no_claims_is_401_on_every_transition(accounts):
    for action in ("close", "reopen", "spam", "unspam"):
        status, body = call(
            "POST",
            f"/tickets/t_x/{action}",
            f"/tickets/{{ticket_id}}/{action}",
            None,
            params={"ticket_id": "t_x"},
        )
        assert status == 401
        assert body["error"]["code"] == "unauthorized"


# ---------------------------------------------------------------------------- races
def test_two_agents_closing_at_once_one_wins(accounts, repo):
    # GIVEN an open ticket
    customer_says(accounts, "p13")
    ticket_id = open_ticket_of(accounts, repo, "p13")
    from ticketing.clock import utc_now
    from ticketing.services import tickets

    barrier = threading.Barrier(8)
    results: list[str] = []

    def close(agent: str) -> None:
        barrier.wait()
        try:
            tickets.close_ticket(repo, accounts.workspace_id, ticket_id, actor=agent, now=utc_now())
            results.append("ok")
        except Exception as exc:  # the losers get a domain error
            results.append(type(exc).__name__)

    # WHEN 8 agents close it at the same instant (services: the handler keeps per-process state)
    threads = [threading.Thread(target=close, args=(f"agent-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN exactly one close happened, and exactly one "closed" history event exists
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"ConflictError", "PreconditionFailedError"}
    events = [e for e, _ in history_events(repo, accounts, ticket_id)]
    assert events.count("closed") == 1


def test_agent_reopen_racing_a_customer_message_never_opens_two(window_off, repo):
    accounts = window_off
    from ticketing.clock import utc_now
    from ticketing.services import tickets
    from ticketing.services.webhooks import lower_headers, receive_webhook

    for round_ in range(5):
        # GIVEN a closed ticket (window off: a customer message would open a new one)
        psid = f"race-{round_}"
        customer_says(accounts, psid)
        old = open_ticket_of(accounts, repo, psid)
        transition(accounts, old, "close")
        event = accounts.messenger(accounts.messenger_message(unique("mid-"), "hi", psid=psid))
        start = threading.Barrier(2)

        def reopen(ticket_id: str = old, barrier: threading.Barrier = start) -> None:
            barrier.wait()
            with contextlib.suppress(ConflictError):  # losing the race is a 409
                tickets.reopen_ticket(
                    repo, accounts.workspace_id, ticket_id, actor="agent-1", now=utc_now()
                )

        def message(ev: dict[str, Any] = event, barrier: threading.Barrier = start) -> None:
            from functions.webhook_ingest.app import connections
            from ticketing.secrets import resolve_secret

            barrier.wait()
            receive_webhook(
                repo=repo,
                connections=connections(),
                resolve_secret=resolve_secret,
                channel="messenger",
                headers=lower_headers(ev["headers"]),
                raw=ev["body"].encode(),
                now=utc_now(),
                max_body_bytes=1_000_000,
            )

        # WHEN the agent reopens it while the customer writes
        threads = [threading.Thread(target=reopen), threading.Thread(target=message)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # THEN exactly one ticket of the conversation is open, and it holds the message
        conv = conversation(accounts, repo, psid)
        mine = [
            t
            for t in open_tickets(repo, accounts.workspace_id)
            if t.conversation_id == conv.conversation_id
        ]
        assert len(mine) == 1
        assert mine[0].ticket_id == conv.open_ticket_id
        stored = [
            m
            for t in {old, conv.open_ticket_id}
            for m in repo.list_messages(accounts.workspace_id, t, 100, None).items
        ]
        assert sum(1 for m in stored if m.text == "hi") == 1, [
            (m.ticket_id, m.channel_message_id, m.text) for m in stored
        ]
