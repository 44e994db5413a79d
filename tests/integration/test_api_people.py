"""Agents, teams, assignment and the contact view through the ticket API, on DynamoDB Local:
happy paths, 409 duplicates, 422 naming fields, 403 for non-admins, 401 without claims, tenant
isolation on every route, and two agents assigning one ticket at once."""

from __future__ import annotations

import threading
import time
import uuid
from functools import partial
from typing import Any

import pytest

from functions.ticket_api.app import lambda_handler as api
from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext, api_call, unique
from ticketing.clock import utc_now
from ticketing.models import Channel, WorkspaceSettings
from ticketing.repository import keys
from ticketing.repository.dynamodb import to_dynamo
from ticketing.services import assignment
from ticketing.services.ingest import conversation_id_for

pytestmark = pytest.mark.integration


# ---------------------------------------------------------------------------- helpers
call = partial(api_call, api)


def admin(accounts: Any, agent_id: str = "admin-1") -> dict[str, str]:
    return {**accounts.claims(agent_id), "cognito:groups": "admin"}


def foreign_admin() -> dict[str, str]:
    return {"sub": "admin-b", "custom:workspace_id": unique("ws-b-"), "cognito:groups": "admin"}


def create_agent(accounts: Any, agent_id: str, **extra: Any) -> dict[str, Any]:
    status, body = call(
        "POST", "/agents", admin(accounts), body={"agent_id": agent_id, "name": agent_id, **extra}
    )
    assert status == 201, body
    result: dict[str, Any] = body
    return result


def create_team(accounts: Any, team_id: str, *members: str) -> None:
    status, body = call(
        "POST", "/teams", admin(accounts), body={"team_id": team_id, "name": team_id}
    )
    assert status == 201, body
    for agent_id in members:
        status, body = member(accounts, "PUT", team_id, agent_id)
        assert status == 200, body


def member(
    accounts: Any, method: str, team_id: str, agent_id: str, claims: dict[str, str] | None = None
) -> tuple[int, Any]:
    return call(
        method,
        "/teams/{team_id}/members/{agent_id}",
        claims if claims is not None else admin(accounts),
        params={"team_id": team_id, "agent_id": agent_id},
    )


def assign(
    accounts: Any,
    ticket_id: str,
    body: Any,
    *,
    claims: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    return call(
        "PUT",
        "/tickets/{ticket_id}/assignee",
        claims if claims is not None else accounts.claims(),
        params={"ticket_id": ticket_id},
        body=body,
        headers=headers,
    )


def customer_says(accounts: Any, psid: str) -> None:
    event = accounts.messenger(accounts.messenger_message(unique("mid-"), "hello", psid=psid))
    response = ingest(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]


def line_user_says(accounts: Any, user: str) -> None:
    event = accounts.line(demo.line_text(str(uuid.uuid4().int)[:18], "hi", user=user, ts=demo.T0))
    response = ingest(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]


def messenger_conversation(accounts: Any, repo: Any, psid: str) -> Any:
    conv = repo.get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, psid)
    )
    assert conv is not None
    return conv


def open_ticket(accounts: Any, repo: Any, psid: str) -> str:
    customer_says(accounts, psid)
    ticket_id: str = messenger_conversation(accounts, repo, psid).open_ticket_id
    assert ticket_id
    return ticket_id


def assignment_events(repo: Any, accounts: Any, ticket_id: str) -> list[Any]:
    return [
        h
        for h in repo.list_history(accounts.workspace_id, ticket_id)
        if h.event in (assignment.ASSIGNED, assignment.UNASSIGNED)
    ]


def error_locs(body: dict[str, Any]) -> set[str]:
    return {e["loc"] for e in body["error"]["details"]["errors"]}


