"""Ticket events → analytics on DynamoDB Local.

Real ticket changes (customer messages, replies, closes, reopens, spam) are read back from the
table's stream, rendered by the template's own pipe InputTemplates into bus events, wrapped as
the rule → SQS delivery, and handed to the analytics handler. Then: applying every event again, or
all of them shuffled and duplicated on fresh counters, gives the same counters and ticket metrics;
the summary reads only counters (its capacity does not grow with the number of tickets); the
route validates its range and never shows another workspace's numbers.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.meter import CapacityMeter
from functions.ticket_analytics.app import lambda_handler as analytics_handler
from functions.ticket_api.app import lambda_handler as ticket_api
from local.template import load_template
from tests.helpers import Accounts, FakeLambdaContext, StreamTail, api_get, unique
from ticketing import analytics as rules
from ticketing.models import Channel, CustomerMessageReceived, TicketStatus, WorkspaceSettings
from ticketing.models.events import EVENT_SOURCE, MESSAGE_IN, MESSAGE_OUT, TicketEvent
from ticketing.models.replies import ReplyCommand
from ticketing.repository import keys
from ticketing.repository.analytics import TICKET_METRIC_ATTRIBUTES, AnalyticsRepository
from ticketing.repository.dynamodb import from_dynamo, to_dynamo
from ticketing.services import analytics, replies, tickets
from ticketing.services.ingest import ingest_customer_message

pytestmark = pytest.mark.integration

TEMPLATE = load_template()
PIPES = [
    TEMPLATE["Resources"][name]["Properties"] for name in ("TicketHistoryPipe", "TicketMessagePipe")
]
T0 = datetime(2026, 4, 1, 22, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- plumbing
def render(template: str, record: dict[str, Any]) -> Any:
    """Pipes' rendering of the `"<$.path.S>"` placeholders (strings, JSON-escaped)."""

    def value(match: re.Match[str]) -> str:
        node: Any = record
        for part in match[1].split("."):
            node = node[part]
        return json.dumps(node)

    return json.loads(re.sub(r'"<\$\.([\w.]+)>"', value, template))


def bus_events(stream: StreamTail, workspace_id: str) -> list[dict[str, Any]]:
    """The stream's new records through each pipe's filter and template: the bus events."""
    out = []
    for record in stream.read():
        image = record["dynamodb"].get("NewImage", {})
        if image.get("workspace_id", {}).get("S") != workspace_id:
            continue
        for pipe in PIPES:
            (only,) = pipe["SourceParameters"]["FilterCriteria"]["Filters"]
            pattern = json.loads(only["Pattern"])
            wanted = pattern["dynamodb"]["NewImage"]["type"]["S"]
            if record["eventName"] in pattern["eventName"] and image["type"]["S"] in wanted:
                target = pipe["TargetParameters"]
                out.append(
                    {
                        "version": "0",
                        "id": unique("ev-"),
                        "source": target["EventBridgeEventBusParameters"]["Source"],
                        "detail-type": target["EventBridgeEventBusParameters"]["DetailType"],
                        "detail": render(target["InputTemplate"], record),
                    }
                )
    return out


def deliver(events: list[dict[str, Any]], batch: int = 10) -> None:
    """As the rule → SQS → Lambda delivery does: SQS records whose body is the bus event."""
    for start in range(0, len(events), batch):
        records = [
            {
                "messageId": f"m{start + i}",
                "receiptHandle": "r",
                "body": json.dumps(event),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ticket-engine-analytics",
                "awsRegion": "us-east-1",
            }
            for i, event in enumerate(events[start : start + batch])
        ]
        answer = analytics_handler({"Records": records}, FakeLambdaContext())
        assert answer == {"batchItemFailures": []}, answer


def customer_writes(repo: Any, acc: Accounts, psid: str, now: datetime) -> str:
    command = CustomerMessageReceived(
        channel=Channel.MESSENGER,
        account_id=acc.page_id,
        customer_id=psid,
        channel_message_id=unique("mid-"),
        sent_at=now - timedelta(seconds=1),
        text="hello",
    )
    result = ingest_customer_message(repo, acc.workspace_id, command, now)
    assert result.ticket_id
    return result.ticket_id


def agent_replies(repo: Any, acc: Accounts, ticket_id: str, now: datetime) -> None:
    command = ReplyCommand(text="On it", client_message_id=unique("ui-"))
    replies.reply(repo, acc.workspace_id, ticket_id, command, agent_id="agent-1", now=now)


