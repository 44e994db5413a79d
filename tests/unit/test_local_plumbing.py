"""local/event_patterns.py and the pure parts of local/plumbing.py: EventBridge pattern matching,
Pipes/EventBridge input templates, SQS queue semantics, the SQS event source's batch handling and
what is built from template.yaml. No sockets: nothing here starts a thread or a client."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.event_patterns import PatternError, matches, parse_pattern
from local.plumbing import LocalQueue, Plumbing, Target, json_path, render_template
from local.template import load_template, parse_template

EVENT = {
    "source": "ticket-engine",
    "detail-type": "OutboundMessageRequested",
    "resources": ["arn:a", "arn:b"],
    "detail": {
        "channel": "messenger",
        "count": 5,
        "ratio": 0.5,
        "urgent": True,
        "note": None,
        "labels": ["vip", "refund"],
        "ip": "10.0.0.7",
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 9}],
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({}, True),
        ({"source": ["ticket-engine"]}, True),
        ({"source": ["other", "ticket-engine"]}, True),
        ({"source": ["other"]}, False),
        ({"source": ["Ticket-Engine"]}, False),
        ({"detail": {"count": [5.0]}}, True),  # numbers compare as numbers
        ({"detail": {"count": ["5"]}}, False),  # a string is not a number
        ({"detail": {"urgent": [True]}}, True),
        ({"detail": {"urgent": [1]}}, False),
        ({"detail": {"note": [None]}}, True),
        ({"detail": {"missing": [None]}}, False),  # null is not absence
        ({"detail": {"labels": ["refund"]}}, True),  # any element of an array
        ({"detail": {"labels": ["other"]}}, False),
        ({"resources": ["arn:b"]}, True),
        ({"detail": {"items": {"sku": ["B-2"]}}}, True),  # objects inside an array
        ({"detail": {"items": {"sku": ["C-3"]}}}, False),
        ({"detail": {"channel": {"nested": ["x"]}}}, False),
        ({"detail": {"channel": [{"prefix": "mess"}]}}, True),
        ({"detail": {"channel": [{"prefix": "line"}]}}, False),
        ({"detail": {"channel": [{"prefix": {"equals-ignore-case": "MESS"}}]}}, True),
        ({"detail": {"channel": [{"suffix": "nger"}]}}, True),
        ({"detail": {"channel": [{"suffix": {"equals-ignore-case": "NGER"}}]}}, True),
        ({"detail": {"channel": [{"suffix": "line"}]}}, False),
        ({"detail": {"channel": [{"equals-ignore-case": "MESSENGER"}]}}, True),
        ({"detail": {"channel": [{"wildcard": "m*ng*r"}]}}, True),
        ({"detail": {"channel": [{"wildcard": "m*x"}]}}, False),
        ({"detail": {"channel": [{"anything-but": "line"}]}}, True),
        ({"detail": {"channel": [{"anything-but": ["line", "messenger"]}]}}, False),
        ({"detail": {"channel": [{"anything-but": {"prefix": "mess"}}]}}, False),
        ({"detail": {"channel": [{"anything-but": {"prefix": "li"}}]}}, True),
        ({"detail": {"channel": [{"anything-but": {"suffix": "er"}}]}}, False),
        ({"detail": {"count": [{"anything-but": [5]}]}}, False),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # needs the field
        ({"detail": {"channel": [{"exists": True}]}}, True),
        ({"detail": {"missing": [{"exists": True}]}}, False),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"channel": [{"exists": False}]}}, False),
        ({"detail": {"count": [{"numeric": [">", 4]}]}}, True),
        ({"detail": {"count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
        ({"detail": {"count": [{"numeric": [">", 0, "<", 5]}]}}, False),
        ({"detail": {"ratio": [{"numeric": ["=", 0.5]}]}}, True),
        ({"detail": {"channel": [{"numeric": [">", 0]}]}}, False),  # not a number
        ({"detail": {"urgent": [{"numeric": [">", 0]}]}}, False),  # booleans are not numbers
        ({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, True),
        ({"detail": {"ip": [{"cidr": "10.0.1.0/24"}]}}, False),
        ({"detail": {"channel": ["line"], "count": [5]}}, False),  # every field must match
        ({"$or": [{"source": ["x"]}, {"detail": {"count": [5]}}]}, True),
        ({"$or": [{"source": ["x"]}, {"detail": {"count": [6]}}]}, False),
    ],
)
def test_pattern_operators(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": "ticket-engine"},  # leaves are arrays
        {"source": [{"no-such-operator": "x"}]},
        {"source": [{"prefix": "a", "suffix": "b"}]},
        {"detail": {"count": [{"numeric": ["~", 1]}]}},
    ],
)
def test_unsupported_patterns_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(PatternError):
        matches(pattern, EVENT)


def test_patterns_are_read_from_json_text_or_objects() -> None:
    assert parse_pattern('{"source": ["a"]}') == {"source": ["a"]}
    assert parse_pattern({"source": ["a"]}) == {"source": ["a"]}
    assert parse_pattern(None) == {}
    with pytest.raises(PatternError):
        parse_pattern("[1]")


def _record(event_name: str, image: dict[str, Any]) -> dict[str, Any]:
    return {"eventName": event_name, "dynamodb": {"NewImage": image}}


def test_the_outbox_pipe_filter_keeps_only_inserted_outbox_items() -> None:
    pipe = load_template()["Resources"]["OutboxPipe"]["Properties"]
    (spec,) = pipe["SourceParameters"]["FilterCriteria"]["Filters"]
    pattern = parse_pattern(spec["Pattern"])
    image = {"type": {"S": "outbox"}, "detail_type": {"S": "OutboundMessageRequested"}}
    assert matches(pattern, _record("INSERT", image))
    assert not matches(pattern, _record("MODIFY", image))
    assert not matches(pattern, _record("INSERT", {**image, "type": {"S": "ticket"}}))
    assert not matches(pattern, _record("INSERT", {"type": {"S": "outbox"}}))


# ---------------------------------------------------------------------------- input templates
RECORD = {
    "dynamodb": {
        "NewImage": {
            "text": {"S": 'say "hi"\n'},
            "n": {"N": "3"},
            "flag": {"BOOL": True},
            "tags": {"SS": ["a", "b"]},
            "list": {"L": [{"S": "x"}, {"S": "y"}]},
        }
    }
}


def _lookup(path: str) -> tuple[bool, Any]:
    return json_path(RECORD, path)


def test_json_path_reads_fields_and_indices() -> None:
    assert json_path(RECORD, "$.dynamodb.NewImage.n.N") == (True, "3")
    assert json_path(RECORD, "$.dynamodb.NewImage.list.L[1].S") == (True, "y")
    assert json_path(RECORD, "$.dynamodb.NewImage.list.L[5].S") == (False, None)
    assert json_path(RECORD, "$.dynamodb.Missing") == (False, None)
    assert json_path(RECORD, "$") == (True, RECORD)


def test_placeholders_in_strings_are_text_and_elsewhere_json() -> None:
    rendered = render_template(
        '{"text": "<$.dynamodb.NewImage.text.S>", "n": <$.dynamodb.NewImage.n.N>, '
        '"flag": <$.dynamodb.NewImage.flag.BOOL>, "tags": <$.dynamodb.NewImage.tags.SS>, '
        '"in_text": "tags: <$.dynamodb.NewImage.tags.SS>", "gone": <$.dynamodb.NewImage.x.S>, '
        '"gone_text": "[<$.dynamodb.NewImage.x.S>]", "lt": "a < b", '
        '"esc": "q\\"<$.dynamodb.NewImage.n.N>"}',
        _lookup,
    )
    assert json.loads(rendered) == {
        "text": 'say "hi"\n',
        "n": "3",
        "flag": True,
        "tags": ["a", "b"],
        "in_text": 'tags: ["a", "b"]',
        "gone": None,
        "gone_text": "[]",
        "lt": "a < b",
        "esc": 'q"3',
    }


def test_rule_target_input_options() -> None:
    event = {"detail": {"id": "t-1", "n": 2}, "source": "s"}
    assert Target("queue", "Q").payload(event) == event
    assert Target("queue", "Q", input='{"fixed": 1}').payload(event) == {"fixed": 1}
    assert Target("queue", "Q", input_path="$.detail").payload(event) == event["detail"]
    transformer = {
        "InputPathsMap": {"id": "$.detail.id", "n": "$.detail.n"},
        "InputTemplate": '{"ticket": "<id>", "n": <n>}',
    }
    assert Target("queue", "Q", input_transformer=transformer).payload(event) == {
        "ticket": "t-1",
        "n": 2,
    }


# ---------------------------------------------------------------------------- queues
def test_queue_hides_received_messages_and_redrives_after_max_receive_count() -> None:
    dlq = LocalQueue("Dlq", "dlq", "us-east-1")
    work = LocalQueue(
        "Work", "work", "us-east-1", visibility_timeout=0.05, max_receive_count=2, dead_letter=dlq
    )
    work.send("one")
    (first,) = work.receive(10)
    assert (first.body, first.receive_count) == ("one", 1)
    assert work.receive(10) == []  # in flight
    time.sleep(0.06)
    (second,) = work.receive(10)
    assert second.receive_count == 2
    time.sleep(0.06)
    assert work.receive(10) == []  # received twice, not deleted: moved to the DLQ
    assert work.messages() == []
    (dead,) = dlq.messages()
    assert (dead.body, dead.receive_count) == ("one", 2)
    assert work.describe(with_messages=False)["redrive"] == {
        "dead_letter_queue": "Dlq",
        "max_receive_count": 2,
    }


def test_deleted_messages_are_gone_and_batches_are_capped() -> None:
    work = LocalQueue("Work", "work", "us-east-1")
    for n in range(5):
        work.send(str(n))
    batch = work.receive(3)
    assert [m.body for m in batch] == ["0", "1", "2"]
    assert work.delete(batch[0].receipt_handle or "")
    assert not work.delete("unknown")
    described = work.describe(with_messages=True)
    assert (described["visible"], described["in_flight"]) == (2, 2)
    assert [m["body"] for m in described["messages"]] == [1, 2, 3, 4]  # JSON bodies parsed


# ---------------------------------------------------------------------------- SQS event source
SQS_TEMPLATE = parse_template(
    """
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 0}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: app.handler
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"keep": [true]}}'
"""
)


def _plumbing(answer: Any) -> tuple[Plumbing, list[Any]]:
    calls: list[Any] = []

    def invoke(target: Any, event: Any) -> Any:
        calls.append((target.function_id, event))
        if isinstance(answer, Exception):
            raise answer
        return answer(event) if callable(answer) else answer

    return Plumbing(SQS_TEMPLATE, invoke, table_names={}), calls


def test_sqs_source_deletes_all_but_the_reported_failures() -> None:
    plumbing, calls = _plumbing(
        lambda event: {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    )
    (source,) = plumbing.sqs_sources
    for n in range(2):
        source.queue.send(json.dumps({"keep": True, "n": n}))
    assert plumbing.poll_sqs(source)
    ((function_id, event),) = calls
    assert function_id == "Worker"
    assert [json.loads(r["body"])["n"] for r in event["Records"]] == [0, 1]
    assert {r["eventSource"] for r in event["Records"]} == {"aws:sqs"}
    assert [json.loads(m.body)["n"] for m in source.queue.messages()] == [1]


@pytest.mark.parametrize(
    "answer",
    [
        {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{}]},
        RuntimeError("handler failed"),
    ],
)
def test_a_malformed_report_or_an_error_fails_the_whole_batch(answer: Any) -> None:
    plumbing, calls = _plumbing(answer)
    (source,) = plumbing.sqs_sources
    for n in range(2):
        source.queue.send(json.dumps({"keep": True, "n": n}))
    assert plumbing.poll_sqs(source)
    assert len(calls) == 1
    assert len(source.queue.messages()) == 2


def test_sqs_source_filters_drop_messages_without_invoking() -> None:
    plumbing, calls = _plumbing({"batchItemFailures": []})
    (source,) = plumbing.sqs_sources
    source.queue.send(json.dumps({"keep": False}))
    source.queue.send("not json")
    assert plumbing.poll_sqs(source)
    assert calls == []
    assert source.queue.messages() == []  # Lambda deletes what its filters drop
    assert not plumbing.poll_sqs(source)  # nothing left to receive


# ---------------------------------------------------------------------------- the real template
def test_everything_the_template_declares_is_wired() -> None:
    template = load_template()
    resources = template["Resources"]
    plumbing = Plumbing(template, lambda target, event: None, table_names={"TicketTable": "t"})

    def of(type_: str) -> set[str]:
        return {logical_id for logical_id, r in resources.items() if r["Type"] == type_}

    assert set(plumbing.queues) == of("AWS::SQS::Queue")
    assert set(plumbing.buses) == of("AWS::Events::EventBus") | {"default"}
    assert "OutboxPipe" in of("AWS::Pipes::Pipe")
    assert {c.name for c in plumbing.consumers} >= {f"pipe {p}" for p in of("AWS::Pipes::Pipe")}
    outbox = next(c for c in plumbing.consumers if c.name == "pipe OutboxPipe")
    assert (outbox.table_id, outbox.starting_position, outbox.batch_size) == (
        "TicketTable",
        "LATEST",
        10,
    )
    assert outbox.dead_letter is plumbing.queues["OutboxPipeDeadLetterQueue"]
    rules = {r.logical_id for r in plumbing.rules}
    assert rules >= {
        logical_id
        for logical_id in of("AWS::Events::Rule")
        if "EventPattern" in resources[logical_id]["Properties"]
    }
    sqs_events = [
        (function_id, event_id)
        for function_id in of("AWS::Serverless::Function")
        for event_id, event in (resources[function_id]["Properties"].get("Events") or {}).items()
        if event["Type"] == "SQS"
    ]
    assert sorted((s.function.function_id, s.event_id) for s in plumbing.sqs_sources) == sorted(
        sqs_events
    )


# ---------------------------------------------------------------------------- buses and rules
BUS_TEMPLATE = parse_template(
    """
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: app-bus}
  Picked:
    Type: AWS::SQS::Queue
  Other:
    Type: AWS::SQS::Queue
  ToPicked:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern: '{"detail": {"n": [{"numeric": [">", 1]}]}}'
      Targets: [{Id: picked, Arn: !GetAtt Picked.Arn, InputPath: $.detail}]
  Disabled:
    Type: AWS::Events::Rule
    Properties:
      State: DISABLED
      EventBusName: !Ref Bus
      EventPattern: {source: [app]}
      Targets: [{Id: other, Arn: !GetAtt Other.Arn}]
  OnDefaultBus:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [app]}
      Targets: [{Id: other, Arn: !GetAtt Other.Arn}]
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Handler: app.handler
      Events:
        OnBus:
          Type: EventBridgeRule
          Properties: {EventBusName: app-bus, Pattern: {detail-type: [Thing]}}