# ---------------------------------------------------------------------------- agents
def test_admin_creates_agents_and_any_agent_lists_them_page_by_page(accounts):
    # GIVEN an admin
    # WHEN two agents are created
    first = create_agent(accounts, "ann", email="ann@shop.example")
    create_agent(accounts, "bob", status="away")
    # THEN they come back as stored, and any agent lists them with an opaque cursor
    assert first["agent_id"] == "ann"
    assert first["email"] == "ann@shop.example"
    assert first["status"] == "available"
    status, page = call("GET", "/agents", accounts.claims(), query={"limit": "1"})
    assert status == 200, page
    assert [a["agent_id"] for a in page["items"]] == ["ann"]
    status, rest = call(
        "GET", "/agents", accounts.claims(), query={"limit": "1", "cursor": page["next_cursor"]}
    )
    assert status == 200, rest
    assert [(a["agent_id"], a["status"]) for a in rest["items"]] == [("bob", "away")]


def test_creating_an_existing_agent_or_team_is_409(accounts):
    # GIVEN an agent and a team
    create_agent(accounts, "ann")
    create_team(accounts, "sales")
    # WHEN they are created again
    agent_status, agent = call(
        "POST", "/agents", admin(accounts), body={"agent_id": "ann", "name": "Other Ann"}
    )
    team_status, team = call(
        "POST", "/teams", admin(accounts), body={"team_id": "sales", "name": "Other"}
    )
    # THEN 409 conflict, and the first records are unchanged
    assert (agent_status, agent["error"]["code"]) == (409, "conflict")
    assert agent["error"]["details"] == {"agent_id": "ann"}
    assert (team_status, team["error"]["details"]) == (409, {"team_id": "sales"})
    _, agents = call("GET", "/agents", accounts.claims())
    assert [a["name"] for a in agents["items"]] == ["ann"]


def test_an_agent_sets_their_own_status_and_nothing_else(accounts):
    # GIVEN agent ann (not an admin)
    create_agent(accounts, "ann")
    ann = accounts.claims("ann")
    # WHEN ann sets her status, then tries her name, then bob's status
    own_status, own = call(
        "PATCH", "/agents/{agent_id}", ann, params={"agent_id": "ann"}, body={"status": "away"}
    )
    name_status, _ = call(
        "PATCH", "/agents/{agent_id}", ann, params={"agent_id": "ann"}, body={"name": "Queen"}
    )
    create_agent(accounts, "bob")
    other_status, _ = call(
        "PATCH", "/agents/{agent_id}", ann, params={"agent_id": "bob"}, body={"status": "away"}
    )
    # THEN only her own status changed
    assert own_status == 200, own
    assert (own["status"], own["name"]) == ("away", "ann")
    assert (name_status, other_status) == (403, 403)


