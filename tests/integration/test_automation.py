"""Assignment automation on DynamoDB Local: the rules API (happy paths, 400/401/403/404/409/412/422,
tenant isolation), rules applied inside the creating transaction (customer message and manual
open), the request/capacity cost of a create with and without a matching rule, round-robin under
16 concurrent creations, and a round-robin member removed between the pick and the write."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bench import aws_units
from bench.meter import CapacityMeter
from functions.ticket_api.app import lambda_handler as api
from functions.webhook_ingest.app import lambda_handler as ingest_handler
from tests.helpers import FakeLambdaContext, api_call, unique
from ticketing.auth import Principal
from ticketing.clock import utc_now
from ticketing.models import Channel, CustomerMessageReceived, WorkspaceSettings
from ticketing.models.automation import CreateRuleCommand
from ticketing.models.people import Agent, AgentStatus, Team, TeamMember
from ticketing.repository import keys
from ticketing.repository.automation import DynamoAutomationStore
from ticketing.repository.dynamodb import DynamoTicketRepository, dynamodb_client, to_dynamo
from ticketing.services import automation as automation_service
from ticketing.services.ingest import conversation_id_for, ingest_customer_message

pytestmark = pytest.mark.integration

RULES = "/automation/rules"
RULE = "/automation/rules/{rule_id}"
ORDER = "/automation/rules/order"
MISSING_RULE = "ru_" + "0" * 26


# ---------------------------------------------------------------------------- helpers
call = partial(api_call, api)


def admin(accounts: Any) -> dict[str, str]:
    return {**accounts.claims("admin-1"), "cognito:groups": "admin"}


def agent(accounts: Any) -> dict[str, str]:
    return accounts.claims("agent-1")


def directory(repo: Any, workspace_id: str, team_id: str, agents: dict[str, AgentStatus]) -> None:
    now = utc_now()
    repo.create_team(Team(workspace_id=workspace_id, team_id=team_id, name=team_id, created_at=now))
    for agent_id, status in agents.items():
        repo.create_agent(
            Agent(
                workspace_id=workspace_id,
                agent_id=agent_id,
                name=agent_id,
                status=status,
                created_at=now,
            )
        )
        repo.add_team_member(
            TeamMember(workspace_id=workspace_id, team_id=team_id, agent_id=agent_id, added_at=now)
        )


def priority_field(accounts: Any) -> None:
    status, body = call(
        "PUT",
        "/ticket-fields/{key}",
        admin(accounts),
        params={"key": "priority"},
        body={"label": "Priority", "type": "single_select", "options": ["low", "high"]},
    )
    assert status == 200, body


def create_rule(accounts: Any, **rule: Any) -> dict[str, Any]:
    status, body = call("POST", RULES, admin(accounts), body=rule)
    assert status == 201, body
    result: dict[str, Any] = body
    return result


def post_message(accounts: Any, psid: str, text: str) -> str:
    message = accounts.messenger_message(unique("mid-"), text, psid=psid)
    response = ingest_handler(accounts.messenger(message), FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    (outcome,) = json.loads(response["body"])["outcomes"]
    return str(outcome)


def open_ticket_of(repo: Any, accounts: Any, psid: str) -> Any:
    conversation = repo.get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, psid)
    )
    return repo.get_ticket(accounts.workspace_id, conversation.open_ticket_id)


@pytest.fixture(autouse=True)
def _fresh_rule_cache():
    automation_service._rule_sets.clear()
    yield
    automation_service._rule_sets.clear()


# ---------------------------------------------------------------------------- the rules API
def test_rules_crud_and_order(accounts, repo):
    # GIVEN a team with an agent and a ticket field
    directory(repo, accounts.workspace_id, "billing", {"ann": AgentStatus.AVAILABLE})
    priority_field(accounts)
    # WHEN an admin creates two rules, the second at the front
    first = create_rule(
        accounts,
        name="Billing",
        conditions={"keywords": ["refund"]},
        actions={"assign": {"mode": "team", "team_id": "billing"}},
    )
    second = create_rule(
        accounts,
        name="VIP",
        position=0,
        conditions={"channels": ["line"]},
        actions={"add_labels": ["VIP"], "set_fields": {"priority": "high"}},
    )
    # THEN each answer names its place and the rules version
    assert (first["position"], first["version"]) == (0, 1)
    assert (second["position"], second["version"]) == (0, 2)
    assert second["rule"]["actions"]["add_labels"] == ["vip"]
    ids = [second["rule"]["rule_id"], first["rule"]["rule_id"]]
    # AND any agent lists them in order
    status, listed = call("GET", RULES, agent(accounts))
    assert status == 200
    assert [r["rule_id"] for r in listed["items"]] == ids
    assert listed["version"] == 2
    # WHEN reordered, updated and read
    status, reordered = call(
        "PUT", ORDER, admin(accounts), body={"rule_ids": ids[::-1], "version": 2}
    )
    assert status == 200, reordered
    assert [r["rule_id"] for r in reordered["items"]] == ids[::-1]
    status, updated = call(
        "PUT",
        RULE,
        admin(accounts),
        params={"rule_id": ids[0]},
        body={"name": "VIP (off)", "enabled": False, "actions": {"add_labels": ["vip"]}},
        headers={"If-Match": "3"},
    )
    assert status == 200, updated
    assert (updated["position"], updated["version"]) == (1, 4)
    status, got = call("GET", RULE, agent(accounts), params={"rule_id": ids[0]})
    assert status == 200
    assert got["rule"]["name"] == "VIP (off)"
    assert got["rule"]["enabled"] is False
    # WHEN one is deleted
    status, _ = call("DELETE", RULE, admin(accounts), params={"rule_id": ids[1]})
    assert status == 204
    # THEN the stored rule set holds the other only, and the workspace item its version
    stored = DynamoAutomationStore(repo).get_rule_set(accounts.workspace_id, consistent=True)
    assert [r.rule_id for r in stored.rules] == [ids[0]]
    assert stored.version == 5
    item = repo.client.get_item(
        TableName=repo.table_name, Key=to_dynamo(keys.workspace_key(accounts.workspace_id))
    )["Item"]
    assert item["automation_version"] == {"N": "5"}


def test_writes_are_for_admins_reads_for_agents(accounts):
    rule_id = create_rule(accounts, name="any", actions={"add_labels": ["x"]})["rule"]["rule_id"]
    body = {"name": "y", "actions": {"add_labels": ["y"]}}
    for method, resource, payload in (
        ("POST", RULES, body),
        ("PUT", RULE, body),
        ("DELETE", RULE, None),
        ("PUT", ORDER, {"rule_ids": [rule_id], "version": 1}),
    ):
        status, answer = call(
            method, resource, agent(accounts), params={"rule_id": rule_id}, body=payload
        )
        assert status == 403, (method, resource, answer)
        assert answer["error"]["code"] == "forbidden"
    assert call("GET", RULE, agent(accounts), params={"rule_id": rule_id})[0] == 200
    assert call("GET", RULES, None)[0] == 401


def test_unknown_rule_is_404_and_bad_if_match_400(accounts):
    params = {"rule_id": MISSING_RULE}
    body = {"name": "y", "actions": {"add_labels": ["y"]}}
    assert call("GET", RULE, agent(accounts), params=params)[0] == 404
    assert call("PUT", RULE, admin(accounts), params=params, body=body)[0] == 404
    assert call("DELETE", RULE, admin(accounts), params=params)[0] == 404
    status, answer = call(
        "PUT", RULE, admin(accounts), params=params, body=body, headers={"If-Match": "abc"}
    )
    assert status == 400
    assert answer["error"]["code"] == "invalid_request"


def test_stale_versions_are_409_for_order_and_412_for_if_match(accounts):
    rule_id = create_rule(accounts, name="a", actions={"add_labels": ["a"]})["rule"]["rule_id"]
    other = create_rule(accounts, name="b", actions={"add_labels": ["b"]})["rule"]["rule_id"]
    # an order decided on version 1 (before the second rule) is refused, naming the version
    status, answer = call("PUT", ORDER, admin(accounts), body={"rule_ids": [rule_id], "version": 1})
    assert status == 409
    assert answer["error"]["details"] == {"version": 2}
    status, answer = call(
        "PUT",
        RULE,
        admin(accounts),
        params={"rule_id": rule_id},
        body={"name": "a2", "actions": {"add_labels": ["a"]}},
        headers={"If-Match": "1"},
    )
    assert status == 412
    assert answer["error"]["details"] == {"version": 2}
    # nothing changed
    status, listed = call("GET", RULES, agent(accounts))
    assert [r["rule_id"] for r in listed["items"]] == [rule_id, other]
    assert listed["items"][0]["name"] == "a"


def test_invalid_rules_are_422_naming_the_field(accounts, repo):
    priority_field(accounts)
    # GIVEN set_fields values the definitions refuse, and a team that does not exist
    status, answer = call(
        "POST",
        RULES,
        admin(accounts),
        body={
            "name": "bad",
            "actions": {
                "assign": {"mode": "round_robin", "team_id": "ghosts"},
                "set_fields": {"priority": "urgent", "nope": 1},
            },
        },
    )
    # THEN one 422 names each
    assert status == 422
    fields = {e["field"] for e in answer["error"]["details"]["errors"]}
    assert fields == {"priority", "nope", "team_id"}
    # AND request validation: no action, an assign without its team, an unknown mode
    for actions in ({}, {"assign": {"mode": "team"}}, {"assign": {"mode": "x", "team_id": "t"}}):
        status, answer = call(
            "POST", RULES, admin(accounts), body={"name": "x", "actions": actions}
        )
        assert status == 422, actions
    # AND an agent assigned with a team they are not a member of
    directory(repo, accounts.workspace_id, "t1", {"ann": AgentStatus.AVAILABLE})
    directory(repo, accounts.workspace_id, "t2", {})
    status, answer = call(
        "POST",
        RULES,
        admin(accounts),
        body={
            "name": "x",
            "actions": {"assign": {"mode": "agent", "agent_id": "ann", "team_id": "t2"}},
        },
    )
    assert status == 422
    assert answer["error"]["details"]["errors"][0]["field"] == "agent_id"
    assert "not a member" in answer["error"]["details"]["errors"][0]["msg"]
    # AND a rule too large for its share of the rule set item
    huge = {
        "keywords": [f"k{i:02d}" + "x" * 96 for i in range(50)],
        "account_ids": ["a" * 128] * 20,
    }
    status, answer = call(
        "POST",
        RULES,
        admin(accounts),
        body={"name": "huge", "conditions": huge, "actions": {"add_labels": ["a"]}},
    )
    assert status == 422
    assert answer["error"]["details"]["errors"][0]["field"] == "rule"
    # AND an order that is not exactly the rules
    rule_id = create_rule(accounts, name="ok", actions={"add_labels": ["a"]})["rule"]["rule_id"]
    status, answer = call(
        "PUT", ORDER, admin(accounts), body={"rule_ids": [rule_id, MISSING_RULE], "version": 1}
    )
    assert status == 422
    assert "unknown" in answer["error"]["details"]["errors"][0]["msg"]
    status, listed = call("GET", RULES, agent(accounts))
    assert [r["rule_id"] for r in listed["items"]] == [rule_id]


def test_another_workspace_cannot_see_or_change_the_rules(accounts):
    rule_id = create_rule(accounts, name="mine", actions={"add_labels": ["a"]})["rule"]["rule_id"]
    foreign = {"sub": "admin-b", "custom:workspace_id": unique("ws-b-"), "cognito:groups": "admin"}
    params = {"rule_id": rule_id}
    assert call("GET", RULES, foreign)[1] == {"items": [], "version": 0}
    assert call("GET", RULE, foreign, params=params)[0] == 404
    body = {"name": "theirs", "actions": {"add_labels": ["b"]}}
    assert call("PUT", RULE, foreign, params=params, body=body)[0] == 404
    assert call("DELETE", RULE, foreign, params=params)[0] == 404
    status, _ = call("PUT", ORDER, foreign, body={"rule_ids": [rule_id], "version": 0})
    assert status == 422
    status, got = call("GET", RULE, agent(accounts), params=params)
    assert status == 200
    assert got["rule"]["name"] == "mine"


# ---------------------------------------------------------------------------- applied on create
def test_matching_rule_is_applied_in_the_creating_transaction(accounts, repo):
    # GIVEN rules: a LINE-only rule first, then a keyword rule assigning an agent of a team
    directory(repo, accounts.workspace_id, "billing", {"ann": AgentStatus.AVAILABLE})
    priority_field(accounts)
    create_rule(
        accounts, name="LINE", conditions={"channels": ["line"]}, actions={"add_labels": ["line"]}
    )
    create_rule(
        accounts,
        name="Refunds",
        conditions={"keywords": ["refund"], "channels": ["messenger"]},
        actions={
            "assign": {"mode": "agent", "agent_id": "ann", "team_id": "billing"},
            "add_labels": ["refund"],
            "set_fields": {"priority": "high"},
        },
    )
    # WHEN a customer asks for a REFUND, and another one says hello
    assert post_message(accounts, "psid-1", "I want a REFUND!") == "created"
    assert post_message(accounts, "psid-2", "hello, refunds?") == "created"
    # THEN the first ticket is assigned, labelled and has the field; the second is untouched
    ticket = open_ticket_of(repo, accounts, "psid-1")
    assert ticket.assignee.agent_id == "ann"
    assert ticket.assignee.team_id == "billing"
    assert ticket.labels == ["refund"]
    assert ticket.fields == {"priority": "high"}
    assert ticket.version == 1
    untouched = open_ticket_of(repo, accounts, "psid-2")
    assert (untouched.assignee.agent_id, untouched.assignee.team_id) == (None, None)
    assert untouched.labels == []
    # AND its history: created, then what automation did, in that order
    history = repo.list_history(accounts.workspace_id, ticket.ticket_id)
    assert [(e.event, e.actor) for e in history] == [
        ("created", "customer"),
        ("assigned", "automation"),
        ("labels_changed", "automation"),
        ("fields_changed", "automation"),
    ]
    assert history[1].detail == (
        "nobody → agent:ann team:billing (assigned by automation: Refunds)"
    )


def test_a_ticket_opened_by_hand_gets_the_rules_too(accounts, repo):
    # GIVEN a first ticket, closed, and then a channel rule assigning a team
    directory(repo, accounts.workspace_id, "sales", {"bob": AgentStatus.AVAILABLE})
    assert post_message(accounts, "psid-1", "hi") == "created"
    ticket = open_ticket_of(repo, accounts, "psid-1")
    assert (
        call(
            "POST",
            "/tickets/{ticket_id}/close",
            agent(accounts),
            params={"ticket_id": ticket.ticket_id},
        )[0]
        == 200
    )
    create_rule(
        accounts,
        name="Messenger to sales",
        conditions={"channels": ["messenger"], "account_ids": [accounts.page_id]},
        actions={"assign": {"mode": "team", "team_id": "sales"}},
    )
    # WHEN an agent opens a new ticket on the conversation
    status, opened = call(
        "POST", "/tickets", agent(accounts), body={"conversation_id": ticket.conversation_id}
    )
    # THEN it is the team's
    assert status == 201, opened
    assert opened["assignee"] == {"agent_id": None, "team_id": "sales"}
    stored = repo.get_ticket(accounts.workspace_id, opened["ticket_id"])
    assert stored.assignee.team_id == "sales"
    events = [
        (e.event, e.actor) for e in repo.list_history(accounts.workspace_id, stored.ticket_id)
    ]
    assert events == [("created", "agent-1"), ("assigned", "automation")]


def test_a_ticket_created_by_a_conversion_gets_the_rules_too(accounts, repo):
    # GIVEN a Messenger rule assigning the sales team
    from ticketing.services.conversion import join_or_open_ticket

    directory(repo, accounts.workspace_id, "sales", {"bob": AgentStatus.AVAILABLE})
    create_rule(
        accounts,
        name="Messenger to sales",
        conditions={"channels": ["messenger"]},
        actions={"assign": {"mode": "team", "team_id": "sales"}, "add_labels": ["social"]},
    )
    # WHEN a commenter's comment is converted (a new contact, conversation and ticket)
    result = join_or_open_ticket(
        repo,
        workspace_id=accounts.workspace_id,
        channel=Channel.MESSENGER,
        account_id=accounts.page_id,
        customer_id="fb-user:commenter-1",
        display_name="Commenter",
        source_kind="comment",
        source_id="cm_rules",
        actor="agent-1",
        now=utc_now(),
    )
    # THEN the new ticket is the team's, labelled, with the automation's history in order
    assert result.created
    stored = repo.get_ticket(accounts.workspace_id, result.ticket.ticket_id)
    assert stored.assignee.team_id == "sales"
    assert stored.labels == ["social"]
    events = [
        (e.event, e.actor) for e in repo.list_history(accounts.workspace_id, stored.ticket_id)
    ]
    assert events == [
        ("created", "agent-1"),
        ("assigned", "automation"),
        ("labels_changed", "automation"),
    ]


def test_cost_of_a_create_without_and_with_a_matching_rule(accounts, repo):
    # GIVEN a warm connection cache (a first ticket) and no rules
    directory(repo, accounts.workspace_id, "t", {"a1": AgentStatus.AVAILABLE})
    assert post_message(accounts, "psid-0", "warm") == "created"
    # WHEN a new customer writes with no rules  THEN the usual three round trips
    with CapacityMeter(dynamodb_client()) as plain:
        assert post_message(accounts, "psid-1", "hello") == "created"
    assert plain.operations == ["BatchGetItem", "UpdateItem", "TransactWriteItems"]
    # GIVEN a team-assigning rule and a round-robin rule
    create_rule(
        accounts,
        name="team",
        conditions={"keywords": ["team"]},
        actions={"assign": {"mode": "team", "team_id": "t"}, "add_labels": ["x"]},
    )
    create_rule(
        accounts,
        name="rr",
        conditions={"keywords": ["turn"]},
        actions={"assign": {"mode": "round_robin", "team_id": "t"}},
    )
    # WHEN a message matches none (first creation after the change reads the rules once)
    with CapacityMeter(dynamodb_client()) as first:
        assert post_message(accounts, "psid-2", "hello") == "created"
    with CapacityMeter(dynamodb_client()) as cached:
        assert post_message(accounts, "psid-3", "hello") == "created"
    with CapacityMeter(dynamodb_client()) as team:
        assert post_message(accounts, "psid-4", "team please") == "created"
    with CapacityMeter(dynamodb_client()) as turn:
        assert post_message(accounts, "psid-5", "my turn") == "created"
    with CapacityMeter(dynamodb_client()) as append:
        assert post_message(accounts, "psid-5", "again") == "appended"
    # THEN: one GetItem of the rules when their version is new to the container, nothing after
    assert first.operations == ["BatchGetItem", "UpdateItem", "GetItem", "TransactWriteItems"]
    assert cached.operations == plain.operations
    # a matching team rule: the same requests, a bigger transaction (+2 history events)
    assert team.operations == plain.operations
    (plain_tx,) = [r for r in plain.requests if r.operation == "TransactWriteItems"]
    (team_tx,) = [r for r in team.requests if r.operation == "TransactWriteItems"]
    assert team_tx.items == plain_tx.items + 2
    # round-robin: + the members Query, their agents' BatchGetItem and the team's turn counter
    assert turn.operations == [
        "BatchGetItem",
        "UpdateItem",
        "Query",
        "BatchGetItem",
        "UpdateItem",
        "TransactWriteItems",
    ]
    (turn_tx,) = [r for r in turn.requests if r.operation == "TransactWriteItems"]
    assert turn_tx.items == plain_tx.items + 2  # history + the membership check
    # and the append path is unchanged: two requests
    assert append.operations == ["BatchGetItem", "TransactWriteItems"]
    # AWS-rule units (bench.aws_units: Local does not add up a transaction's items)
    aws = {
        name: aws_units_of(m, repo)
        for name, m in (("plain", plain), ("first", first), ("team", team), ("turn", turn))
    }
    assert aws["team"][2] == aws["plain"][2] + 2 * 2  # 2 history Puts
    assert aws["turn"][2] == aws["plain"][2] + 1 + 2 * 2  # + counter; history + member check
    print("automation cost (requests, aws read units, aws write units):", aws)


def aws_units_of(meter: CapacityMeter, repo: Any) -> tuple[int, float, float]:
    def fetch(table: str, key: dict[str, Any]) -> Any:
        return repo.client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    reads = writes = 0.0
    for request in meter.requests:
        priced = aws_units.estimate(request, fetch, keys.INDEX_KEYS)
        reads += priced["read_units"]
        writes += priced["write_units"]
    return len(meter.requests), reads, writes


# ---------------------------------------------------------------------------- round-robin
@pytest.fixture
def wide_repo(dynamodb_local: str, table_name: str) -> DynamoTicketRepository:
    client = boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_local,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 8}),
    )
    return DynamoTicketRepository(client, table_name)


def customer_message(accounts: Any, psid: str, text: str) -> CustomerMessageReceived:
    return CustomerMessageReceived(
        channel=Channel.MESSENGER,
        account_id=accounts.page_id,
        customer_id=psid,
        channel_message_id=unique("mid-"),
        sent_at=utc_now() - timedelta(seconds=1),
        text=text,
    )


def test_round_robin_spreads_16_concurrent_creations_evenly(accounts, wide_repo):
    # GIVEN a team of four available agents and one away, and a round-robin rule
    repo = wide_repo
    available = {f"agent-{i}": AgentStatus.AVAILABLE for i in range(4)}
    directory(repo, accounts.workspace_id, "support", {**available, "zed": AgentStatus.AWAY})
    create_rule(
        accounts,
        name="Support rota",
        actions={"assign": {"mode": "round_robin", "team_id": "support"}},
    )
    barrier = threading.Barrier(16)
    results: list[Any] = []
    errors: list[BaseException] = []

    def create(i: int) -> None:
        command = customer_message(accounts, f"psid-rr-{i}", "hello")
        barrier.wait()
        try:
            results.append(ingest_customer_message(repo, accounts.workspace_id, command, utc_now()))
        except BaseException as exc:
            errors.append(exc)

    # WHEN 16 customers write at once, each on their own conversation
    threads = [threading.Thread(target=create, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN 16 tickets, each assigned to one of the four: exactly four each, none to the away one
    assert errors == []
    assert sorted(r.outcome for r in results) == ["created"] * 16
    stored = [repo.get_ticket(accounts.workspace_id, r.ticket_id) for r in results]
    counts: dict[str | None, int] = {}
    for ticket in stored:
        assert ticket.assignee.team_id == "support"
        counts[ticket.assignee.agent_id] = counts.get(ticket.assignee.agent_id, 0) + 1
    assert counts == dict.fromkeys(available, 4)
    # AND the team's turn counter moved once per ticket
    counter = repo.client.get_item(
        TableName=repo.table_name,
        Key=to_dynamo(keys.round_robin_key(accounts.workspace_id, "support")),
    )["Item"]
    assert counter["rr_turn"] == {"N": "16"}


class StaleMembers(DynamoAutomationStore):
    """Answers the first members read with a list that still holds a removed agent."""

    def __init__(self, repo: DynamoTicketRepository, stale: list[str]) -> None:
        super().__init__(repo)
        self.stale: list[str] | None = stale

    def available_members(self, workspace_id: str, team_id: str) -> list[str]:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return super().available_members(workspace_id, team_id)


def test_a_member_removed_after_the_pick_fails_the_create_and_the_turn_is_taken_again(
    accounts, repo
):
    # GIVEN a round-robin team whose member "a" was removed after the members were read
    directory(
        repo, accounts.workspace_id, "t", {"a": AgentStatus.AVAILABLE, "b": AgentStatus.AVAILABLE}
    )
    create_rule(accounts, name="rota", actions={"assign": {"mode": "round_robin", "team_id": "t"}})
    assert repo.remove_team_member(accounts.workspace_id, "t", "a")
    store = StaleMembers(repo, ["a"])  # turn 1 of ["a"] → "a"
    # WHEN a ticket is created
    result = ingest_customer_message(
        repo,
        accounts.workspace_id,
        customer_message(accounts, "psid-x", "hello"),
        utc_now(),
        automation=store,
    )
    # THEN the transaction refused "a" (nothing half-written), and the next turn named "b"
    assert result.outcome == "created"
    ticket = repo.get_ticket(accounts.workspace_id, result.ticket_id)
    assert (ticket.assignee.agent_id, ticket.assignee.team_id) == ("b", "t")
    history = repo.list_history(accounts.workspace_id, ticket.ticket_id)
    assert [e.event for e in history] == ["created", "assigned"]
    assert "agent:b team:t" in (history[1].detail or "")


def test_contact_attribute_rules_read_the_contact_only_when_asked(accounts, repo):
    # GIVEN a rule on the contact's name, and reopening switched off
    repo.put_workspace(
        WorkspaceSettings(workspace_id=accounts.workspace_id, reopen_window_seconds=None)
    )
    create_rule(
        accounts,
        name="VIPs",
        conditions={"contact": [{"attribute": "display_name", "contains": "vip"}]},
        actions={"add_labels": ["vip"]},
    )
    ws = accounts.workspace_id

    def write(psid: str, name: str | None) -> Any:
        command = customer_message(accounts, psid, "hello").model_copy(
            update={"customer_name": name}
        )
        return ingest_customer_message(repo, ws, command, utc_now())

    # WHEN a new customer named "Ann (VIP)" and one named "Bob" write
    ann = write("psid-ann", "Ann (VIP)")
    bob = write("psid-bob", "Bob")
    # THEN only Ann's ticket is labelled
    assert repo.get_ticket(ws, ann.ticket_id).labels == ["vip"]
    assert repo.get_ticket(ws, bob.ticket_id).labels == []
    # WHEN Ann's ticket is closed and she writes again (a new ticket on a known conversation:
    # the contact is read from the store)
    assert (
        call(
            "POST",
            "/tickets/{ticket_id}/close",
            agent(accounts),
            params={"ticket_id": ann.ticket_id},
        )[0]
        == 200
    )
    again = write("psid-ann", None)
    # THEN the new ticket is labelled too
    assert again.outcome == "created"
    assert again.ticket_id != ann.ticket_id
    assert repo.get_ticket(ws, again.ticket_id).labels == ["vip"]


def test_concurrent_rule_creations_are_all_kept(accounts, repo):
    # GIVEN eight admins creating a rule each at the same moment (services, from threads)
    who = Principal(agent_id="admin-1", workspace_id=accounts.workspace_id, groups={"admin"})
    store = DynamoAutomationStore(repo)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def create(i: int) -> None:
        command = CreateRuleCommand.model_validate(
            {"name": f"rule {i}", "actions": {"add_labels": [f"l{i}"]}}
        )
        barrier.wait()
        try:
            automation_service.create_rule(store, repo, who, command, now=utc_now())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every rule is in the set, once, and the version counts eight changes
    assert errors == []
    rule_set = store.get_rule_set(accounts.workspace_id, consistent=True)
    assert sorted(r.name for r in rule_set.rules) == sorted(f"rule {i}" for i in range(8))
    assert rule_set.version == 8