"""
)


def test_events_go_to_the_matching_enabled_rules_of_their_bus() -> None:
    plumbing = Plumbing(BUS_TEMPLATE, lambda target, event: None, table_names={})
    entries: list[dict[str, Any]] = [
        {"Source": "app", "DetailType": "Thing", "Detail": '{"n": 2}', "EventBusName": "app-bus"},
        {
            "Source": "app",
            "DetailType": "Thing",
            "Detail": '{"n": 1}',
            "EventBusName": {"Ref": "Bus"},
        },
        {"Source": "app", "DetailType": "Other", "Detail": '{"n": 3}'},  # the default bus
    ]
    ids = plumbing.put_events(entries)
    assert len(set(ids)) == 3
    # the numeric rule took n=2 only, its InputPath as the body
    assert [json.loads(m.body) for m in plumbing.queues["Picked"].messages()] == [{"n": 2}]
    # the disabled rule took nothing; the default bus's rule took the default bus's event
    (other,) = plumbing.queues["Other"].messages()
    assert json.loads(other.body)["detail"] == {"n": 3}
    assert json.loads(other.body)["id"] == ids[2]
    # the SAM EventBridgeRule event queued both Thing events for an asynchronous invocation
    assert plumbing._async.qsize() == 2
    # the events are kept per bus, in put order, filterable
    assert [e["detail"]["n"] for e in plumbing.events()] == [2, 1, 3]
    assert [e["detail"]["n"] for e in plumbing.events(bus="app-bus")] == [2, 1]
    assert [e["detail"]["n"] for e in plumbing.events(detail_type="Other")] == [3]
    assert [e["detail"]["n"] for e in plumbing.events(limit=1)] == [3]
    assert plumbing.events(source="nobody") == []
    first = plumbing.events()[0]
    assert set(first) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }


def test_local_http_routes() -> None:
    plumbing = Plumbing(BUS_TEMPLATE, lambda target, event: None, table_names={})
    plumbing.put_events([{"Source": "app", "DetailType": "Thing", "Detail": "{}"}])
    status, body = plumbing.handle_http("GET", "/_local/events/", "detail_type=Thing&limit=5")
    assert (status, len(body["events"])) == (200, 1)
    assert plumbing.handle_http("GET", "/_local/events", "limit=0")[0] == 400
    status, body = plumbing.handle_http("GET", "/_local/queues", "")
    assert {q["logical_id"] for q in body["queues"]} == {"Picked", "Other"}
    entries = {
        "Entries": [
            {"Source": "app", "DetailType": "Thing", "Detail": {"n": 5}, "EventBusName": "app-bus"}
        ]
    }
    status, body = plumbing.handle_http("POST", "/_local/events", "", json.dumps(entries).encode())
    assert status == 200
    assert body["FailedEntryCount"] == 0
    assert [e["id"] for e in plumbing.events(bus="app-bus")][-1] == body["Entries"][0]["EventId"]
    assert [json.loads(m.body) for m in plumbing.queues["Picked"].messages()] == [{"n": 5}]
    for bad in (
        b"[]",
        b"{}",
        b'{"Entries": [{"Source": "a"}]}',
        b'{"Entries": [{"Source": "a", "DetailType": "b", "Detail": "[1]"}]}',
        b"not json",
    ):
        assert plumbing.handle_http("POST", "/_local/events", "", bad)[0] == 400, bad
    assert plumbing.handle_http("PUT", "/_local/events", "") is None
    assert plumbing.handle_http("GET", "/tickets", "") is None