def test_admin_updates_an_agent_and_unknown_agent_is_404(accounts):
    create_agent(accounts, "ann")
    status, body = call(
        "PATCH",
        "/agents/{agent_id}",
        admin(accounts),
        params={"agent_id": "ann"},
        body={"name": "Ann Lee", "email": "ann@shop.example"},
    )
    assert status == 200, body
    assert (body["name"], body["email"], body["status"]) == (
        "Ann Lee",
        "ann@shop.example",
        "available",
    )
    status, body = call(
        "PATCH",
        "/agents/{agent_id}",
        admin(accounts),
        params={"agent_id": "nobody"},
        body={"name": "x"},
    )
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = call(
        "PATCH", "/agents/{agent_id}", admin(accounts), params={"agent_id": "ann"}, body={}
    )
    assert status == 400, body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent_id": "a#b", "name": "x"}, "body.agent_id"),
        ({"agent_id": "has space", "name": "x"}, "body.agent_id"),
        ({"agent_id": "ann"}, "body.name"),
        ({"agent_id": "ann", "name": ""}, "body.name"),
        ({"agent_id": "ann", "name": "x", "email": "not-an-email"}, "body.email"),
        ({"agent_id": "ann", "name": "x", "status": "asleep"}, "body.status"),
        ({"agent_id": "ann", "name": "x", "role": "boss"}, "body.role"),
    ],
)
def test_invalid_agent_is_422_naming_the_field(accounts, body, field):
    status, answer = call("POST", "/agents", admin(accounts), body=body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"
    assert field in error_locs(answer)


def test_non_admins_cannot_change_the_directory(accounts):
    # GIVEN an agent, a team, and a non-admin caller
    create_agent(accounts, "ann")
    create_team(accounts, "sales", "ann")
    agent = accounts.claims("ann")
    # WHEN the non-admin creates agents/teams or changes membership
    answers = [
        call("POST", "/agents", agent, body={"agent_id": "eve", "name": "Eve"}),
        call("POST", "/teams", agent, body={"team_id": "ops", "name": "Ops"}),
        member(accounts, "PUT", "sales", "ann", agent),
        member(accounts, "DELETE", "sales", "ann", agent),
    ]
    # THEN each is 403 forbidden, and nothing changed
    assert [(s, b["error"]["code"]) for s, b in answers] == [(403, "forbidden")] * 4
    _, team = call("GET", "/teams/{team_id}", agent, params={"team_id": "sales"})
    assert [m["agent_id"] for m in team["members"]] == ["ann"]


# ---------------------------------------------------------------------------- teams
def test_team_membership_is_idempotent_and_listed(accounts):
    # GIVEN two agents and a team
    create_agent(accounts, "ann")
    create_agent(accounts, "bob")
    create_team(accounts, "sales")
    # WHEN both are added (ann twice) and listed
    for agent_id in ("ann", "ann", "bob"):
        status, body = member(accounts, "PUT", "sales", agent_id)
        assert status == 200, body
        assert (body["team_id"], body["agent_id"]) == ("sales", agent_id)
    status, team = call("GET", "/teams/{team_id}", accounts.claims(), params={"team_id": "sales"})
    # THEN the team lists each once
    assert status == 200, team
    assert team["team"]["name"] == "sales"
    assert [m["agent_id"] for m in team["members"]] == ["ann", "bob"]
    # WHEN bob is removed, twice
    first, _ = member(accounts, "DELETE", "sales", "bob")
    again, body = member(accounts, "DELETE", "sales", "bob")
    # THEN 204, then 404; the list shows ann only
    assert (first, again) == (204, 404), body
    _, team = call("GET", "/teams/{team_id}", accounts.claims(), params={"team_id": "sales"})
    assert [m["agent_id"] for m in team["members"]] == ["ann"]
    _, teams = call("GET", "/teams", accounts.claims())
    assert [t["team_id"] for t in teams["items"]] == ["sales"]


def test_membership_of_unknown_team_or_agent_is_404(accounts):
    create_agent(accounts, "ann")
    create_team(accounts, "sales")
    no_team, body = member(accounts, "PUT", "nope", "ann")
    assert (no_team, body["error"]["details"]) == (404, {"team_id": "nope"})
    no_agent, body = member(accounts, "PUT", "sales", "nobody")
    assert (no_agent, body["error"]["details"]) == (404, {"agent_id": "nobody"})
    status, _ = call("GET", "/teams/{team_id}", accounts.claims(), params={"team_id": "nope"})
    assert status == 404


def test_invalid_team_is_422_naming_the_field(accounts):
    status, body = call("POST", "/teams", admin(accounts), body={"team_id": "a/b", "name": "x"})
    assert status == 422, body
    assert "body.team_id" in error_locs(body)
    status, body = call("POST", "/teams", admin(accounts), body={"team_id": "ok"})
    assert status == 422, body
    assert "body.name" in error_locs(body)


# ---------------------------------------------------------------------------- assignment
def test_assign_reassign_and_unassign_are_recorded_from_to(accounts, repo):
    # GIVEN an open ticket, agents ann and bob, and team sales with ann
    ticket_id = open_ticket(accounts, repo, "as-1")
    create_agent(accounts, "ann")
    create_agent(accounts, "bob")
    create_team(accounts, "sales", "ann")
    # WHEN assigned to ann, then the team added, then bob (not in sales), then the team cleared
    # and bob set together, then unassigned
    steps = [
        assign(accounts, ticket_id, {"agent_id": "ann"}),
        assign(accounts, ticket_id, {"team_id": "sales"}),
        assign(accounts, ticket_id, {"agent_id": "bob"}),
        assign(accounts, ticket_id, {"agent_id": "bob", "team_id": None}),
        call(
            "DELETE",
            "/tickets/{ticket_id}/assignee",
            accounts.claims(),
            params={"ticket_id": ticket_id},
        ),
    ]
    # THEN each answer carries the assignee; bob-in-sales is a 422 naming agent_id
    statuses = [s for s, _ in steps]
    assert statuses == [200, 200, 422, 200, 200], steps
    assert steps[0][1]["assignee"] == {"agent_id": "ann", "team_id": None}
    assert steps[1][1]["assignee"] == {"agent_id": "ann", "team_id": "sales"}
    assert error_locs(steps[2][1]) == {"body.agent_id"}
    assert "not a member" in steps[2][1]["error"]["details"]["errors"][0]["msg"]
    assert steps[3][1]["assignee"] == {"agent_id": "bob", "team_id": None}
    assert steps[4][1]["assignee"] == {"agent_id": None, "team_id": None}
    assert steps[4][1]["version"] == 5
    # and the history says who did what, from → to
    events = assignment_events(repo, accounts, ticket_id)
    assert [(e.event, e.actor, e.detail) for e in events] == [
        ("assigned", "agent-1", "nobody → agent:ann"),
        ("assigned", "agent-1", "agent:ann → agent:ann team:sales"),
        ("assigned", "agent-1", "agent:ann team:sales → agent:bob"),
        ("unassigned", "agent-1", "agent:bob → nobody"),
    ]
    stored = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert stored.assignee.agent_id is None
    assert stored.assignee_changed_at == events[-1].at


def test_assigning_the_same_assignee_again_writes_nothing(accounts, repo):
    ticket_id = open_ticket(accounts, repo, "as-2")
    create_agent(accounts, "ann")
    first, body = assign(accounts, ticket_id, {"agent_id": "ann"})
    again, same = assign(accounts, ticket_id, {"agent_id": "ann"})
    assert (first, again) == (200, 200)
    assert same["version"] == body["version"]
    assert len(assignment_events(repo, accounts, ticket_id)) == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"agent_id": "nobody"}, {"body.agent_id"}),
        ({"team_id": "nope"}, {"body.team_id"}),
        ({"agent_id": "nobody", "team_id": "nope"}, {"body.agent_id", "body.team_id"}),
    ],
)
def test_assigning_unknown_agent_or_team_is_422_naming_it(accounts, repo, body, fields):
    ticket_id = open_ticket(accounts, repo, unique("as-"))
    status, answer = assign(accounts, ticket_id, body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"
    assert error_locs(answer) == fields
    assert repo.get_ticket(accounts.workspace_id, ticket_id).version == 1
    assert assignment_events(repo, accounts, ticket_id) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"agent_id": "a#b"}, "body.agent_id"),
        ({"agent_id": "ann", "owner": "x"}, "body.owner"),
        ({"team_id": ""}, "body.team_id"),
    ],
)
def test_malformed_assignment_is_422(accounts, repo, body, field):
    ticket_id = open_ticket(accounts, repo, unique("as-"))
    status, answer = assign(accounts, ticket_id, body)
    assert status == 422, answer
    assert field in error_locs(answer)


