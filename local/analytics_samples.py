"""Sample events of ticket analytics (issue #6, part 3).

- ``ticket_api_analytics_summary`` (events/, an API Gateway event like the other agent-API samples);
- ``events/ticket_analytics/sqs_batch.json``: what the analytics consumer receives from its queue
  when the rule has queued a ``TicketChanged`` and a ``TicketMessageAdded`` event (the details as
  the pipes render them): ``sam local invoke TicketAnalyticsFunction -e
  events/ticket_analytics/sqs_batch.json``.

``python -m local.demo events`` rewrites both; tests/integration/test_analytics.py checks the SQS
sample is what the code generates and that the consumer accepts it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ticketing.models.events import (
    EVENT_SOURCE,
    TICKET_CHANGED,
    TICKET_MESSAGE_ADDED,
    changed_detail,
    message_detail,
)
from ticketing.models.records import Channel, Direction, HistoryEvent, Message

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events" / "ticket_analytics"
REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ticket-engine-analytics-dev"
SENT_TIMESTAMP = "1764086400000"  # 2025-11-25T16:00:00Z
WORKSPACE = "ws-demo"
TICKET = "t_01JDEMO0000000000000000000"
AT = datetime(2025, 11, 25, 16, 0, tzinfo=UTC)


def api_events() -> dict[str, Any]:
    from local.demo import CLAIMS, api_event

    return {
        "ticket_api_analytics_summary": api_event(
            "GET",
            "/analytics/summary",
            "/analytics/summary",
            query={"from": "2025-11-01", "to": "2025-11-30"},
            claims=CLAIMS,
        )
    }


def bus_event(detail_type: str, detail: dict[str, Any], event_id: str) -> dict[str, Any]:
    """A ticket event as the rule's SQS target receives it (the whole event, detail inside)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": EVENT_SOURCE,
        "account": ACCOUNT,
        "time": AT.isoformat().replace("+00:00", "Z"),
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def sqs_record(body: str, message_id: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id.replace('-', '')}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": SENT_TIMESTAMP,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": SENT_TIMESTAMP,
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def sqs_batch() -> dict[str, Any]:
    created = HistoryEvent(
        workspace_id=WORKSPACE,
        ticket_id=TICKET,
        event_id="01JDEMOHISTORY000000000000",
        event="created",
        actor="customer",
        at=AT,
    )
    reply = Message(
        workspace_id=WORKSPACE,
        message_id="ms_01JDEMOREPLY0000000000000",
        ticket_id=TICKET,
        conversation_id="cv_demo",
        channel=Channel.MESSENGER,
        account_id="100000000000001",
        direction=Direction.OUTBOUND,
        channel_message_id="out:ms_01JDEMOREPLY0000000000000",
        sender_id="agent-demo",
        sent_at=AT.replace(minute=3),
        received_at=AT.replace(minute=3),
    )
    events = [
        bus_event(
            TICKET_CHANGED,
            changed_detail(created).model_dump(mode="json"),
            "6f0c2b1e-0000-4000-8000-000000000001",
        ),
        bus_event(
            TICKET_MESSAGE_ADDED,
            message_detail(reply).model_dump(mode="json"),
            "6f0c2b1e-0000-4000-8000-000000000002",
        ),
    ]
    return {
        "Records": [
            sqs_record(json.dumps(event), f"9d1a7c3e-0000-4000-8000-00000000000{i + 1}")
            for i, event in enumerate(events)
        ]
    }


def write_events() -> None:
    EVENTS_DIR.mkdir(parents=True, exist_ok=True)
    (EVENTS_DIR / "sqs_batch.json").write_text(json.dumps(sqs_batch(), indent=2) + "\n")


if __name__ == "__main__":
    write_events()
