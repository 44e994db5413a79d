"""template.yaml vs the ticket-event code: the two pipes (history / message items → TicketChanged /
TicketMessageAdded on the bus) render exactly the detail models from attributes every such item
has; the rule queues both for the analytics consumer; the summary route is declared."""

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from local.template import api_routes, function_properties, load_template
from ticketing.models.events import (
    EVENT_ITEM_TYPES,
    EVENT_SOURCE,
    TICKET_CHANGED,
    TICKET_MESSAGE_ADDED,
    TicketChangedDetail,
    TicketMessageAddedDetail,
    changed_detail,
    message_detail,
)
from ticketing.models.records import Channel, Direction, HistoryEvent, Message, TicketStatus
from ticketing.repository.dynamodb import DynamoTicketRepository

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
PIPES = {"history": "TicketHistoryPipe", "message": "TicketMessagePipe"}
DETAILS: dict[str, Any] = {"history": TicketChangedDetail, "message": TicketMessageAddedDetail}
STORED: dict[str, Any] = {"history": HistoryEvent, "message": Message}
# detail field → the stored attribute it is read from, where the names differ
RENAMED = {"history": {"idempotency_key": "event_id"}, "message": {"idempotency_key": "message_id"}}
PLACEHOLDER = re.compile(r'"(\w+)": "<\$\.dynamodb\.NewImage\.(\w+)\.S>"')
AT = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)


def pipe(kind: str) -> dict[str, Any]:
    properties: dict[str, Any] = RESOURCES[PIPES[kind]]["Properties"]
    return properties


def render(template: str, record: dict[str, Any]) -> Any:
    """Pipes' rendering of `"<$.a.b.S>"` placeholders (string values, JSON-escaped)."""

    def value(match: re.Match[str]) -> str:
        node: Any = record
        for part in match[1].split("."):
            node = node[part]
        return json.dumps(node)

    return json.loads(re.sub(r'"<\$\.([\w.]+)>"', value, template))


def stored_items() -> dict[str, dict[str, Any]]:
    """A history item and a message item exactly as the repository writes them."""
    repo = DynamoTicketRepository(client=None, table_name="t")  # type: ignore[arg-type]
    history = HistoryEvent(
        workspace_id="ws-1",
        ticket_id="tk_1",
        event_id="01HZEVENT",
        event="closed",
        actor="agent-1",
        at=AT,
        from_status=TicketStatus.OPEN,
        to_status=TicketStatus.CLOSED,
    )
    message = Message(
        workspace_id="ws-1",
        message_id="ms_1",
        ticket_id="tk_1",
        conversation_id="cv_1",
        channel=Channel.LINE,
        account_id="U1",
        direction=Direction.OUTBOUND,
        channel_message_id='out:"quoted"',
        sender_id='agent "one"',
        text="hi",
        sent_at=AT,
        received_at=AT,
    )
    return {
        "history": {
            "model": history,
            "item": repo._history_put(history)["Put"]["Item"],
            "detail": changed_detail(history),
        },
        "message": {
            "model": message,
            "item": repo._message_put(message)["Put"]["Item"],
            "detail": message_detail(message),
        },
    }