def test_assignment_with_a_stale_if_match_is_412(accounts, repo):
    # GIVEN a ticket at version 1, and an agent
    ticket_id = open_ticket(accounts, repo, "as-3")
    create_agent(accounts, "ann")
    # WHEN assigned with If-Match naming version 3, then version 1
    stale, body = assign(accounts, ticket_id, {"agent_id": "ann"}, headers={"If-Match": '"3"'})
    fresh, ok = assign(accounts, ticket_id, {"agent_id": "ann"}, headers={"If-Match": '"1"'})
    # THEN 412 changes nothing; the right version assigns
    assert (stale, body["error"]["code"]) == (412, "version_mismatch")
    assert fresh == 200, ok
    assert ok["version"] == 2
    assert len(assignment_events(repo, accounts, ticket_id)) == 1


def test_assignment_of_unknown_ticket_is_404(accounts):
    create_agent(accounts, "ann")
    status, body = assign(accounts, "t_nope", {"agent_id": "ann"})
    assert (status, body["error"]["code"]) == (404, "not_found")


# ---------------------------------------------------------------------------- races
def race(n: int, work: Any) -> list[str]:
    barrier = threading.Barrier(n)
    results: list[str] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
            results.append("ok")
        except Exception as exc:  # the losers get a domain error
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_agents_assigning_at_once_without_if_match_last_write_wins_and_all_are_recorded(
    accounts, repo
):
    # GIVEN an open ticket and 8 agents
    ticket_id = open_ticket(accounts, repo, "race-1")
    agents = [f"agent-{i}" for i in range(8)]
    for agent_id in agents:
        create_agent(accounts, agent_id)

    # WHEN each assigns it to themself at the same instant (services: real threads, real table)
    def work(i: int) -> None:
        assignment.assign(
            repo,
            accounts.workspace_id,
            ticket_id,
            {"agent_id": agents[i]},
            actor=agents[i],
            now=utc_now(),
        )

    results = race(len(agents), work)
    # THEN every assignment happened, each recorded exactly once, as one unbroken from → to
    # chain in history order, and the ticket's assignee is the last event's target
    assert results == ["ok"] * len(agents), results
    events = assignment_events(repo, accounts, ticket_id)
    assert sorted(e.actor for e in events) == sorted(agents)
    before = "nobody"
    for event in events:
        source, _, target = (event.detail or "").partition(" → ")
        assert source == before, [e.detail for e in events]
        assert target == f"agent:{event.actor}"
        before = target
    assert [e.at for e in events] == sorted({e.at for e in events})  # strictly increasing
    ticket = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert f"agent:{ticket.assignee.agent_id}" == before
    assert ticket.version == 1 + len(agents)


