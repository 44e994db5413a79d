"""Ticket analytics consumer: ticket events (bus → rule → SQS) → per-ticket metrics and workspace
counters. Thin: parse the EventBridge event in each SQS record, apply it; a failed record is
reported alone (partial batch response) and comes back after the visibility timeout."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3  # noqa: F401 - loaded at init (Lambda's init phase), used by the first request
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ticketing.clock import utc_now
from ticketing.observability import MetricUnit, instrument, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The event models, the repository and the service are imported by the first record (cold start).

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    from ticketing.models.events import ticket_event
    from ticketing.repository.analytics import get_analytics_repository
    from ticketing.services import analytics

    envelope = json.loads(record.body)
    event = ticket_event(str(envelope.get("detail-type", "")), envelope.get("detail") or {})
    logger.append_keys(ticket_id=event.ticket_id, idempotency_key=event.idempotency_key)
    outcome = analytics.apply_event(get_analytics_repository(), event, utc_now())
    name = f"AnalyticsEvents_{outcome or 'no_ticket'}"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
