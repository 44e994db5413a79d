"""local/plumbing.py on DynamoDB Local: table stream → Pipe → bus → rule → SQS → function, built
from a template (a small one written here, and the real template.yaml)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local import server as local_server
from local.auth import mint_token
from local.event_patterns import matches
from local.server import LocalApiServer, serve
from local.template import Handler, create_tables, load_handler, load_template, parse_template
from tests.helpers import FakeLambdaContext, unique
from tests.integration.plumbing_functions import app as functions

pytestmark = pytest.mark.integration

TEMPLATE = parse_template(
    """
Parameters:
  Stage: {Type: String, Default: test}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: !Sub 'plumbing-${Stage}'}
  PipeDeadLetters:
    Type: AWS::SQS::Queue
  Pipe:
    Type: AWS::Pipes::Pipe
    Properties:
      Name: !Sub 'plumbing-pipe-${Stage}'
      Source: !GetAtt Table.StreamArn
      SourceParameters:
        DynamoDBStreamParameters:
          StartingPosition: LATEST
          BatchSize: 10
          MaximumRetryAttempts: 2
          DeadLetterConfig: {Arn: !GetAtt PipeDeadLetters.Arn}
        FilterCriteria:
          Filters:
            - Pattern: >-
                {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": ["outbox"]}}}}
      Target: !GetAtt Bus.Arn
      TargetParameters:
        EventBridgeEventBusParameters: {Source: test.plumbing, DetailType: ThingHappened}
        InputTemplate: >-
          {"id": "<$.dynamodb.NewImage.id.S>", "kind": "<$.dynamodb.NewImage.kind.S>",
          "fail": <$.dynamodb.NewImage.fail.BOOL>, "text": "said: <$.dynamodb.NewImage.text.S>",
          "tags": <$.dynamodb.NewImage.tags.SS>, "pipe": "<aws.pipes.pipe-name>"}
  BrokenPipe:
    Type: AWS::Pipes::Pipe
    Properties:
      Source: !GetAtt Table.StreamArn
      SourceParameters:
        DynamoDBStreamParameters:
          StartingPosition: LATEST
          MaximumRetryAttempts: 0
          DeadLetterConfig: {Arn: !GetAtt PipeDeadLetters.Arn}
        FilterCriteria:
          Filters:
            - Pattern: '{"dynamodb": {"NewImage": {"type": {"S": ["broken"]}}}}'
      Target: !GetAtt Bus.Arn
      TargetParameters:
        EventBridgeEventBusParameters: {Source: test.plumbing, DetailType: Broken}
        InputTemplate: '{"id": <$.dynamodb.NewImage.id.S>'
  WorkDeadLetters:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub 'plumbing-work-dlq-${Stage}'}
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub 'plumbing-work-${Stage}'
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDeadLetters.Arn
        maxReceiveCount: 2
  Route:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern:
        source: [test.plumbing]
        detail-type: [ThingHappened]
        detail:
          kind: [{prefix: work}]
      Targets:
        - {Id: work, Arn: !GetAtt Work.Arn}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tests/integration/plumbing_functions/
      Handler: app.handler
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  Watcher:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tests/integration/plumbing_functions/
      Handler: app.stream_handler
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: LATEST
            BatchSize: 100
            FilterCriteria:
              Filters:
                - Pattern: '{"dynamodb": {"NewImage": {"type": {"S": ["note"]}}}}'
  FlakyDeadLetters:
    Type: AWS::SQS::Queue
  Flaky:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tests/integration/plumbing_functions/
      Handler: app.flaky_handler
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: LATEST
            BatchSize: 10
            MaximumRetryAttempts: 1
            BisectBatchOnFunctionError: true
            DestinationConfig:
              OnFailure: {Type: SQS, Destination: !GetAtt FlakyDeadLetters.Arn}
            FilterCriteria:
              Filters:
                - Pattern: '{"dynamodb": {"NewImage": {"type": {"S": ["flaky"]}}}}'
"""
)


def wait_until(check: Callable[[], Any], timeout: float = 15, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


def get_json(server: LocalApiServer, path: str) -> Any:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def local_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("local-") and t.is_alive()]


@pytest.fixture
def calls() -> Iterator[None]:
    for recorded in (functions.CALLS, functions.STREAM_CALLS, functions.FLAKY_CALLS):
        recorded.clear()
    yield
    for recorded in (functions.CALLS, functions.STREAM_CALLS, functions.FLAKY_CALLS):
        recorded.clear()


@pytest.fixture
def plumbed(app_env: None, ddb_client: Any, calls: None) -> Iterator[tuple[LocalApiServer, str]]:
    """The test template's server with its plumbing over a fresh table; stopped afterwards."""
    table = unique("plumbing-")
    create_tables(ddb_client, TEMPLATE, {"Table": table})
    server, thread = serve(0, template=TEMPLATE, plumbing={"Table": table})
    yield server, table
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def put(ddb_client: Any, table: str, **attributes: Any) -> None:
    ddb_client.put_item(
        TableName=table, Item={"pk": {"S": unique("pk-")}, "sk": {"S": "item"}, **attributes}
    )