def snapshot(repo: Any, workspace_id: str, ticket_ids: list[str]) -> dict[str, Any]:
    """Every counter and metric the consumer owns, as stored."""
    client, table = repo.client, repo.table_name
    days = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=to_dynamo({":pk": keys.analytics_partition(workspace_id)}),
        ConsistentRead=True,
    )["Items"]
    metrics = {}
    for ticket_id in ticket_ids:
        item = client.get_item(
            TableName=table,
            Key=to_dynamo(keys.ticket_key(workspace_id, ticket_id)),
            ConsistentRead=True,
        )["Item"]
        plain = from_dynamo(item)
        metrics[ticket_id] = {k: plain.get(k) for k in TICKET_METRIC_ATTRIBUTES}
    # a counter moved and moved back (a first response replaced) reads 0: the same as absent
    counters = [{k: v for k, v in from_dynamo(i).items() if v != 0} for i in days]
    return {"counters": sorted(counters, key=str), "tickets": metrics}


def forget_analytics(repo: Any, workspace_id: str, ticket_ids: list[str], keys_seen: list[str]):
    """Back to no analytics at all: counters, markers and the tickets' metrics removed."""
    client, table = repo.client, repo.table_name
    for item in client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=to_dynamo({":pk": keys.analytics_partition(workspace_id)}),
    )["Items"]:
        client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    for key in keys_seen:
        client.delete_item(
            TableName=table, Key=to_dynamo(keys.analytics_marker_key(workspace_id, key))
        )
    for ticket_id in ticket_ids:
        client.update_item(
            TableName=table,
            Key=to_dynamo(keys.ticket_key(workspace_id, ticket_id)),
            UpdateExpression="REMOVE " + ", ".join(TICKET_METRIC_ATTRIBUTES),
        )


@pytest.fixture
def workspace(accounts: Any, repo: Any, ddb_client: Any, table_name: str) -> dict[str, Any]:
    """A workspace's life over two days, and the bus events it produced (from the stream).

    A: created 22:00, replies at +90 s and +2 h, closed, reopened by an agent, closed again.
    B: created 22:10, marked spam. C: created 23:30, reply after midnight (+40 min), stays open.
    D: created 23:50, no reply, stays open.
    """
    acc = accounts
    stream = StreamTail(ddb_client, table_name)
    a = customer_writes(repo, acc, unique("psid-"), T0)
    agent_replies(repo, acc, a, T0 + timedelta(seconds=90))
    agent_replies(repo, acc, a, T0 + timedelta(hours=2))
    b = customer_writes(repo, acc, unique("psid-"), T0 + timedelta(minutes=10))
    tickets.mark_spam(repo, acc.workspace_id, b, actor="agent-1", now=T0 + timedelta(minutes=11))
    c = customer_writes(repo, acc, unique("psid-"), T0 + timedelta(minutes=90))
    d = customer_writes(repo, acc, unique("psid-"), T0 + timedelta(minutes=110))
    agent_replies(repo, acc, c, T0 + timedelta(minutes=130))
    close = {"actor": "agent-1"}
    tickets.close_ticket(repo, acc.workspace_id, a, now=T0 + timedelta(hours=3), **close)
    tickets.reopen_ticket(repo, acc.workspace_id, a, now=T0 + timedelta(hours=4), **close)
    tickets.close_ticket(repo, acc.workspace_id, a, now=T0 + timedelta(hours=5), **close)
    events = bus_events(stream, acc.workspace_id)
    return {"acc": acc, "tickets": {"a": a, "b": b, "c": c, "d": d}, "events": events}


