"""Scheduled (EventBridge) review pull: every active Shopee/Lazada shop, resumable.

Stops starting pages a few seconds before the invocation's time is up; the next run resumes at
each shop's stored cursor (services/review_pull.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ticketing.clock import utc_now
from ticketing.observability import MetricUnit, instrument, logger, metrics
from ticketing.repository.reviews import get_review_repository
from ticketing.services.review_channels import review_source
from ticketing.services.review_pull import pull_all


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stats = pull_all(
        get_review_repository(),
        review_source,
        now=utc_now(),
        time_left_ms=context.get_remaining_time_in_millis,
    )
    metrics.add_metric(name="ReviewsStored", unit=MetricUnit.Count, value=stats.stored)
    metrics.add_metric(
        name="ReviewPullFailedShops", unit=MetricUnit.Count, value=len(stats.failed_shops)
    )
    summary = {
        "shops": stats.shops,
        "pages": stats.pages,
        "stored": stats.stored,
        "duplicates": stats.duplicates,
        "skipped": stats.skipped,
        "failed_shops": stats.failed_shops,
        "unfinished_shops": stats.unfinished_shops,
    }
    logger.info("review pull finished", extra=summary)
    return summary
