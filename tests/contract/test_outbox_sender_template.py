"""template.yaml vs the outbox sender (issue 8): the bus rule feeds the queue, the queue (with
its dead-letter queue) feeds the function with partial-batch responses, the receive limit the
sender fails messages at is the queue's maxReceiveCount, and the SQS sample event is current."""

from __future__ import annotations

import json
from typing import Any

from local import outbox_events
from local.template import load_template
from ticketing.config import Settings
from ticketing.models.replies import EVENT_SOURCE, OUTBOUND_MESSAGE_REQUESTED

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTION = RESOURCES["OutboxSenderFunction"]["Properties"]


def ref_id(value: dict[str, Any]) -> str:
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def sqs_event_source() -> dict[str, Any]:
    (source,) = [e for e in FUNCTION["Events"].values() if e["Type"] == "SQS"]
    return dict(source["Properties"])


def test_the_rule_routes_outbound_requests_from_the_bus_to_the_queue():
    # GIVEN the rule of the outbox sender
    rule = RESOURCES["OutboundMessageRule"]["Properties"]
    # WHEN its pattern and target are read
    # THEN it matches the outbox pipe's events on our bus and targets the sender's queue
    assert ref_id(rule["EventBusName"]) == "EventBus"
    assert rule["EventPattern"] == {
        "source": [EVENT_SOURCE],
        "detail-type": [OUTBOUND_MESSAGE_REQUESTED],
    }
    (target,) = rule["Targets"]
    assert ref_id(target["Arn"]) == "OutboxSenderQueue"
    assert "InputTransformer" not in target  # the whole event: the handler reads ``detail``


def test_the_queue_policy_lets_only_the_rule_send():
    policy = RESOURCES["OutboxSenderQueuePolicy"]["Properties"]
    assert {"Ref": "OutboxSenderQueue"} in policy["Queues"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["OutboundMessageRule", "Arn"]
    }


def test_the_function_consumes_the_queue_with_partial_batch_failures():
    source = sqs_event_source()
    assert ref_id(source["Queue"]) == "OutboxSenderQueue"
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert FUNCTION["Handler"] == "app.lambda_handler"


def test_redrive_after_the_receives_the_sender_fails_messages_at():
    # GIVEN the queue's redrive policy and the function's OUTBOX_MAX_RECEIVES
    queue = RESOURCES["OutboxSenderQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    env = FUNCTION["Environment"]["Variables"]
    # WHEN compared
    # THEN the message is failed on exactly the receive after which SQS dead-letters it
    assert ref_id(redrive["deadLetterTargetArn"]) == "OutboxSenderDeadLetterQueue"
    assert int(env["OUTBOX_MAX_RECEIVES"]) == int(redrive["maxReceiveCount"])
    assert Settings.model_fields["outbox_max_receives"].default == int(redrive["maxReceiveCount"])
    # AND a message is invisible long enough for the function to finish (6 x its timeout)
    assert int(queue["VisibilityTimeout"]) >= 6 * int(FUNCTION["Timeout"])


def test_the_sample_sqs_event_is_current_and_parses():
    # GIVEN the committed sample and the generator's output
    for name, event in outbox_events.sample_events().items():
        path = outbox_events.EVENTS_DIR / f"{name}.json"
        committed = json.loads(path.read_text())
        # THEN they are equal, and every record carries an OutboundMessageRequested detail
        assert committed == event
        from functions.outbox_sender.app import parse_detail

        for record in committed["Records"]:
            assert record["eventSource"] == "aws:sqs"
            assert parse_detail(record["body"]).channel_message_id.startswith("out:")