# ---------------------------------------------------------------------------- the consumer
def test_every_change_is_an_event_and_the_counters_add_up(workspace, repo):
    # GIVEN the bus events of the workspace's changes
    events = workspace["events"]
    ws = workspace["acc"].workspace_id
    t = workspace["tickets"]
    kinds = sorted((e["detail-type"], e["detail"].get("event", "")) for e in events)
    # THEN each change is one event with a unique idempotency key, all of one source
    assert {e["source"] for e in events} == {EVENT_SOURCE}
    assert len({e["detail"]["idempotency_key"] for e in events}) == len(events)
    assert kinds.count(("TicketChanged", "created")) == 4
    assert kinds.count(("TicketChanged", "closed")) == 2
    assert kinds.count(("TicketChanged", "reopened")) == 1
    assert kinds.count(("TicketChanged", "marked_spam")) == 1
    assert kinds.count(("TicketMessageAdded", "")) == 4 + 3  # 4 customer messages, 3 replies

    # WHEN the consumer gets them
    deliver(events)

    # THEN the days count what happened on them (UTC)
    summary = analytics.summary(AnalyticsRepository(repo), ws, T0.date(), T0.date() + timedelta(1))
    first, second = summary.days
    assert (first.created, first.closed, first.spam, first.messages_in) == (4, 0, 1, 4)
    assert (second.created, second.closed, second.reopened) == (0, 2, 1)
    assert (first.messages_out, second.messages_out) == (1, 2)
    # open now: C and D (A closed again, B spam)
    assert summary.open_now == 2
    # first responses: A after 90 s (day 1); C after 40 min, at 00:10 (day 2)
    assert (first.first_responses, second.first_responses) == (1, 1)
    assert first.median_first_response_seconds == pytest.approx(90, rel=0.091)
    assert second.median_first_response_seconds == pytest.approx(2400, rel=0.091)
    assert summary.median_first_response_seconds == pytest.approx((90 + 2400) / 2, rel=0.091)
    # AND the tickets hold their own metrics next to the counters their writes keep
    a = tickets.get_ticket(repo, ws, t["a"])
    assert (a.first_response_seconds, a.resolution_seconds) == (90, 5 * 3600)
    assert (a.reopen_count, a.messages_in, a.messages_out) == (1, 1, 2)
    c = tickets.get_ticket(repo, ws, t["c"])
    assert (c.first_response_seconds, c.resolution_seconds) == (40 * 60, None)
    d = tickets.get_ticket(repo, ws, t["d"])
    assert (d.first_response_seconds, d.resolution_seconds) == (None, None)


def test_duplicates_and_any_order_give_the_same_counters_and_metrics(workspace, repo):
    # GIVEN the counters after every event was applied once, in order
    ws = workspace["acc"].workspace_id
    ticket_ids = list(workspace["tickets"].values())
    events = workspace["events"]
    deliver(events)
    once = snapshot(repo, ws, ticket_ids)

    # WHEN every event is delivered again
    deliver(events)
    # THEN nothing moves
    assert snapshot(repo, ws, ticket_ids) == once

    # WHEN, from no analytics at all, the events come shuffled and each two or three times
    keys_seen = [e["detail"]["idempotency_key"] for e in events]
    for seed in (1, 2):
        forget_analytics(repo, ws, ticket_ids, keys_seen)
        shuffled = [e for e in events for _ in range(2 + seed % 2)]
        random.Random(seed).shuffle(shuffled)
        deliver(shuffled, batch=7)
        # THEN the counters and the metrics are exactly those of one in-order delivery
        assert snapshot(repo, ws, ticket_ids) == once


def test_a_later_reply_seen_first_is_replaced_by_the_earlier_one(workspace, repo):
    # GIVEN ticket A's two replies, the later one delivered first
    ws = workspace["acc"].workspace_id
    a = workspace["tickets"]["a"]
    replies_of_a = [
        e
        for e in workspace["events"]
        if e["detail"].get("direction") == "outbound" and e["detail"]["ticket_id"] == a
    ]
    early, late = sorted(replies_of_a, key=lambda e: e["detail"]["received_at"])
    deliver([late])
    assert tickets.get_ticket(repo, ws, a).first_response_seconds == 2 * 3600
    # WHEN the earlier reply arrives
    deliver([early])
    # THEN the ticket's first response is the earlier one, and the day's histogram holds one
    assert tickets.get_ticket(repo, ws, a).first_response_seconds == 90
    counters = AnalyticsRepository(repo).day_counters(ws, "2026-04-01", "2026-04-02")
    histogram = {k: v for day in counters.values() for k, v in day.items() if k[:4] == "frb_"}
    assert {k: v for k, v in histogram.items() if v} == {
        rules.bucket_attribute(rules.bucket_of(90)): 1
    }


def test_an_event_of_an_unknown_ticket_counts_nothing(app_env, repo):
    ws = unique("ws-")
    event = TicketEvent(
        idempotency_key="k1", workspace_id=ws, ticket_id="tk_nope", event="created", at=T0
    )
    assert analytics.apply_event(AnalyticsRepository(repo), event, T0) is None
    assert AnalyticsRepository(repo).day_counters(ws, "2026-01-01", "2026-12-31") == {}