def test_agents_assigning_at_once_with_if_match_one_wins_the_rest_get_412(accounts, repo):
    # GIVEN an open ticket at version 1 and 6 agents
    ticket_id = open_ticket(accounts, repo, "race-2")
    agents = [f"agent-{i}" for i in range(6)]
    for agent_id in agents:
        create_agent(accounts, agent_id)

    # WHEN each assigns it to themself with If-Match: 1 at the same instant
    def work(i: int) -> None:
        assignment.assign(
            repo,
            accounts.workspace_id,
            ticket_id,
            {"agent_id": agents[i]},
            actor=agents[i],
            now=utc_now(),
            expected_version=1,
        )

    results = race(len(agents), work)
    # THEN exactly one won; the others were told the ticket moved on
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} == {"PreconditionFailedError"}
    (event,) = assignment_events(repo, accounts, ticket_id)
    ticket = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert event.detail == f"nobody → agent:{ticket.assignee.agent_id}"
    assert ticket.version == 2


# ---------------------------------------------------------------------------- contact view
def contact_view(
    accounts: Any, contact_id: str, claims: dict[str, str] | None = None, **query: str
) -> tuple[int, Any]:
    return call(
        "GET",
        "/contacts/{contact_id}",
        claims if claims is not None else accounts.claims(),
        params={"contact_id": contact_id},
        query=query or None,
    )


