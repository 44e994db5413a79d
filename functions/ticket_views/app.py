"""Inbox view projector: ticket items from the table's stream → their view entries. Thin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3  # noqa: F401 - loaded at init (Lambda's init phase), used by the first request
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from ticketing.observability import instrument, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The repository and the projection service are imported by the first record (cold start).

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    change = record.raw_event.get("dynamodb") or {}
    new_image = change.get("NewImage")
    if not new_image or new_image.get("type", {}).get("S") != "ticket":
        return  # the event source's filter only sends tickets; anything else is not ours
    from ticketing.repository.dynamodb import get_repository
    from ticketing.services import views

    update = views.project(
        get_repository(),
        new_image=new_image,
        old_image=change.get("OldImage"),
        sequence_number=str(change["SequenceNumber"]),
    )
    metrics.add_metric(name="ViewEntriesWritten", unit=MetricUnit.Count, value=len(update.written))
    if update.stale:
        logger.info("older stream record skipped", extra={"stale_writes": update.stale})


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
