"""The template's event plumbing in process: table streams → Pipes → buses → rules → SQS → Lambda.

Built from template.yaml at startup, whatever it declares (nothing here names a resource):

- **Streams.** DynamoDB Local implements DynamoDB Streams: each consumer of a table's stream (an
  ``AWS::Pipes::Pipe`` whose Source is ``!GetAtt <Table>.StreamArn``, or a function's ``DynamoDB``
  event) polls every shard on its own (StartingPosition for the shards open at start, then
  TRIM_HORIZON for new ones), keeps the records its FilterCriteria match (Lambda/Pipes record
  shape: ``eventName``, ``dynamodb.NewImage``, ...) and delivers up to BatchSize at a time. A failed
  delivery is retried (MaximumRetryAttempts; -1 = until it succeeds), then sent to the
  DeadLetterConfig / OnFailure queue if there is one.
- **Pipes** render ``TargetParameters.InputTemplate`` per record (``<$.dynamodb.NewImage...>``
  JSONPath placeholders: inside a JSON string the value is inserted as text, outside it as JSON;
  ``<aws.pipes.*>`` reserved variables) and put the result on their target: a bus (with
  ``EventBridgeEventBusParameters`` Source/DetailType), a queue or a function.
- **Buses** (``AWS::Events::EventBus`` plus ``default``) keep their last events
  (``GET /_local/events``) and deliver each to the targets of every enabled ``AWS::Events::Rule``
  (and SAM ``EventBridgeRule``/``CloudWatchEvent`` function events) whose pattern matches
  (local/event_patterns.py): SQS queues, functions (asynchronously) or other buses; with the
  target's Input / InputPath / InputTransformer.
- **Queues** (``AWS::SQS::Queue``): visibility timeout, receive count, RedrivePolicy (moved to the
  DLQ when received maxReceiveCount times without being deleted). A function's ``SQS`` event polls
  its queue and invokes the handler with real-shaped SQS events (BatchSize, FilterCriteria,
  ``ReportBatchItemFailures``: only the reported ids stay on the queue). ``GET /_local/queues``.

Functions are invoked through the server's own machinery (``LocalApiServer.invoke``: one call per
function at a time). One thread per stream consumer and per SQS event source, one for
asynchronous invocations; ``stop()`` joins them all. Each delivery is logged in one line.
Not emulated: FIFO ordering/deduplication, enrichment steps, Pipes with a queue as source,
message retention, ``AWS::Lambda::EventSourceMapping`` resources.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import boto3

from local.event_patterns import matches, parse_pattern
from local.template import FunctionRef, Invocable, function_properties, function_ref

logger = logging.getLogger("local.plumbing")

ACCOUNT_ID = "123456789012"
DEFAULT_BUS = "default"
EVENTS_KEPT = 1000
EVENTS_PATH = "/_local/events"
QUEUES_PATH = "/_local/queues"
POLL_SECONDS = 0.2
RETRY_SECONDS = 1.0
SQS_DEFAULT_VISIBILITY = 30
SQS_DEFAULT_BATCH = 10
DDB_DEFAULT_BATCH = 100

Invoke = Callable[[Invocable, Any], Any]


# -- template references ---------------------------------------------------------------------


def referenced_id(value: Any) -> str | None:
    """The logical id behind ``!Ref X``, ``!GetAtt X.Attr`` or ``!Sub "${X.Arn}"``; else None."""
    if isinstance(value, Mapping):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            found = re.fullmatch(r"\$\{([A-Za-z0-9]+)(\.[A-Za-z]+)?\}", value["Fn::Sub"])
            return found[1] if found else None
    return None


def resolve_text(template: Mapping[str, Any], value: Any, region: str) -> str | None:
    """A literal, a Parameter's Default, or a ``!Sub`` of those (and pseudo parameters)."""
    if isinstance(value, str | int | float):
        return str(value)
    parameters = template.get("Parameters", {})
    pseudo = {"AWS::Region": region, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws"}
    if isinstance(value, Mapping) and "Ref" in value:
        name = value["Ref"]
        return pseudo.get(name) or (
            str(parameters[name]["Default"]) if "Default" in parameters.get(name, {}) else None
        )
    if isinstance(value, Mapping) and isinstance(value.get("Fn::Sub"), str):

        def substitute(found: re.Match[str]) -> str:
            name = found[1]
            return resolve_text(template, {"Ref": name}, region) or found[0]

        return re.sub(r"\$\{([^}.]+)\}", substitute, value["Fn::Sub"])
    return None


def _resources(template: Mapping[str, Any], type_: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == type_:
            yield logical_id, resource.get("Properties", {}) or {}


def _function_events(
    template: Mapping[str, Any], types: tuple[str, ...]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for function_id, _ in _resources(template, "AWS::Serverless::Function"):
        events = function_properties(template, function_id).get("Events", {}) or {}
        for event_id, event in events.items():
            if event.get("Type") in types:
                yield function_id, event_id, event.get("Properties", {}) or {}


def _filters(filter_criteria: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [parse_pattern(f.get("Pattern")) for f in (filter_criteria or {}).get("Filters", [])]


def _passes(filters: list[dict[str, Any]], document: Any) -> bool:
    """Lambda/Pipes filtering: no filter keeps everything, else any filter must match."""
    return not filters or any(matches(pattern, document) for pattern in filters)


# -- input templates -------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def json_path(document: Any, path: str) -> tuple[bool, Any]:
    """``$.a.b[0].c`` in ``document``: (found, value)."""
    if path == "$":
        return True, document
    if not path.startswith("$."):
        return False, None
    value = document
    for name, index in _PATH_PART.findall(path[2:]):
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return False, None
            value = value[int(index)]
        elif isinstance(value, Mapping) and name in value:
            value = value[name]
        else:
            return False, None
    return True, value


def render_template(template_text: str, lookup: Callable[[str], tuple[bool, Any]]) -> str:
    """Fill ``<placeholder>``s as EventBridge does: inside a JSON string the value goes in as
    text (escaped), elsewhere as JSON (a missing value is ``null`` there, empty in a string)."""
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template_text):
        char = template_text[i]
        if char == "\\" and in_string:
            out.append(template_text[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<" and (found := _PLACEHOLDER.match(template_text, i)):
            ok, value = lookup(found[1])
            if ok or found[1].startswith(("$", "aws.")):
                if in_string:
                    text = (
                        value if isinstance(value, str) else ("" if not ok else json.dumps(value))
                    )
                    out.append(json.dumps(text)[1:-1])
                else:
                    out.append(json.dumps(value if ok else None))
                i = found.end()
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _as_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# -- queues ----------------------------------------------------------------------------------


@dataclass
class QueueMessage:
    message_id: str
    body: str
    sent_at_ms: int
    message_attributes: dict[str, Any] = field(default_factory=dict)
    receive_count: int = 0
    first_receive_ms: int | None = None
    visible_at: float = 0.0  # time.monotonic()
    receipt_handle: str | None = None


class LocalQueue:
    """An SQS queue in memory: visibility timeout, receive counts, redrive to a DLQ."""

    def __init__(
        self,
        logical_id: str,
        name: str,
        region: str,
        *,
        visibility_timeout: float = SQS_DEFAULT_VISIBILITY,
        max_receive_count: int | None = None,
        dead_letter: LocalQueue | None = None,
    ) -> None:
        self.logical_id = logical_id
        self.name = name
        self.arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.dead_letter = dead_letter
        self._messages: list[QueueMessage] = []
        self._lock = threading.Lock()

    def send(self, body: str, *, attributes: Mapping[str, Any] | None = None) -> str:
        message = QueueMessage(
            message_id=str(uuid.uuid4()),
            body=body,
            sent_at_ms=int(time.time() * 1000),
            message_attributes=dict(attributes or {}),
        )
        with self._lock:
            self._messages.append(message)
        return message.message_id

    def receive(self, max_messages: int) -> list[QueueMessage]:
        """Up to ``max_messages`` visible messages, each hidden for the visibility timeout. A
        message already received maxReceiveCount times moves to the DLQ instead."""
        now = time.monotonic()
        received: list[QueueMessage] = []
        moved: list[QueueMessage] = []
        with self._lock:
            for message in list(self._messages):
                if len(received) >= max_messages:
                    break
                if message.visible_at > now:
                    continue
                if (
                    self.dead_letter is not None
                    and self.max_receive_count is not None
                    and message.receive_count >= self.max_receive_count
                ):
                    self._messages.remove(message)
                    moved.append(message)
                    continue
                message.receive_count += 1
                message.first_receive_ms = message.first_receive_ms or int(time.time() * 1000)
                message.visible_at = now + self.visibility_timeout
                message.receipt_handle = str(uuid.uuid4())
                received.append(message)
        for message in moved:
            assert self.dead_letter is not None
            self.dead_letter.accept(message)
            logger.info(
                "queue %s → DLQ %s: message %s after %d receives",
                self.logical_id, self.dead_letter.logical_id, message.message_id,
                message.receive_count,
            )  # fmt: skip
        return received

    def accept(self, message: QueueMessage) -> None:
        """A message redriven here from its source queue (id, body and count kept)."""
        message.visible_at, message.receipt_handle = 0.0, None
        with self._lock:
            self._messages.append(message)

    def delete(self, receipt_handle: str) -> bool:
        with self._lock:
            for message in self._messages:
                if message.receipt_handle == receipt_handle:
                    self._messages.remove(message)
                    return True
        return False

    def messages(self) -> list[QueueMessage]:
        with self._lock:
            return list(self._messages)

    def describe(self, *, with_messages: bool) -> dict[str, Any]:
        now = time.monotonic()
        messages = self.messages()
        described: dict[str, Any] = {
            "logical_id": self.logical_id,
            "name": self.name,
            "arn": self.arn,
            "visible": sum(1 for m in messages if m.visible_at <= now),
            "in_flight": sum(1 for m in messages if m.visible_at > now),
            "visibility_timeout": self.visibility_timeout,
        }
        if self.dead_letter is not None:
            described["redrive"] = {
                "dead_letter_queue": self.dead_letter.logical_id,
                "max_receive_count": self.max_receive_count,
            }
        if with_messages:
            described["messages"] = [
                {
                    "message_id": m.message_id,
                    "receive_count": m.receive_count,
                    "body": _as_json(m.body),
                }
                for m in messages[:50]
            ]
        return described


# -- targets, rules, buses -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a rule or a pipe delivers: ``kind`` is "queue", "function" or "bus"."""

    kind: str
    logical_id: str
    target_id: str = ""
    input: str | None = None
    input_path: str | None = None
    input_transformer: Mapping[str, Any] | None = None

    def payload(self, event: Mapping[str, Any]) -> Any:
        """The event as the target receives it (Input / InputPath / InputTransformer)."""
        if self.input is not None:
            return _as_json(self.input)
        if self.input_path is not None:
            return json_path(event, self.input_path)[1]
        if self.input_transformer is not None:
            paths = self.input_transformer.get("InputPathsMap", {}) or {}

            def lookup(name: str) -> tuple[bool, Any]:
                if name == "aws.events.event.json":
                    return True, event
                if name in paths:
                    return json_path(event, paths[name])
                return False, None

            return _as_json(render_template(self.input_transformer["InputTemplate"], lookup))
        return event


@dataclass
class Rule:
    logical_id: str
    bus: str
    pattern: dict[str, Any]
    targets: list[Target]


@dataclass
class Bus:
    logical_id: str
    name: str
    arn: str
    # (put order across all buses, event), newest last
    events: deque[tuple[int, dict[str, Any]]] = field(
        default_factory=lambda: deque(maxlen=EVENTS_KEPT)
    )


# -- stream consumers and SQS event sources --------------------------------------------------


@dataclass
class StreamConsumer:
    """A Pipe or a function's DynamoDB event reading one table's stream."""

    name: str  # "pipe OutboxPipe" / "function X.Event"
    table_id: str
    starting_position: str
    batch_size: int
    filters: list[dict[str, Any]]
    max_retries: int  # -1: until it succeeds
    deliver: Callable[[list[dict[str, Any]]], list[str]]  # → sequence numbers that failed
    dead_letter: LocalQueue | None = None
    iterators: dict[str, str | None] = field(default_factory=dict)  # shard → iterator (None: done)
    ready: threading.Event = field(default_factory=threading.Event)  # positions taken
    bisect: bool = False  # split a failing batch in two and retry each half
    positions: dict[str, str] = field(default_factory=dict)  # shard → last sequence number read


@dataclass
class SqsSource:
    function: FunctionRef
    event_id: str
    queue: LocalQueue
    batch_size: int
    report_failures: bool
    filters: list[dict[str, Any]]


class Plumbing:
    """Everything above, for one template; ``start()`` / ``stop()`` with the server."""

    def __init__(
        self,
        template: Mapping[str, Any],
        invoke: Invoke,
        *,
        table_names: Mapping[str, str],
        dynamodb_endpoint: str | None = None,
        region: str = "us-east-1",
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.template = template
        self.invoke = invoke
        self.table_names = dict(table_names)
        self.region = region
        self.poll_seconds = poll_seconds
        self._endpoint = dynamodb_endpoint
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._put_order = itertools.count()
        self._async: queue.Queue[tuple[Target, dict[str, Any]] | None] = queue.Queue()
        self.queues = self._build_queues()
        self.buses = self._build_buses()
        self.rules = self._build_rules()
        self.consumers = self._build_pipes() + self._build_stream_functions()
        self.sqs_sources = self._build_sqs_sources()

    # ---------------------------------------------------------------- building from the template
    def _build_queues(self) -> dict[str, LocalQueue]:
        declared = dict(_resources(self.template, "AWS::SQS::Queue"))
        queues: dict[str, LocalQueue] = {}

        def build(logical_id: str, seen: tuple[str, ...] = ()) -> LocalQueue:
            if logical_id in queues:
                return queues[logical_id]
            properties = declared[logical_id]
            redrive = properties.get("RedrivePolicy") or {}
            if isinstance(redrive, str):
                redrive = json.loads(redrive)
            dlq_id = referenced_id(redrive.get("deadLetterTargetArn"))
            dead_letter = (
                build(dlq_id, (*seen, logical_id))
                if dlq_id in declared and dlq_id not in (*seen, logical_id)
                else None
            )
            name = resolve_text(self.template, properties.get("QueueName"), self.region)
            queues[logical_id] = LocalQueue(
                logical_id,
                name or logical_id,
                self.region,
                visibility_timeout=self._number(
                    properties.get("VisibilityTimeout"), SQS_DEFAULT_VISIBILITY
                ),
                max_receive_count=(
                    int(self._number(redrive.get("maxReceiveCount"), 1)) if dead_letter else None
                ),
                dead_letter=dead_letter,
            )
            return queues[logical_id]

        for logical_id in declared:
            build(logical_id)
        return queues

    def _number(self, value: Any, default: float) -> float:
        """A number property: a literal, or a Parameter's Default; else ``default``."""
        try:
            return float(resolve_text(self.template, value, self.region) or default)
        except ValueError:
            logger.warning("%r is not a number; using %s", value, default)
            return default

    def _build_buses(self) -> dict[str, Bus]:
        buses = {DEFAULT_BUS: self._bus(DEFAULT_BUS, DEFAULT_BUS)}
        for logical_id, properties in _resources(self.template, "AWS::Events::EventBus"):
            name = resolve_text(self.template, properties.get("Name"), self.region)
            buses[logical_id] = self._bus(logical_id, name or logical_id)
        return buses

    def _bus(self, logical_id: str, name: str) -> Bus:
        return Bus(logical_id, name, f"arn:aws:events:{self.region}:{ACCOUNT_ID}:event-bus/{name}")

    def bus_id(self, value: Any) -> str:
        """A rule's EventBusName / a target ARN → the local bus (default when absent)."""
        if value is None:
            return DEFAULT_BUS
        if (logical_id := referenced_id(value)) in self.buses:
            return str(logical_id)
        name = resolve_text(self.template, value, self.region)
        for bus in self.buses.values():
            if name in (bus.name, bus.arn):
                return bus.logical_id
        return DEFAULT_BUS

    def _target(self, arn: Any, **options: Any) -> Target | None:
        logical_id = referenced_id(arn)
        resource_type = self.template.get("Resources", {}).get(logical_id, {}).get("Type")
        kind = {
            "AWS::SQS::Queue": "queue",
            "AWS::Serverless::Function": "function",
            "AWS::Events::EventBus": "bus",
        }.get(resource_type or "")
        if kind is None or logical_id is None:
            logger.warning("target %r is not a queue, function or bus of the template", arn)
            return None
        return Target(kind, logical_id, **options)

    def _build_rules(self) -> list[Rule]:
        rules = []
        for logical_id, properties in _resources(self.template, "AWS::Events::Rule"):
            if properties.get("State", "ENABLED") != "ENABLED" or "EventPattern" not in properties:
                continue  # schedule rules are the server's; disabled rules do nothing
            targets = [
                target
                for spec in properties.get("Targets", [])
                if (
                    target := self._target(
                        spec.get("Arn"),
                        target_id=str(spec.get("Id", "")),
                        input=spec.get("Input"),
                        input_path=spec.get("InputPath"),
                        input_transformer=spec.get("InputTransformer"),
                    )
                )
            ]
            rules.append(
                Rule(
                    logical_id,
                    self.bus_id(properties.get("EventBusName")),
                    parse_pattern(properties["EventPattern"]),
                    targets,
                )
            )
        for function_id, event_id, event in _function_events(
            self.template, ("EventBridgeRule", "CloudWatchEvent")
        ):
            if event.get("State", "ENABLED") != "ENABLED" or event.get("Enabled") is False:
                continue
            target = Target(
                "function",
                function_id,
                target_id=event_id,
                input=event.get("Input"),
                input_path=event.get("InputPath"),
                input_transformer=event.get("InputTransformer"),
            )
            rules.append(
                Rule(
                    f"{function_id}{event_id}",
                    self.bus_id(event.get("EventBusName")),
                    parse_pattern(event.get("Pattern")),
                    [target],
                )
            )
        return rules

    def _table_of(self, source: Any) -> str | None:
        table_id = referenced_id(source)
        if table_id not in self.table_names:
            logger.warning("stream source %r is not a local table; not read", source)
            return None
        return table_id

    def _build_pipes(self) -> list[StreamConsumer]:
        consumers = []
        for logical_id, properties in _resources(self.template, "AWS::Pipes::Pipe"):
            if properties.get("DesiredState", "RUNNING") != "RUNNING":
                continue
            source = properties.get("SourceParameters", {}) or {}
            stream = source.get("DynamoDBStreamParameters")
            if stream is None or (table_id := self._table_of(properties.get("Source"))) is None:
                logger.warning("pipe %s: only DynamoDB stream sources run locally", logical_id)
                continue
            target = self._target(properties.get("Target"))
            if target is None:
                continue
            name = resolve_text(self.template, properties.get("Name"), self.region) or logical_id
            consumers.append(
                StreamConsumer(
                    name=f"pipe {logical_id}",
                    table_id=table_id,
                    starting_position=stream.get("StartingPosition", "LATEST"),
                    batch_size=int(self._number(stream.get("BatchSize"), 1)),
                    filters=_filters(source.get("FilterCriteria")),
                    max_retries=int(self._number(stream.get("MaximumRetryAttempts"), -1)),
                    deliver=self._pipe_delivery(
                        logical_id, name, target, properties.get("TargetParameters", {}) or {}
                    ),
                    dead_letter=self.queues.get(
                        referenced_id((stream.get("DeadLetterConfig") or {}).get("Arn")) or ""
                    ),
                )
            )
        return consumers

    def _build_stream_functions(self) -> list[StreamConsumer]:
        consumers = []
        for function_id, event_id, event in _function_events(self.template, ("DynamoDB",)):
            if (
                event.get("Enabled") is False
                or (table_id := self._table_of(event.get("Stream"))) is None
            ):
                continue
            on_failure = ((event.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination"
            )
            consumers.append(
                StreamConsumer(
                    name=f"function {function_id}.{event_id}",
                    table_id=table_id,
                    starting_position=event.get("StartingPosition", "LATEST"),
                    batch_size=int(self._number(event.get("BatchSize"), DDB_DEFAULT_BATCH)),
                    filters=_filters(event.get("FilterCriteria")),
                    max_retries=int(self._number(event.get("MaximumRetryAttempts"), -1)),
                    deliver=self._function_stream_delivery(
                        function_ref(self.template, function_id),
                        "ReportBatchItemFailures" in (event.get("FunctionResponseTypes") or []),
                    ),
                    dead_letter=self.queues.get(referenced_id(on_failure) or ""),
                    bisect=event.get("BisectBatchOnFunctionError") is True,
                )
            )
        return consumers

    def _build_sqs_sources(self) -> list[SqsSource]:
        sources = []
        for function_id, event_id, event in _function_events(self.template, ("SQS",)):
            queue_ = self.queues.get(referenced_id(event.get("Queue")) or "")
            if queue_ is None or event.get("Enabled") is False:
                if queue_ is None:
                    logger.warning("%s.%s: its queue is not in the template", function_id, event_id)
                continue
            sources.append(
                SqsSource(
                    function=function_ref(self.template, function_id),
                    event_id=event_id,
                    queue=queue_,
                    batch_size=int(self._number(event.get("BatchSize"), SQS_DEFAULT_BATCH)),
                    report_failures="ReportBatchItemFailures"
                    in (event.get("FunctionResponseTypes") or []),
                    filters=_filters(event.get("FilterCriteria")),
                )
            )
        return sources

    # ---------------------------------------------------------------- the bus
    def put_events(self, entries: list[Mapping[str, Any]], *, via: str = "PutEvents") -> list[str]:
        """PutEvents: each entry (Source, DetailType, Detail as JSON text, EventBusName, Resources)
        becomes an event on its bus, delivered to every matching rule's targets. The ids."""
        ids = []
        for entry in entries:
            bus = self.buses[self.bus_id(entry.get("EventBusName"))]
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": entry["DetailType"],
                "source": entry["Source"],
                "account": ACCOUNT_ID,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.region,
                "resources": list(entry.get("Resources", [])),
                "detail": json.loads(entry.get("Detail") or "{}"),
            }
            bus.events.append((next(self._put_order), event))
            logger.info(
                "%s → bus %s: %s %s (id %s)",
                via, bus.logical_id, event["source"], event["detail-type"], event["id"],
            )  # fmt: skip
            for rule in self.rules:
                if rule.bus == bus.logical_id and matches(rule.pattern, event):
                    for target in rule.targets:
                        self._send(f"rule {rule.logical_id}", target, target.payload(event))
            ids.append(event["id"])
        return ids

    def events(
        self,
        *,
        detail_type: str | None = None,
        source: str | None = None,
        bus: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` events kept (oldest first), of every bus unless ``bus``."""
        found = [
            (order, event)
            for key, kept in self.buses.items()
            if bus in (None, key, kept.name)
            for order, event in list(kept.events)
            if detail_type in (None, event["detail-type"]) and source in (None, event["source"])
        ]
        found.sort(key=lambda pair: pair[0])
        return [event for _, event in found[-limit:]] if limit else []

    def _send(self, via: str, target: Target, payload: Any) -> None:
        if target.kind == "queue":
            body = payload if isinstance(payload, str) else json.dumps(payload)
            message_id = self.queues[target.logical_id].send(body)
            logger.info("%s → queue %s: message %s", via, target.logical_id, message_id)
        elif target.kind == "function":
            logger.info("%s → function %s (async)", via, target.logical_id)
            self._async.put((target, payload))
        else:  # another bus: the event goes on as it is
            event = payload if isinstance(payload, Mapping) else {}
            entry = {
                "Source": event.get("source", "local"),
                "DetailType": event.get("detail-type", ""),
                "Detail": json.dumps(event.get("detail", {})),
                "Resources": event.get("resources", []),
                "EventBusName": {"Ref": target.logical_id},
            }
            self.put_events([entry], via=via)

    def _run_async(self) -> None:
        while (item := self._async.get()) is not None:
            target, payload = item
            try:
                self.invoke(function_ref(self.template, target.logical_id), payload)
            except Exception:
                logger.exception("async invocation of %s failed", target.logical_id)

    # ---------------------------------------------------------------- pipes and stream functions
    def _pipe_delivery(
        self, logical_id: str, name: str, target: Target, parameters: Mapping[str, Any]
    ) -> Callable[[list[dict[str, Any]]], list[str]]:
        pipe_arn = f"arn:aws:pipes:{self.region}:{ACCOUNT_ID}:pipe/{name}"
        input_template = parameters.get("InputTemplate")
        bus_parameters = parameters.get("EventBridgeEventBusParameters", {}) or {}

        def deliver(records: list[dict[str, Any]]) -> list[str]:
            payloads = []
            for record in records:
                reserved = {
                    "aws.pipes.pipe-arn": pipe_arn,
                    "aws.pipes.pipe-name": name,
                    "aws.pipes.source-arn": record.get("eventSourceARN"),
                    "aws.pipes.target-arn": target.logical_id,
                    "aws.pipes.event.ingestion-time": datetime.now(UTC).isoformat(),
                    "aws.pipes.event.json": record,
                }

                def lookup(
                    path: str, record: dict[str, Any] = record, reserved: dict[str, Any] = reserved
                ) -> tuple[bool, Any]:
                    if path in reserved:
                        return True, reserved[path]
                    return json_path(record, path)

                payloads.append(
                    _as_json(render_template(input_template, lookup)) if input_template else record
                )
            if target.kind == "bus":
                if bad := [p for p in payloads if not isinstance(p, dict)]:
                    # PutEvents refuses a Detail that is not a JSON object: the pipe fails
                    raise ValueError(f"pipe {logical_id}: InputTemplate gave {bad[0]!r}")
                self.put_events(
                    [
                        {
                            "Source": bus_parameters.get("Source", f"Pipe {name}"),
                            "DetailType": bus_parameters.get(
                                "DetailType", "Event from aws:dynamodb"
                            ),
                            "Detail": json.dumps(payload),
                            "Resources": bus_parameters.get("Resources", []),
                            "EventBusName": {"Ref": target.logical_id},
                        }
                        for payload in payloads
                    ],
                    via=f"pipe {logical_id}",
                )
            elif target.kind == "queue":
                for payload in payloads:
                    self._send(f"pipe {logical_id}", target, payload)
            else:  # a function target gets the batch, as an array
                logger.info(
                    "pipe %s → function %s: %d records",
                    logical_id,
                    target.logical_id,
                    len(payloads),
                )
                self.invoke(function_ref(self.template, target.logical_id), payloads)
            return []

        return deliver

    def _function_stream_delivery(
        self, function: FunctionRef, report_failures: bool
    ) -> Callable[[list[dict[str, Any]]], list[str]]:
        def deliver(records: list[dict[str, Any]]) -> list[str]:
            result = self.invoke(function, {"Records": records})
            failed = _reported_failures(result) if report_failures else []
            logger.info(
                "stream → function %s: %d records, %d failed",
                function.function_id, len(records), len(failed),
            )  # fmt: skip
            return failed

        return deliver

    # ---------------------------------------------------------------- stream polling
    def _streams_client(self) -> Any:
        return boto3.client("dynamodbstreams", endpoint_url=self._endpoint, region_name=self.region)

    def _dynamodb_client(self) -> Any:
        return boto3.client("dynamodb", endpoint_url=self._endpoint, region_name=self.region)

    def _stream_arn(self, table_id: str) -> str | None:
        table = self._dynamodb_client().describe_table(TableName=self.table_names[table_id])
        arn: str | None = table["Table"].get("LatestStreamArn")
        if arn is None:
            logger.warning("table %s has no stream (no StreamSpecification?)", table_id)
        return arn

    def _refresh_shards(self, client: Any, arn: str, consumer: StreamConsumer, first: bool) -> None:
        shards: list[dict[str, Any]] = []
        start: dict[str, str] = {}
        while True:
            description = client.describe_stream(StreamArn=arn, **start)["StreamDescription"]
            shards += description.get("Shards", [])
            if not (last := description.get("LastEvaluatedShardId")):
                break
            start = {"ExclusiveStartShardId": last}
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in consumer.iterators:
                continue
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            position = consumer.starting_position if first else "TRIM_HORIZON"
            if position == "LATEST" and closed:
                consumer.iterators[shard_id] = None
                continue
            consumer.iterators[shard_id] = client.get_shard_iterator(
                StreamArn=arn, ShardId=shard_id, ShardIteratorType=position
            )["ShardIterator"]

    def _poll_stream(self, consumer: StreamConsumer) -> None:
        client = self._streams_client()
        arn: str | None = None
        try:
            if (arn := self._stream_arn(consumer.table_id)) is not None:
                self._refresh_shards(client, arn, consumer, first=True)
        finally:
            consumer.ready.set()
        if arn is None:
            return
        refreshed = time.monotonic()
        while not self._stop.is_set():
            got_any = False
            for shard_id, iterator in list(consumer.iterators.items()):
                if iterator is None:
                    continue
                try:
                    response = client.get_records(ShardIterator=iterator, Limit=consumer.batch_size)
                except client.exceptions.ExpiredIteratorException:  # idle > 15 min: resume
                    consumer.iterators[shard_id] = self._resume(client, arn, consumer, shard_id)
                    continue
                consumer.iterators[shard_id] = response.get("NextShardIterator")
                records = [self._lambda_record(r, arn) for r in response.get("Records", [])]
                if records:
                    consumer.positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
                kept = [r for r in records if _passes(consumer.filters, r)]
                got_any = got_any or bool(records)
                if kept:
                    self._deliver_with_retries(consumer, kept, shard_id, arn)
            if time.monotonic() - refreshed > 5:
                self._refresh_shards(client, arn, consumer, first=False)
                refreshed = time.monotonic()
            if not got_any:
                self._stop.wait(self.poll_seconds)

    def _resume(self, client: Any, arn: str, consumer: StreamConsumer, shard_id: str) -> str:
        """A fresh iterator just after the last record read (or where the consumer started)."""
        if (last := consumer.positions.get(shard_id)) is not None:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
        else:
            position = {"ShardIteratorType": consumer.starting_position}
        iterator: str = client.get_shard_iterator(StreamArn=arn, ShardId=shard_id, **position)[
            "ShardIterator"
        ]
        return iterator

    def _lambda_record(self, record: Mapping[str, Any], arn: str) -> dict[str, Any]:
        """A record from GetRecords as Lambda / Pipes pass it (epoch seconds, source ARN)."""
        shaped = json.loads(json.dumps(record, default=_epoch_seconds))
        for image in ("Keys", "NewImage", "OldImage"):
            if image in shaped.get("dynamodb", {}):
                shaped["dynamodb"][image] = {
                    name: _repaired(value) for name, value in shaped["dynamodb"][image].items()
                }
        shaped["awsRegion"] = self.region
        shaped["eventSourceARN"] = arn
        return dict(shaped)

    def _deliver_with_retries(
        self, consumer: StreamConsumer, records: list[dict[str, Any]], shard_id: str, arn: str
    ) -> None:
        attempt = 0
        while records and not self._stop.is_set():
            try:
                failed = consumer.deliver(records)
            except Exception:
                logger.exception("%s: delivery of %d records failed", consumer.name, len(records))
                if consumer.bisect and len(records) > 1:  # BisectBatchOnFunctionError
                    half = len(records) // 2
                    for part in (records[:half], records[half:]):
                        self._deliver_with_retries(consumer, part, shard_id, arn)
                    return
                failed = [records[0]["dynamodb"]["SequenceNumber"]]
            if not failed:
                return
            first = min(_sequence(n) for n in failed)  # retry from the first failed record on
            records = [r for r in records if _sequence(r["dynamodb"]["SequenceNumber"]) >= first]
            attempt += 1
            if 0 <= consumer.max_retries < attempt:
                self._stream_failure(consumer, records, shard_id, arn)
                return
            self._stop.wait(RETRY_SECONDS)

    def _stream_failure(
        self, consumer: StreamConsumer, records: list[dict[str, Any]], shard_id: str, arn: str
    ) -> None:
        if consumer.dead_letter is None:
            logger.error("%s: %d records dropped after retries", consumer.name, len(records))
            return
        body = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "source": consumer.name},
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(records),
                "streamArn": arn,
            },
            "records": records,  # local convenience: AWS sends only the batch info
        }
        message_id = consumer.dead_letter.send(json.dumps(body))
        logger.info(
            "%s → DLQ %s: %d records (message %s)",
            consumer.name, consumer.dead_letter.logical_id, len(records), message_id,
        )  # fmt: skip

    # ---------------------------------------------------------------- SQS event sources
    def _poll_queue(self, source: SqsSource) -> None:
        while not self._stop.is_set():
            if not self.poll_sqs(source):
                self._stop.wait(self.poll_seconds)

    def poll_sqs(self, source: SqsSource) -> bool:
        """One receive + invoke (+ deletes) for ``source``; whether a batch was received."""
        received = source.queue.receive(source.batch_size)
        if not received:
            return False
        records = [self._sqs_record(source.queue, message) for message in received]
        batch = []
        for message, record in zip(received, records, strict=True):
            if _passes(source.filters, _filterable_sqs(record)):
                batch.append((message, record))
            else:  # Lambda deletes messages its filters drop
                source.queue.delete(message.receipt_handle or "")
        if not batch:
            return True
        try:
            result = self.invoke(source.function, {"Records": [record for _, record in batch]})
        except Exception:
            logger.exception(
                "queue %s → function %s failed",
                source.queue.logical_id,
                source.function.function_id,
            )
            return True  # nothing deleted: visible again after the visibility timeout
        ids = {message.message_id for message, _ in batch}
        failed = _reported_failures(result) if source.report_failures else []
        if not set(failed) <= ids:  # an unknown or empty id fails the whole batch, as Lambda does
            failed = list(ids)
        for message, _ in batch:
            if message.message_id not in failed:
                source.queue.delete(message.receipt_handle or "")
        logger.info(
            "queue %s → function %s.%s: %d messages, %d failed",
            source.queue.logical_id, source.function.function_id, source.event_id, len(batch),
            len(failed),
        )  # fmt: skip
        return True

    def _sqs_record(self, queue_: LocalQueue, message: QueueMessage) -> dict[str, Any]:
        return {
            "messageId": message.message_id,
            "receiptHandle": message.receipt_handle,
            "body": message.body,
            "attributes": {
                "ApproximateReceiveCount": str(message.receive_count),
                "SentTimestamp": str(message.sent_at_ms),
                "SenderId": ACCOUNT_ID,
                "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
            },
            "messageAttributes": message.message_attributes,
            "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_.arn,
            "awsRegion": self.region,
        }

    # ---------------------------------------------------------------- lifecycle and HTTP
    def start(self) -> None:
        """Take the stream positions now (so what is written after ``start`` returns is seen),
        then start the threads."""
        self._stop.clear()
        for consumer in self.consumers:
            self._spawn(f"local-stream-{consumer.name.split()[-1]}", self._poll_stream, consumer)
        for source in self.sqs_sources:
            self._spawn(f"local-sqs-{source.function.function_id}", self._poll_queue, source)
        self._spawn("local-async-invoke", self._run_async)
        for consumer in self.consumers:  # the stream threads take their shard iterators first
            consumer.ready.wait(timeout=10)

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            except Exception:
                logger.exception("%s stopped", name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        """Stop every thread (waits for a delivery in progress, up to ``timeout`` s each)."""
        self._stop.set()
        self._async.put(None)
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._threads = [t for t in self._threads if t.is_alive()]

    @property
    def threads(self) -> list[threading.Thread]:
        return [t for t in self._threads if t.is_alive()]

    def summary(self) -> list[str]:
        """One line per stream consumer, rule and SQS event source, and the inspection routes."""
        lines = [
            f"stream {c.table_id} → {c.name} ({c.starting_position}, batch {c.batch_size})"
            for c in self.consumers
        ]
        lines += [
            f"rule {r.logical_id} on bus {r.bus} → "
            + ", ".join(f"{t.kind} {t.logical_id}" for t in r.targets)
            for r in self.rules
        ]
        lines += [
            f"queue {s.queue.logical_id} → function {s.function.function_id}"
            f" (batch {s.batch_size}{', partial failures' if s.report_failures else ''})"
            for s in self.sqs_sources
        ]
        return [
            *lines,
            f"GET    {EVENTS_PATH}?detail_type=&source=&bus=&limit=  (events on the buses)",
            f'POST   {EVENTS_PATH}  {{"Entries": [...]}}  (PutEvents)',
            f"GET    {QUEUES_PATH}  (queue depths, DLQ contents)",
        ]

    def describe_queues(self) -> list[dict[str, Any]]:
        dead_letters = {q.dead_letter.logical_id for q in self.queues.values() if q.dead_letter}
        dead_letters |= {c.dead_letter.logical_id for c in self.consumers if c.dead_letter}
        return [
            q.describe(with_messages=q.logical_id in dead_letters) for q in self.queues.values()
        ]

    def handle_http(
        self, method: str, path: str, query: str, body: bytes | None = None
    ) -> tuple[int, Any] | None:
        """``GET /_local/events``, ``GET /_local/queues`` and ``POST /_local/events`` (PutEvents:
        ``{"Entries": [{"Source", "DetailType", "Detail", "EventBusName"?}]}``): (status, JSON
        body); None for any other request."""
        path = path.rstrip("/")
        if method == "POST" and path == EVENTS_PATH:
            return self._put_events_http(body)
        if method != "GET" or path not in (EVENTS_PATH, QUEUES_PATH):
            return None
        params = dict(parse_qsl(query))
        if path == QUEUES_PATH:
            return 200, {"queues": self.describe_queues()}
        try:
            limit = int(params.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= EVENTS_KEPT:
            return 400, {"message": f"limit must be 1..{EVENTS_KEPT}"}
        events = self.events(
            detail_type=params.get("detail_type") or None,
            source=params.get("source") or None,
            bus=params.get("bus") or None,
            limit=limit,
        )
        return 200, {"events": events}

    def _put_events_http(self, body: bytes | None) -> tuple[int, Any]:
        try:
            entries = json.loads(body or b"{}")["Entries"]
            for entry in entries:
                if not isinstance(entry.get("Detail"), str):  # PutEvents takes it as JSON text
                    entry["Detail"] = json.dumps(entry.get("Detail") or {})
                if not isinstance(json.loads(entry["Detail"]), dict):
                    raise ValueError("Detail must be a JSON object")
                if not (entry.get("Source") and entry.get("DetailType")):
                    raise ValueError("Source and DetailType are required")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return 400, {"message": f"expected {{'Entries': [...]}} as PutEvents takes: {exc}"}
        ids = self.put_events(entries, via="POST /_local/events")
        return 200, {"FailedEntryCount": 0, "Entries": [{"EventId": i} for i in ids]}


def _sequence(number: str) -> int:
    """Sequence numbers compare as numbers ("" — a malformed failure report — is the first)."""
    return int(number) if number.isdigit() else -1


def _repaired(value: Any) -> Any:
    """DynamoDB Local's stream images carry an empty map as ``{}`` (GetItem and AWS say
    ``{"M": {}}``, and boto3's deserializer refuses ``{}``): put the ``M`` back, at any depth."""
    if value == {}:
        return {"M": {}}
    if isinstance(value, dict) and isinstance(value.get("M"), dict):
        return {"M": {name: _repaired(inner) for name, inner in value["M"].items()}}
    if isinstance(value, dict) and isinstance(value.get("L"), list):
        return {"L": [_repaired(inner) for inner in value["L"]]}
    return value


def _epoch_seconds(value: Any) -> Any:
    """JSON for what boto3 decoded: datetimes → epoch seconds, binary → base64 (as Lambda)."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _reported_failures(result: Any) -> list[str]:
    """The itemIdentifiers of a ``{"batchItemFailures": [...]}`` answer ("" when malformed)."""
    if not isinstance(result, Mapping):
        return []
    failures = result.get("batchItemFailures") or []
    identifiers = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        identifiers.append(identifier if isinstance(identifier, str) and identifier else "")
    return identifiers


def _filterable_sqs(record: Mapping[str, Any]) -> dict[str, Any]:
    """Lambda filters SQS records with ``body`` parsed when it is JSON."""
    with contextlib.suppress(json.JSONDecodeError, TypeError):
        return {**record, "body": json.loads(record["body"])}
    return dict(record)