def test_contact_view_lists_conversations_and_tickets_newest_first_paginated(accounts, repo):
    # GIVEN a customer with three tickets in turn on one Messenger conversation (window off)
    repo.put_workspace(
        WorkspaceSettings(workspace_id=accounts.workspace_id, reopen_window_seconds=None)
    )
    created = []
    for _ in range(3):
        ticket_id = open_ticket(accounts, repo, "cv-1")
        created.append(ticket_id)
        call(
            "POST",
            "/tickets/{ticket_id}/close",
            accounts.claims(),
            params={"ticket_id": ticket_id},
        )
        time.sleep(0.002)  # distinct creation milliseconds
    conv = messenger_conversation(accounts, repo, "cv-1")
    # WHEN the contact is viewed two tickets at a time
    status, first = contact_view(accounts, conv.contact_id, tickets_limit="2")
    status2, second = contact_view(
        accounts, conv.contact_id, tickets_limit="2", tickets_cursor=first["next_tickets_cursor"]
    )
    # THEN the contact, its one conversation (with its latest ticket), and its tickets newest
    # first across the two pages
    assert (status, status2) == (200, 200), (first, second)
    assert first["contact"]["contact_id"] == conv.contact_id
    assert [c["conversation_id"] for c in first["conversations"]] == [conv.conversation_id]
    assert first["conversations"][0]["channel"] == "messenger"
    assert first["conversations"][0]["customer_id"] == "cv-1"
    assert first["conversations"][0]["latest_ticket_id"] == created[-1]
    assert first["conversations"][0]["open_ticket_id"] is None
    listed = [t["ticket_id"] for t in first["tickets"] + second["tickets"]]
    assert listed == created[::-1]
    assert {t["status"] for t in first["tickets"]} == {"closed"}
    assert second["next_tickets_cursor"] is None


def test_contact_view_spans_channels(accounts, repo, ddb_client, table_name):
    # GIVEN a Messenger customer whose LINE identity belongs to the same contact (as a merge
    # would leave it), then a LINE message from that identity
    customer_says(accounts, "cv-2")
    messenger_conv = messenger_conversation(accounts, repo, "cv-2")
    contact_id = messenger_conv.contact_id
    line_user = "U" + uuid.uuid4().hex
    identity = keys.identity_key(
        accounts.workspace_id, Channel.LINE, accounts.line_bot_id, line_user
    )
    ddb_client.put_item(
        TableName=table_name,
        Item=to_dynamo(
            {
                **identity,
                "type": "identity",
                "workspace_id": accounts.workspace_id,
                "contact_id": contact_id,
                "channel": "line",
                "account_id": accounts.line_bot_id,
                "customer_id": line_user,
            }
        ),
    )
    time.sleep(0.002)
    line_user_says(accounts, line_user)
    # WHEN the contact is viewed
    status, view = contact_view(accounts, contact_id)
    # THEN both conversations, each with its open ticket; tickets newest (LINE) first
    assert status == 200, view
    by_channel = {c["channel"]: c for c in view["conversations"]}
    assert set(by_channel) == {"messenger", "line"}
    assert by_channel["line"]["account_id"] == accounts.line_bot_id
    assert by_channel["line"]["customer_id"] == line_user
    assert [t["channel"] for t in view["tickets"]] == ["line", "messenger"]
    assert [t["ticket_id"] for t in view["tickets"]] == [
        by_channel["line"]["open_ticket_id"],
        by_channel["messenger"]["open_ticket_id"],
    ]


def test_contact_view_of_unknown_contact_is_404_and_foreign_cursor_400(accounts, repo):
    customer_says(accounts, "cv-3")
    customer_says(accounts, "cv-4")
    a = messenger_conversation(accounts, repo, "cv-3").contact_id
    b = messenger_conversation(accounts, repo, "cv-4").contact_id
    status, _ = contact_view(accounts, "ct_nope")
    assert status == 404
    # a cursor made for contact a's list cannot page contact b's
    last = {
        keys.PK: {"S": keys.contact_key(accounts.workspace_id, a)[keys.PK]},
        keys.SK: {"S": "TICKET#0000000000000#t_x"},
    }
    from ticketing.repository.dynamodb import encode_cursor

    status, body = contact_view(accounts, b, tickets_cursor=encode_cursor(last))
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