@pytest.mark.parametrize("kind", sorted(PIPES))
def test_the_pipe_goes_from_the_table_stream_to_the_bus(kind):
    # GIVEN the pipe of one item type
    properties = pipe(kind)
    # WHEN its source and target are read
    target = properties["TargetParameters"]["EventBridgeEventBusParameters"]
    # THEN it reads the table's stream and puts its detail type on the one bus
    assert properties["Source"] == {"Fn::GetAtt": ["TicketTable", "StreamArn"]}
    assert properties["Target"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert target == {"Source": EVENT_SOURCE, "DetailType": EVENT_ITEM_TYPES[kind]}
    assert properties["SourceParameters"]["DynamoDBStreamParameters"]["DeadLetterConfig"]


@pytest.mark.parametrize("kind", sorted(PIPES))
def test_the_pipe_passes_new_items_of_its_type_only(kind):
    # GIVEN the pipe's filter
    (only,) = pipe(kind)["SourceParameters"]["FilterCriteria"]["Filters"]
    # WHEN read
    pattern = json.loads(only["Pattern"])
    # THEN inserts of its item type only (updates: delivery status, deletions, TTL: stay out)
    assert pattern == {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": [kind]}}}}


@pytest.mark.parametrize("kind", sorted(PIPES))
def test_the_template_reads_every_detail_field_from_an_attribute_every_item_has(kind):
    # GIVEN the pipe's input template and the stored model of its items
    fields = dict(PLACEHOLDER.findall(pipe(kind)["TargetParameters"]["InputTemplate"]))
    stored = STORED[kind].model_fields
    # WHEN its fields are compared with the detail model
    # THEN they are exactly the model's, each read from its own attribute, which every stored
    # item has (a required field: a missing path would break the rendering)
    assert set(fields) == set(DETAILS[kind].model_fields)
    for name, attribute in fields.items():
        assert attribute == RENAMED[kind].get(name, name)
        assert stored[attribute].is_required(), f"{attribute} may be absent from a {kind} item"


@pytest.mark.parametrize("kind", sorted(PIPES))
def test_a_stored_item_renders_as_its_detail(kind):
    # GIVEN an item as the repository writes it, in a stream record
    sample = stored_items()[kind]
    record = {"eventName": "INSERT", "dynamodb": {"NewImage": sample["item"]}}
    # WHEN the pipe's template renders it
    rendered = render(pipe(kind)["TargetParameters"]["InputTemplate"], record)
    # THEN it is the detail model of that item (quotes in ids survive)
    assert DETAILS[kind].model_validate(rendered) == sample["detail"]


def test_the_pipes_role_reads_the_stream_puts_on_the_bus_and_dead_letters():
    # GIVEN the role both pipes use
    (role_id,) = {pipe(kind)["RoleArn"]["Fn::GetAtt"][0] for kind in PIPES}
    role = RESOURCES[role_id]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    allowed = {
        action: s["Resource"]
        for s in statements
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    # THEN Pipes may read the stream, put on the bus and send to the pipes' dead-letter queue
    assert allowed["dynamodb:GetRecords"] == {"Fn::GetAtt": ["TicketTable", "StreamArn"]}
    assert allowed["events:PutEvents"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    for kind in PIPES:
        dlq = pipe(kind)["SourceParameters"]["DynamoDBStreamParameters"]["DeadLetterConfig"]
        assert allowed["sqs:SendMessage"] == dlq["Arn"]


def test_the_rule_queues_both_event_types_for_the_analytics_consumer():
    # GIVEN the analytics rule, its queue and the consumer
    rule = RESOURCES["TicketAnalyticsRule"]["Properties"]
    queue = RESOURCES["TicketAnalyticsQueue"]["Properties"]
    consumer = function_properties(TEMPLATE, "TicketAnalyticsFunction")
    (source,) = consumer["Events"].values()
    # THEN the rule on the bus matches both detail types into the queue, which the consumer
    # reads with partial batch failures, and which dead-letters after a few receives
    assert rule["EventBusName"] == {"Ref": "EventBus"}
    assert rule["EventPattern"] == {
        "source": [EVENT_SOURCE],
        "detail-type": [TICKET_CHANGED, TICKET_MESSAGE_ADDED],
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["TicketAnalyticsQueue", "Arn"]}
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["TicketAnalyticsQueue", "Arn"]}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["TicketAnalyticsDeadLetterQueue", "Arn"]
    }
    assert queue["VisibilityTimeout"] >= 6 * consumer["Timeout"]
    policy = RESOURCES["TicketAnalyticsQueuePolicy"]["Properties"]["PolicyDocument"]
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    dlq = {"Fn::GetAtt": ["TicketAnalyticsDeadLetterQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": dlq}  # what the rule cannot queue is kept
    assert statement["Resource"] == [target["Arn"], dlq]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["TicketAnalyticsRule", "Arn"]
    }


def test_the_summary_route_is_in_the_agent_api():
    routes = {(r.method, r.path): r.function_id for r in api_routes(TEMPLATE)}
    assert routes[("GET", "/analytics/summary")] == "TicketApiFunction"