def test_a_record_that_is_not_a_ticket_event_fails_alone(app_env):
    # GIVEN a batch of a malformed record and a record of an unknown ticket
    good = {
        "detail-type": "TicketChanged",
        "source": EVENT_SOURCE,
        "detail": {
            "idempotency_key": "k",
            "workspace_id": unique("ws-"),
            "ticket_id": "tk_x",
            "event": "created",
            "actor": "customer",
            "at": "2026-04-01T00:00:00Z",
        },
    }
    records = [
        {"messageId": "bad", "body": "{not json", "receiptHandle": "r", "attributes": {}},
        {"messageId": "ok", "body": json.dumps(good), "receiptHandle": "r", "attributes": {}},
    ]
    for record in records:
        record |= {"eventSource": "aws:sqs", "messageAttributes": {}, "md5OfBody": ""}
    # WHEN handled
    answer = analytics_handler({"Records": records}, FakeLambdaContext())
    # THEN only the malformed one is reported failed (SQS retries it, then dead-letters it)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


# ---------------------------------------------------------------------------- the summary
def seed_counters(repo: Any, acc: Accounts, count: int) -> None:
    """`count` tickets created on T0's day, their created events applied."""
    analytics_repo = AnalyticsRepository(repo)
    for i in range(count):
        at = T0 - timedelta(hours=3, minutes=i)
        ticket_id = customer_writes(repo, acc, unique("psid-"), at)
        event = TicketEvent(
            idempotency_key=unique("k-"),
            workspace_id=acc.workspace_id,
            ticket_id=ticket_id,
            event="created",
            at=at,
        )
        assert analytics.apply_event(analytics_repo, event, at) == "applied"


def new_workspace(repo: Any) -> Accounts:
    from local import demo
    from ticketing.models import ChannelConnection

    acc = Accounts(workspace_id=unique("ws-"), page_id=unique("page-"), line_bot_id=unique("U"))
    repo.put_workspace(WorkspaceSettings(workspace_id=acc.workspace_id))
    repo.put_connection(
        ChannelConnection(
            channel=Channel.MESSENGER,
            account_id=acc.page_id,
            workspace_id=acc.workspace_id,
            secret_ref=demo.SECRET_REFS["messenger"],
        )
    )
    return acc


def test_the_summary_costs_the_same_for_3_or_60_tickets(app_env, repo):
    # GIVEN two workspaces whose tickets were all created on the same day: 3 and 60 of them
    small, large = new_workspace(repo), new_workspace(repo)
    seed_counters(repo, small, 3)
    seed_counters(repo, large, 60)
    analytics_repo = AnalyticsRepository(repo)
    costs = {}
    for name, acc in (("small", small), ("large", large)):
        # WHEN each one's 92-day summary is read, metered
        with CapacityMeter(repo.client) as meter:
            result = analytics.summary(
                analytics_repo, acc.workspace_id, T0.date() - timedelta(91), T0.date()
            )
        costs[name] = [(r.operation, r.items, r.read_units) for r in meter.requests]
        assert result.days[-1].created == (3 if name == "small" else 60)
        assert result.open_now == (3 if name == "small" else 60)
    # THEN it is one GetItem (open now) and one Query (the days), at the same cost
    assert costs["small"] == costs["large"]
    assert [c[0] for c in costs["small"]] == ["Query", "GetItem"]
    assert sum(c[2] for c in costs["small"]) <= 1.0


def summary_request(claims: dict[str, str] | None, query: dict[str, str]) -> dict[str, Any]:
    event = api_get("/analytics/summary", "/analytics/summary", claims=claims, query=query)
    response = ticket_api(event, FakeLambdaContext())
    return {"status": response["statusCode"], "body": json.loads(response["body"])}