# ---------------------------------------------------------------------------- isolation, 401
def test_another_workspace_gets_404_on_every_route(accounts, repo):
    # GIVEN workspace A's agent, team (with the agent), ticket and contact
    create_agent(accounts, "ann")
    create_team(accounts, "sales", "ann")
    ticket_id = open_ticket(accounts, repo, "iso-1")
    contact_id = messenger_conversation(accounts, repo, "iso-1").contact_id
    b = foreign_admin()
    # WHEN workspace B's admin addresses each of them by id
    answers = {
        "patch agent": call(
            "PATCH", "/agents/{agent_id}", b, params={"agent_id": "ann"}, body={"name": "x"}
        ),
        "get team": call("GET", "/teams/{team_id}", b, params={"team_id": "sales"}),
        "put member": member(accounts, "PUT", "sales", "ann", b),
        "delete member": member(accounts, "DELETE", "sales", "ann", b),
        "assign": assign(accounts, ticket_id, {"agent_id": "ann"}, claims=b),
        "unassign": call(
            "DELETE", "/tickets/{ticket_id}/assignee", b, params={"ticket_id": ticket_id}
        ),
        "contact": contact_view(accounts, contact_id, b),
    }
    # THEN every answer is 404, and B's lists are empty
    assert {name: status for name, (status, _) in answers.items()} == dict.fromkeys(answers, 404)
    assert call("GET", "/agents", b)[1]["items"] == []
    assert call("GET", "/teams", b)[1]["items"] == []
    # AND B cannot assign A's agent or team to B's own tickets: they do not exist in B
    ticket = repo.get_ticket(accounts.workspace_id, ticket_id)
    assert ticket.version == 1
    _, team = call("GET", "/teams/{team_id}", accounts.claims(), params={"team_id": "sales"})
    assert [m["agent_id"] for m in team["members"]] == ["ann"]


def test_b_cannot_assign_a_agents_to_its_own_tickets(accounts, repo):
    # GIVEN A's agent and team, and a second workspace B with its own ticket
    create_agent(accounts, "ann")
    create_team(accounts, "sales", "ann")
    other = accounts.__class__(
        workspace_id=unique("ws-b-"), page_id=unique("page-"), line_bot_id=unique("Ubot")
    )
    from ticketing.models import ChannelConnection

    repo.put_workspace(WorkspaceSettings(workspace_id=other.workspace_id))
    repo.put_connection(
        ChannelConnection(
            channel=Channel.MESSENGER,
            account_id=other.page_id,
            workspace_id=other.workspace_id,
            secret_ref=demo.SECRET_REFS["messenger"],
        )
    )
    ticket_id = open_ticket(other, repo, "iso-2")
    # WHEN B assigns its ticket to A's agent and team
    status, body = assign(other, ticket_id, {"agent_id": "ann", "team_id": "sales"})
    # THEN 422: neither exists in B
    assert status == 422, body
    assert error_locs(body) == {"body.agent_id", "body.team_id"}


ROUTES = [
    ("GET", "/agents", {}),
    ("POST", "/agents", {}),
    ("PATCH", "/agents/{agent_id}", {"agent_id": "ann"}),
    ("GET", "/teams", {}),
    ("POST", "/teams", {}),
    ("GET", "/teams/{team_id}", {"team_id": "sales"}),
    ("PUT", "/teams/{team_id}/members/{agent_id}", {"team_id": "sales", "agent_id": "ann"}),
    ("DELETE", "/teams/{team_id}/members/{agent_id}", {"team_id": "sales", "agent_id": "ann"}),
    ("PUT", "/tickets/{ticket_id}/assignee", {"ticket_id": "t_x"}),
    ("DELETE", "/tickets/{ticket_id}/assignee", {"ticket_id": "t_x"}),
    ("GET", "/contacts/{contact_id}", {"contact_id": "ct_x"}),
]
BODIES = {
    "/agents": {"agent_id": "ann", "name": "Ann"},
    "/agents/{agent_id}": {"status": "away"},
    "/teams": {"team_id": "sales", "name": "Sales"},
    "/tickets/{ticket_id}/assignee": {"agent_id": "ann"},
}


@pytest.mark.parametrize(("method", "resource", "params"), ROUTES)
def test_no_claims_is_401(accounts, method, resource, params):
    body = BODIES.get(resource) if method in ("POST", "PATCH", "PUT") else None
    status, answer = call(method, resource, None, params=params, body=body)
    assert status == 401, answer
    assert answer["error"]["code"] == "unauthorized"
