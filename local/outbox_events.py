"""Sample SQS events for the outbox sender (``events/outbox_sender/*.json``): what Lambda hands
the function when the EventBridge rule has put ``OutboundMessageRequested`` events on its queue.

``python -m local.outbox_events`` (also run by ``python -m local.demo events``) rewrites them;
``sam local invoke OutboxSenderFunction -e events/outbox_sender/sqs_batch.json`` replays one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events" / "outbox_sender"
REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ticket-engine-outbox-sender-dev"
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/ticket-engine-dev"
SENT_TIMESTAMP = "1764086400000"  # 2025-11-25T16:00:00Z


def eventbridge_event(detail: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """The event as the rule's SQS target receives it (the whole event, detail inside)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "OutboundMessageRequested",
        "source": "ticket-engine",
        "account": ACCOUNT,
        "time": str(detail.get("requested_at", "2025-11-25T16:00:00Z")),
        "region": REGION,
        "resources": [],
        "detail": dict(detail),
    }


def sqs_record(
    body: str, *, message_id: str, receive_count: int = 1, queue_arn: str = QUEUE_ARN
) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id.replace('-', '')}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": SENT_TIMESTAMP,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": SENT_TIMESTAMP,
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(
    details: Sequence[Mapping[str, Any] | str], *, receive_count: int = 1
) -> dict[str, Any]:
    """One SQS batch; a ``str`` item is used as the raw body (e.g. a poison message)."""
    records = []
    for index, detail in enumerate(details):
        message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"outbox-sample-{index}-{detail!s}"))
        body = (
            detail
            if isinstance(detail, str)
            else json.dumps(eventbridge_event(detail, event_id=message_id))
        )
        records.append(sqs_record(body, message_id=message_id, receive_count=receive_count))
    return {"Records": records}


SAMPLE_DETAIL = {
    "idempotency_key": "m_01JDEMOREPLY00000000000000",
    "workspace_id": "ws-demo",
    "ticket_id": "t_01JDEMO0000000000000000000",
    "message_id": "m_01JDEMOREPLY00000000000000",
    "conversation_id": "cv_demo_messenger",
    "contact_id": "ct_01JDEMO000000000000000000",
    "channel": "messenger",
    "account_id": "100000000000001",
    "customer_id": "6000000000000001",
    "channel_message_id": "out:m_01JDEMOREPLY00000000000000",
    "sender_id": "agent-demo",
    "text": "Hi! Checking your order now.",
    "requested_at": "2025-11-25T16:00:00Z",
    "comment_id": "",
    "last_inbound_at": "2025-11-25T15:58:00Z",
    "reply_token": "",
}


def sample_events() -> dict[str, dict[str, Any]]:
    return {"sqs_batch": sqs_event([SAMPLE_DETAIL])}


def write_events() -> None:
    EVENTS_DIR.mkdir(parents=True, exist_ok=True)
    for name, event in sample_events().items():
        (EVENTS_DIR / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")


if __name__ == "__main__":
    write_events()
