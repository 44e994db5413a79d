"""Outbox sender: ``OutboundMessageRequested`` events (EventBridge rule → SQS) → the channels'
send APIs (services.delivery). Thin.

Each SQS record is one EventBridge event whose ``detail`` is the request. A record whose send
should be tried again (rate limit, channel 5xx, connection refused) is reported as a batch item
failure, so SQS delivers it again after its visibility timeout (or after the channel's
Retry-After, when it gave one); after the queue's maxReceiveCount receives it moves to the
dead-letter queue, the message having been marked ``failed`` with the reason on the last one.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ticketing.clock import utc_now
from ticketing.errors import MalformedPayloadError
from ticketing.observability import instrument, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from ticketing.models.replies import OutboundMessageRequested
    from ticketing.repository.delivery import DeliveryRepository

# Settings, the models, the repository and the delivery service (the channels' senders, the
# HTTP client) are imported by the first record (cold start, bench/README.md section 4).

# A batch whose every record failed is still a partial-failure answer (not an exception): each
# record keeps its own receive count and its own Retry-After delay.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
MAX_VISIBILITY_SECONDS = 900


@lru_cache(maxsize=1)
def delivery_store() -> DeliveryRepository:
    from ticketing.repository.delivery import DeliveryRepository
    from ticketing.repository.dynamodb import get_repository

    return DeliveryRepository(get_repository())


def parse_detail(body: str) -> OutboundMessageRequested:
    """The EventBridge event in the record's body (or, sent by hand, the bare detail)."""
    from ticketing.models.replies import OutboundMessageRequested

    try:
        event = json.loads(body)
        detail = event.get("detail", event) if isinstance(event, dict) else event
        return OutboundMessageRequested.model_validate(detail)
    except ValueError as exc:
        raise MalformedPayloadError("not an OutboundMessageRequested event") from exc


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    from ticketing.config import get_settings
    from ticketing.repository.dynamodb import get_repository
    from ticketing.services.delivery import DeliveryAbandonedError, RetryLaterError, deliver

    try:
        detail = parse_detail(record.body)
    except MalformedPayloadError:
        metrics.add_metric(name="OutboundMalformed", unit=MetricUnit.Count, value=1)
        raise  # a poison record: SQS moves it to the dead-letter queue after maxReceiveCount
    # Never start a send the invocation may not outlive (a timeout would leave its outcome
    # unknown): hand the record back untouched for the next delivery instead.
    needed_ms = (3 * get_settings().channel_api_timeout_seconds + 5) * 1000
    if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < needed_ms:
        raise RetryLaterError("not enough time left in this invocation")
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        result = deliver(
            get_repository(),
            delivery_store(),
            detail,
            now=utc_now(),
            attempt_id=f"{record.message_id}:{receives}",
            receive_count=receives,
            max_receives=get_settings().outbox_max_receives,
        )
    except RetryLaterError as exc:
        metrics.add_metric(name="OutboundRetried", unit=MetricUnit.Count, value=1)
        if exc.retry_after:
            delay_redelivery(record, exc.retry_after)
        raise
    except DeliveryAbandonedError:
        metrics.add_metric(name="OutboundAbandoned", unit=MetricUnit.Count, value=1)
        raise  # the message is failed; the record goes on to the dead-letter queue
    metrics.add_metric(name=f"Outbound_{result.outcome}", unit=MetricUnit.Count, value=1)


@lru_cache(maxsize=2)
def sqs_client(region: str) -> Any:
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=2, retries={"max_attempts": 2})
    return boto3.client("sqs", region_name=region, config=config)


def delay_redelivery(record: SQSRecord, seconds: float) -> None:
    """Honour the channel's Retry-After: the failed record becomes visible again only then."""
    try:
        _, _, _, region, account, name = record.event_source_arn.split(":", 5)
        sqs = sqs_client(region)
        sqs.change_message_visibility(
            QueueUrl=f"{sqs.meta.endpoint_url}/{account}/{name}",
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=max(1, min(int(seconds + 0.999), MAX_VISIBILITY_SECONDS)),
        )
    except Exception:
        logger.warning("could not delay the redelivery", exc_info=True)


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
