"""template.yaml vs the outbox code: the table's stream, the bus, and the pipe between them that
passes new outbox items only and shapes them as OutboundMessageRequested details."""

import json
import re
from typing import Any

from local.template import api_routes, load_template, table_definitions
from ticketing.models.replies import (
    EVENT_SOURCE,
    OUTBOUND_MESSAGE_REQUESTED,
    OutboundMessageRequested,
)

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == kind}


def the_pipe() -> dict[str, Any]:
    pipe = RESOURCES["OutboxPipe"]  # the ticket-event pipes: test_ticket_events_template.py
    properties: dict[str, Any] = pipe["Properties"]
    return properties


def test_the_table_streams_new_images():
    # GIVEN the table
    (table,) = table_definitions(TEMPLATE)
    # WHEN its stream specification is read
    stream = table["create_table_kwargs"]["StreamSpecification"]
    # THEN new images are streamed (the pipe reads the outbox item from them), old ones too (the
    # inbox view projector diffs a ticket's views)
    assert stream["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_there_is_one_bus_named_for_the_stage():
    # GIVEN the template's event buses
    buses = resources_of("AWS::Events::EventBus")
    # WHEN listed
    # THEN there is one, ticket-engine-<stage>
    (bus,) = buses.values()
    assert bus["Properties"]["Name"] == {"Fn::Sub": "ticket-engine-${Stage}"}


def test_the_pipe_goes_from_the_table_stream_to_the_bus():
    pipe = the_pipe()
    (bus_id,) = resources_of("AWS::Events::EventBus")
    assert pipe["Source"] == {"Fn::GetAtt": ["TicketTable", "StreamArn"]}
    assert pipe["Target"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    target = pipe["TargetParameters"]["EventBridgeEventBusParameters"]
    assert target == {"Source": EVENT_SOURCE, "DetailType": OUTBOUND_MESSAGE_REQUESTED}


def test_the_pipe_passes_new_outbox_items_only():
    # GIVEN the pipe's filter
    (only,) = the_pipe()["SourceParameters"]["FilterCriteria"]["Filters"]
    pattern = json.loads(only["Pattern"])
    # WHEN read
    image = pattern["dynamodb"]["NewImage"]
    # THEN it names inserts of items of type "outbox" carrying this event (TTL removals and every
    # other record of the table stay out)
    assert pattern["eventName"] == ["INSERT"]
    assert image["type"] == {"S": ["outbox"]}
    assert image["detail_type"] == {"S": [OUTBOUND_MESSAGE_REQUESTED]}


def test_the_pipe_template_carries_every_detail_field():
    # GIVEN the pipe's input template
    template = the_pipe()["TargetParameters"]["InputTemplate"]
    # WHEN its fields and the paths they read are listed
    fields = dict(re.findall(r'"(\w+)": "<\$\.dynamodb\.NewImage\.detail\.M\.(\w+)\.S>"', template))
    # THEN they are exactly the model's, each read from its own attribute
    assert set(fields) == set(OutboundMessageRequested.model_fields)
    assert all(name == path for name, path in fields.items())


def test_the_pipe_role_reads_the_stream_and_puts_on_the_bus():
    # GIVEN the pipe's role
    role_id = the_pipe()["RoleArn"]["Fn::GetAtt"][0]
    role = RESOURCES[role_id]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    allowed = {
        action: statement["Resource"]
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    # WHEN its trust and permissions are read
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    # THEN EventBridge Pipes assumes it, to read the stream, put events and dead-letter
    assert trust["Principal"] == {"Service": "pipes.amazonaws.com"}
    for action in ("GetRecords", "GetShardIterator", "DescribeStream", "ListStreams"):
        assert allowed[f"dynamodb:{action}"] == {"Fn::GetAtt": ["TicketTable", "StreamArn"]}
    (bus_id,) = resources_of("AWS::Events::EventBus")
    assert allowed["events:PutEvents"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    dead_letter = the_pipe()["SourceParameters"]["DynamoDBStreamParameters"]["DeadLetterConfig"]
    assert allowed["sqs:SendMessage"] == dead_letter["Arn"]


def test_the_reply_route_is_in_the_template():
    routes = {(r.method, r.path): r.function_id for r in api_routes(TEMPLATE)}
    assert routes[("POST", "/tickets/{ticket_id}/messages")] == "TicketApiFunction"