def test_the_summary_route_answers_the_callers_workspace_only(app_env, repo):
    # GIVEN two workspaces, only one with tickets
    busy, quiet = new_workspace(repo), new_workspace(repo)
    seed_counters(repo, busy, 2)
    day = T0.date().isoformat()
    # WHEN each asks for the same day
    mine = summary_request(busy.claims(), {"from": day, "to": day})
    theirs = summary_request(quiet.claims(), {"from": day, "to": day})
    # THEN each sees its own numbers only
    assert mine["status"] == 200, mine
    assert mine["body"]["workspace_id"] == busy.workspace_id
    assert mine["body"]["open_now"] == 2
    assert mine["body"]["days"] == [
        {
            "date": day,
            "created": 2,
            "closed": 0,
            "reopened": 0,
            "spam": 0,
            "messages_in": 0,
            "messages_out": 0,
            "first_responses": 0,
            "median_first_response_seconds": None,
        }
    ]
    assert mine["body"]["totals"]["created"] == 2
    assert theirs["status"] == 200
    assert (theirs["body"]["open_now"], theirs["body"]["totals"]["created"]) == (0, 0)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"from": "2026-04-02", "to": "2026-04-01"}, 400, "invalid_request"),
        ({"from": "2025-12-31", "to": "2026-04-02"}, 400, "invalid_request"),  # 92 + 1 days
        ({"from": "2026-04-01"}, 422, "validation_error"),
        ({"from": "2026-04-01", "to": "April 2"}, 422, "validation_error"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, 422, "validation_error"),
    ],
)
def test_the_summary_route_validates_its_range(app_env, query, status, code):
    answer = summary_request({"sub": "agent-1", "custom:workspace_id": unique("ws-")}, query)
    assert (answer["status"], answer["body"]["error"]["code"]) == (status, code), answer


def test_the_longest_range_is_accepted_and_credentials_are_required(app_env):
    claims = {"sub": "agent-1", "custom:workspace_id": unique("ws-")}
    ok = summary_request(claims, {"from": "2026-01-01", "to": "2026-04-02"})  # 92 days
    assert ok["status"] == 200
    assert len(ok["body"]["days"]) == rules.MAX_SUMMARY_DAYS
    assert summary_request(None, {"from": "2026-04-01", "to": "2026-04-01"})["status"] == 401


def test_open_now_is_never_negative_in_the_answer(app_env, repo):
    # GIVEN an open-now counter that went below zero (never expected; clamped if ever)
    acc = new_workspace(repo)
    repo.client.put_item(
        TableName=repo.table_name,
        Item=to_dynamo({**keys.analytics_open_key(acc.workspace_id), "open_count": -1}),
    )
    day = T0.date().isoformat()
    assert summary_request(acc.claims(), {"from": day, "to": day})["body"]["open_now"] == 0
    assert TicketStatus.OPEN  # (the status the counter follows)


def test_the_sqs_sample_is_the_generated_one_and_the_consumer_takes_it(app_env):
    from local import analytics_samples
    from tests.helpers import EVENTS

    # GIVEN events/ticket_analytics/sqs_batch.json (sam local invoke's sample)
    sample = json.loads((EVENTS / "ticket_analytics" / "sqs_batch.json").read_text())
    # THEN it is what the code generates, and the consumer handles every record of it
    assert sample == analytics_samples.sqs_batch()
    assert analytics_handler(sample, FakeLambdaContext()) == {"batchItemFailures": []}


# ---------------------------------------------------------------------------- cost per event
def priced(meter: CapacityMeter, ddb_client: Any) -> list[tuple[str, float, float, list[str]]]:
    """(operation, AWS-rule read units, write units, "<kind> <record>: units" per item)."""
    from bench import aws_units

    def fetch(table: str, key: dict[str, Any]) -> Any:
        return ddb_client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    out = []
    for request in meter.requests:
        estimate = aws_units.estimate(request, fetch, keys.INDEX_KEYS)
        parts = [
            f"{p['kind']} {p['key'].rpartition(' | ')[2].split('#')[0]}: "
            + " ".join(f"{t}={u:g}" for t, u in sorted(p["units"].items()))
            for p in estimate["parts"]
            if "units" in p
        ]
        out.append((request.operation, estimate["read_units"], estimate["write_units"], parts))
    return out


