"""Test handlers for tests/integration/test_local_plumbing.py, invoked by local/plumbing.py.

``handler`` (SQS event source, ReportBatchItemFailures) records every event it gets and reports
as failed each record whose body's ``detail.fail`` is true. ``stream_handler`` (DynamoDB event
source) records the stream records it gets.
"""

from __future__ import annotations

import json
import threading
from typing import Any

CALLS: list[dict[str, Any]] = []
STREAM_CALLS: list[dict[str, Any]] = []
CALLED = threading.Condition()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = [
        {"itemIdentifier": record["messageId"]}
        for record in event["Records"]
        if json.loads(record["body"]).get("detail", {}).get("fail")
    ]
    with CALLED:
        CALLS.append(event)
        CALLED.notify_all()
    return {"batchItemFailures": failures}


def stream_handler(event: dict[str, Any], context: Any) -> None:
    with CALLED:
        STREAM_CALLS.append(event)
        CALLED.notify_all()


def flaky_handler(event: dict[str, Any], context: Any) -> None:
    """Records its batches; raises when one holds a record with a ``poison`` attribute."""
    with CALLED:
        FLAKY_CALLS.append(event)
        CALLED.notify_all()
    if any("poison" in r["dynamodb"]["NewImage"] for r in event["Records"]):
        raise RuntimeError("poison record")


FLAKY_CALLS: list[dict[str, Any]] = []