def outbox_item(thing_id: str, kind: str, *, fail: bool = False) -> dict[str, Any]:
    return {
        "type": {"S": "outbox"},
        "id": {"S": thing_id},
        "kind": {"S": kind},
        "fail": {"BOOL": fail},
        "text": {"S": 'a "quoted" word'},
        "tags": {"SS": ["a", "b"]},
    }


def bodies(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(record, parsed body) of every SQS record the handler got."""
    return [(r, json.loads(r["body"])) for event in events for r in event["Records"]]


# ---------------------------------------------------------------------------- the test template
def test_stream_item_becomes_a_bus_event_routed_to_the_queue_and_handler(plumbed, ddb_client):
    server, table = plumbed
    plumbing = server.plumbing
    assert plumbing is not None
    # WHEN an outbox item, an item the pipe filters out and one the rule does not route are written
    put(ddb_client, table, **outbox_item("t-1", "work-a"))
    put(ddb_client, table, type={"S": "ticket"}, id={"S": "t-2"}, kind={"S": "work-b"})
    put(ddb_client, table, **outbox_item("t-3", "audit"))
    # THEN the bus has one event per outbox item, with the pipe's source/detail type and the
    # InputTemplate rendered (string placeholders as text, escaped; others as JSON)
    events = wait_until(lambda: len(plumbing.events()) >= 2 and plumbing.events(), what="events")
    time.sleep(0.5)  # nothing else is coming
    assert [e["detail"]["id"] for e in plumbing.events()] == ["t-1", "t-3"]
    first = events[0]
    assert first["source"] == "test.plumbing"
    assert first["detail-type"] == "ThingHappened"
    assert first["detail"] == {
        "id": "t-1",
        "kind": "work-a",
        "fail": False,
        "text": 'said: a "quoted" word',
        "tags": ["a", "b"],
        "pipe": "plumbing-pipe-test",
    }
    # AND GET /_local/events answers the same, filtered by detail type
    listed = get_json(server, "/_local/events?detail_type=ThingHappened&limit=10")["events"]
    assert [e["detail"]["id"] for e in listed] == ["t-1", "t-3"]
    assert get_json(server, "/_local/events?detail_type=Other")["events"] == []
    # AND only the routed one reached the handler, once, as an SQS event of the Work queue
    wait_until(lambda: functions.CALLS, what="the handler")
    time.sleep(0.5)
    ((record, body),) = bodies(functions.CALLS)
    assert body["detail"]["id"] == "t-1"
    assert body["id"] == first["id"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == plumbing.queues["Work"].arn
    assert record["eventSourceARN"].endswith(":plumbing-work-test")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    # AND the message was deleted (the handler reported no failure)
    queues = {q["logical_id"]: q for q in get_json(server, "/_local/queues")["queues"]}
    assert queues["Work"]["visible"] == queues["Work"]["in_flight"] == 0
    assert queues["WorkDeadLetters"]["messages"] == []


def test_events_posted_to_the_local_bus_reach_the_subscribed_handler(plumbed):
    server, _ = plumbed
    entry = {
        "Source": "test.plumbing",
        "DetailType": "ThingHappened",
        "Detail": json.dumps({"id": "posted-1", "kind": "work-posted"}),
        "EventBusName": "plumbing-test",
    }
    request = urllib.request.Request(  # noqa: S310
        f"{server.url}/_local/events",
        data=json.dumps({"Entries": [entry]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        answer = json.loads(response.read())
    assert answer["FailedEntryCount"] == 0
    wait_until(lambda: functions.CALLS, what="the handler")
    ((_, body),) = bodies(functions.CALLS)
    assert body["id"] == answer["Entries"][0]["EventId"]
    assert body["detail"] == {"id": "posted-1", "kind": "work-posted"}


def test_a_reported_failure_is_retried_then_moved_to_the_dlq(plumbed, ddb_client):
    server, table = plumbed
    # WHEN one item succeeds and another fails in its handler, every time
    put(ddb_client, table, **outbox_item("ok-1", "work-ok"))
    put(ddb_client, table, **outbox_item("bad-1", "work-bad", fail=True))

    def in_dlq() -> list[dict[str, Any]]:
        queues = {q["logical_id"]: q for q in get_json(server, "/_local/queues")["queues"]}
        return list(queues["WorkDeadLetters"]["messages"])

    # THEN after maxReceiveCount (2) receives the failing one lands in the DLQ
    (dead,) = wait_until(in_dlq, timeout=20, what="the DLQ")
    assert dead["body"]["detail"]["id"] == "bad-1"
    assert dead["receive_count"] == 2
    # AND the handler saw the failing message exactly twice (receive counts 1, 2) and the good
    # one exactly once: only the reported id was retried
    seen = [
        (b["detail"]["id"], r["attributes"]["ApproximateReceiveCount"])
        for r, b in bodies(functions.CALLS)
    ]
    assert sorted(seen) == [("bad-1", "1"), ("bad-1", "2"), ("ok-1", "1")]
    queues = {q["logical_id"]: q for q in get_json(server, "/_local/queues")["queues"]}
    assert queues["Work"]["visible"] + queues["Work"]["in_flight"] == 0
    assert queues["Work"]["redrive"] == {
        "dead_letter_queue": "WorkDeadLetters",
        "max_receive_count": 2,
    }


def test_dynamodb_function_event_gets_its_filtered_records(plumbed, ddb_client):
    _, table = plumbed
    put(
        ddb_client,
        table,
        type={"S": "note"},
        id={"S": "n-1"},
        nested={"M": {"empty": {"M": {}}, "list": {"L": [{"M": {}}]}}},
        blob={"B": b"xx"},
    )
    put(ddb_client, table, **outbox_item("t-9", "audit"))
    wait_until(lambda: functions.STREAM_CALLS, what="the stream handler")
    time.sleep(0.5)
    records = [r for event in functions.STREAM_CALLS for r in event["Records"]]
    assert [r["dynamodb"]["NewImage"]["id"]["S"] for r in records] == ["n-1"]
    (record,) = records
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"].split("/")[1] == table
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    # AND the image is typed as Lambda gets it: empty maps kept (DynamoDB Local's stream says
    # {} for them), binary as base64
    image = record["dynamodb"]["NewImage"]
    assert image["nested"] == {"M": {"empty": {"M": {}}, "list": {"L": [{"M": {}}]}}}
    assert image["blob"] == {"B": "eHg="}


def test_a_failing_stream_batch_is_bisected_retried_then_sent_to_its_dlq(plumbed, ddb_client):
    server, table = plumbed
    plumbing = server.plumbing
    assert plumbing is not None
    # WHEN a good and a poison record arrive in one batch (one transaction: one stream read)
    ddb_client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": unique("pk-")},
                        "sk": {"S": "i"},
                        "type": {"S": "flaky"},
                        "id": {"S": id_},
                        **extra,
                    },
                }
            }
            for id_, extra in (("good", {}), ("bad", {"poison": {"BOOL": True}}))
        ]
    )
    dlq = plumbing.queues["FlakyDeadLetters"]
    (dead,) = wait_until(dlq.messages, timeout=20, what="the stream DLQ")
    # THEN the poison record ends in the OnFailure queue, with the batch info, after 1 retry
    body = json.loads(dead.body)
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    assert body["DDBStreamBatchInfo"]["streamArn"].split("/")[1] == table
    assert [r["dynamodb"]["NewImage"]["id"]["S"] for r in body["records"]] == ["bad"]
    # AND the good one was delivered on its own once the batch was split
    batches = [
        [r["dynamodb"]["NewImage"]["id"]["S"] for r in e["Records"]] for e in functions.FLAKY_CALLS
    ]
    assert batches[0] == ["good", "bad"]
    assert ["good"] in batches[1:]
    assert batches.count(["bad"]) == 2  # the first try and MaximumRetryAttempts (1)


def test_a_pipe_whose_template_gives_no_json_object_sends_the_record_to_its_dlq(
    plumbed, ddb_client
):
    server, table = plumbed
    plumbing = server.plumbing
    assert plumbing is not None
    put(ddb_client, table, type={"S": "broken"}, id={"S": "b-1"})
    (dead,) = wait_until(plumbing.queues["PipeDeadLetters"].messages, what="the pipe's DLQ")
    body = json.loads(dead.body)
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert [r["dynamodb"]["NewImage"]["id"]["S"] for r in body["records"]] == ["b-1"]
    assert plumbing.events(detail_type="Broken") == []


def test_stopping_the_server_leaves_no_plumbing_thread(app_env, ddb_client, calls):
    table = unique("plumbing-")
    create_tables(ddb_client, TEMPLATE, {"Table": table})
    before = set(local_threads())
    server, thread = serve(0, template=TEMPLATE, plumbing={"Table": table})
    assert server.plumbing is not None
    started = set(local_threads()) - before
    # one per stream consumer (pipe, function), one per SQS source, one for async invocations
    assert len(started) >= 4
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    assert not [t for t in started if t.is_alive()]


# ---------------------------------------------------------------------------- the real template
def test_a_reply_through_the_real_template_comes_out_on_the_bus(
    app_env, accounts, repo, table_name, monkeypatch
):
    """template.yaml as it is: an agent's reply (POST /tickets/{id}/messages on the local server)
    → table stream → OutboxPipe → bus, the detail rendered from the stored outbox item; and every
    rule of the template that matches the event delivers it to its queue's function."""
    from functions.webhook_ingest.app import lambda_handler as ingest
    from ticketing.services.ingest import conversation_id_for

    template = load_template()
    api_code = {route.code_uri for route in local_server.api_routes(template)}
    consumed: list[tuple[str, Any]] = []

    def load(code_uri: str, handler: str) -> Handler:
        # the API handlers run for real; the event consumers (senders, projections: whatever the
        # template declares) are recorded instead, so nothing leaves this machine
        if code_uri in api_code:
            return load_handler(code_uri, handler)

        def record(event: Any, context: Any) -> dict[str, Any]:
            consumed.append((code_uri, event))
            return {"batchItemFailures": []}

        return record

    monkeypatch.setattr(local_server, "load_handler", load)
    # GIVEN a customer's ticket
    psid = unique("psid-")
    now_ms = int(time.time() * 1000)  # the reply must be within the channel's messaging window
    event = accounts.messenger(
        accounts.messenger_message(unique("mid-"), "hello", psid=psid, ts=now_ms)
    )
    assert ingest(event, FakeLambdaContext())["statusCode"] == 200
    conversation = repo.get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, psid)
    )
    ticket_id = conversation.open_ticket_id
    server, thread = serve(0, template=template, plumbing={"TicketTable": table_name})
    try:
        plumbing = server.plumbing
        assert plumbing is not None
        assert any(c.name == "pipe OutboxPipe" for c in plumbing.consumers)
        # WHEN the agent replies through the local API
        request = urllib.request.Request(  # noqa: S310
            f"{server.url}/tickets/{ticket_id}/messages",
            data=json.dumps({"text": 'Hi "there"', "client_message_id": "c-1"}).encode(),
            headers={
                "Authorization": f"Bearer {mint_token('agent-1', accounts.workspace_id)}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status, message = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, message = error.code, json.loads(error.read())
        assert status == 201, message

        # THEN the OutboundMessageRequested event is on the bus, its detail the stored item's
        def mine() -> list[dict[str, Any]]:
            listed = get_json(server, "/_local/events?detail_type=OutboundMessageRequested")
            return [
                e for e in listed["events"] if e["detail"]["workspace_id"] == accounts.workspace_id
            ]

        (bus_event,) = wait_until(mine, what="the outbox event")
        (stored,) = repo.list_outbox(accounts.workspace_id, 10, None).items
        assert bus_event["source"] == "ticket-engine"
        detail = bus_event["detail"]
        assert detail["idempotency_key"] == stored.idempotency_key == message["message_id"]
        expected = stored.detail.model_dump(mode="json")
        for key, value in detail.items():  # every field the pipe's InputTemplate renders
            if key != "idempotency_key":  # a missing attribute renders as "" inside quotes
                assert value == ("" if expected.get(key) is None else expected[key]), key
        assert detail["text"] == 'Hi "there"'
        assert detail["ticket_id"] == ticket_id
        assert detail["customer_id"] == psid
        # AND every rule of the template matching it delivered it to its queues' functions
        routed = {
            s.function.code_uri
            for rule in plumbing.rules
            if rule.bus == "EventBus" and matches(rule.pattern, bus_event)
            for target in rule.targets
            if target.kind == "queue"
            for s in plumbing.sqs_sources
            if s.queue.logical_id == target.logical_id
        }
        for code_uri in routed:
            wait_until(
                lambda code_uri=code_uri: [
                    e for c, e in consumed
                    if c == code_uri
                    and any(json.loads(r["body"])["id"] == bus_event["id"] for r in e["Records"])
                ],
                what=f"{code_uri} to get the event",
            )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