def test_what_each_event_costs(app_env, repo, ddb_client):
    # GIVEN a new ticket and its events, applied one at a time, metered
    acc = new_workspace(repo)
    ticket_id = customer_writes(repo, acc, unique("psid-"), T0)
    analytics_repo = AnalyticsRepository(repo)
    costs = {}
    for name, at in (
        ("created", T0),
        (MESSAGE_IN, T0),
        (MESSAGE_OUT, T0 + timedelta(minutes=2)),
        ("assigned", T0 + timedelta(minutes=3)),
    ):
        event = TicketEvent(
            idempotency_key=unique("k-"),
            workspace_id=acc.workspace_id,
            ticket_id=ticket_id,
            event=name,
            at=at,
        )
        with CapacityMeter(repo.client) as meter:
            outcome = analytics.apply_event(analytics_repo, event, at)
        costs[name] = (outcome, priced(meter, ddb_client))
        with CapacityMeter(repo.client) as meter:  # the same event again
            outcome = analytics.apply_event(analytics_repo, event, at)
        costs[name + " again"] = (outcome, priced(meter, ddb_client))
    # THEN each is one consistent GetItem of the ticket (1 RCU) and at most one transaction,
    # priced by AWS's rules (2 WCU per item-KB; the ticket item has no index entry to rewrite)
    read = ("GetItem", 1.0, 0.0, [])
    marker, day = "Put ANALYTICS: table=2", "Update DAY: table=2"
    ticket = "Update TICKET: table=2"
    assert costs == {
        "created": (
            "applied",
            [
                read,
                (
                    "TransactWriteItems",
                    0.0,
                    8.0,
                    [marker, day, "Update OPEN_NOW: table=2", ticket],
                ),
            ],
        ),
        # a redelivery: its marker exists, the transaction is cancelled, nothing moves
        "created again": ("duplicate", [read, ("TransactWriteItems", 0.0, 4.0, [marker, day])]),
        MESSAGE_IN: ("applied", [read, ("TransactWriteItems", 0.0, 4.0, [marker, day])]),
        MESSAGE_IN + " again": (
            "duplicate",
            [read, ("TransactWriteItems", 0.0, 4.0, [marker, day])],
        ),
        # the first response: the ticket's metrics and the day's histogram
        MESSAGE_OUT: ("applied", [read, ("TransactWriteItems", 0.0, 6.0, [marker, day, ticket])]),
        MESSAGE_OUT + " again": (
            "duplicate",
            [read, ("TransactWriteItems", 0.0, 4.0, [marker, day])],
        ),
        # nothing to count: the read only, not even a marker
        "assigned": ("unchanged", [read]),
        "assigned again": ("unchanged", [read]),
    }


# ---------------------------------------------------------------------------- races
def test_a_reconciliation_read_before_a_status_change_is_decided_again(app_env, repo):
    # GIVEN an open ticket read by the consumer (not counted yet)...
    acc = new_workspace(repo)
    ticket_id = customer_writes(repo, acc, unique("psid-"), T0)
    analytics_repo = AnalyticsRepository(repo)
    event = TicketEvent(
        idempotency_key=unique("k-"),
        workspace_id=acc.workspace_id,
        ticket_id=ticket_id,
        event=MESSAGE_IN,
        at=T0,
    )
    stale = analytics_repo.ticket_state(acc.workspace_id, ticket_id)
    assert stale is not None
    # ...then closed before the consumer writes
    tickets.close_ticket(repo, acc.workspace_id, ticket_id, actor="agent-1", now=T0)
    # WHEN the write planned from the stale read is tried
    outcome = analytics_repo.apply(analytics.plan(event, stale, T0))
    # THEN it is refused (the status moved), and the event decided again counts no open ticket
    assert outcome == "ticket_changed"
    assert analytics.apply_event(analytics_repo, event, T0) == "applied"
    assert analytics_repo.open_now(acc.workspace_id) == 0
    assert analytics_repo.day_counters(acc.workspace_id, "2026-04-01", "2026-04-01") == {
        "2026-04-01": {"messages_in": 1}
    }


def test_concurrent_consumers_with_duplicates_count_each_event_once(workspace, repo):
    from concurrent.futures import ThreadPoolExecutor

    # GIVEN the counters after one in-order delivery
    ws = workspace["acc"].workspace_id
    ticket_ids = list(workspace["tickets"].values())
    events = workspace["events"]
    deliver(events)
    once = snapshot(repo, ws, ticket_ids)
    forget_analytics(repo, ws, ticket_ids, [e["detail"]["idempotency_key"] for e in events])
    # WHEN 8 consumers apply every event three times, shuffled, at once
    copies = [e for e in events for _ in range(3)]
    random.Random(7).shuffle(copies)
    analytics_repo = AnalyticsRepository(repo)

    def apply(raw: dict[str, Any]) -> Any:
        from ticketing.models.events import ticket_event

        return analytics.apply_event(
            analytics_repo, ticket_event(raw["detail-type"], raw["detail"]), T0
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(apply, copies))
    # THEN each event was applied once (or had nothing to count), and the counters are the same
    assert outcomes.count("applied") + outcomes.count("unchanged") >= len(events)
    assert outcomes.count("applied") <= len(events)
    assert snapshot(repo, ws, ticket_ids) == once
