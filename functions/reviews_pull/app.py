"""Scheduled (EventBridge) review pull: every active Shopee/Lazada shop, resumable.

Stops starting pages a few seconds before the invocation's time is up; the next run resumes at
each shop's stored cursor (services/review_pull.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3  # noqa: F401 - loaded at init (Lambda's init phase), used by the first request

from ticketing.clock import utc_now
from ticketing.observability import MetricUnit, instrument, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The repository, the channels' review APIs and the service are imported by the first run
# (cold start, bench/README.md section 4).


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from ticketing.repository.reviews import get_review_repository
    from ticketing.services.review_channels import review_source
    from ticketing.services.review_pull import pull_all

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
