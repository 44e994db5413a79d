"""EventBridge schedule (rate(15 minutes)) → close open tickets inactive past their workspace's
auto-close threshold. Thin: builds the stores, runs ``services.auto_close`` within the time the
invocation has left, and reports the outcome as metrics and one log line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3  # noqa: F401 - loaded at init (Lambda's init phase), used by the first request

from ticketing.clock import utc_now
from ticketing.observability import MetricUnit, instrument, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The repository, the stores and the service (pydantic models) are imported by the first run
# (cold start, bench/README.md section 4).


@instrument(correlation_id_path="id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from ticketing.repository.auto_close import AutoCloseStore
    from ticketing.repository.dynamodb import get_repository
    from ticketing.repository.workspaces import WorkspaceStore
    from ticketing.services.auto_close import run_auto_close

    repo = get_repository()
    report = run_auto_close(
        WorkspaceStore(repo),
        AutoCloseStore(repo),
        now=utc_now(),
        time_left_ms=context.get_remaining_time_in_millis,
    )
    metrics.add_metric(name="AutoCloseDueTickets", unit=MetricUnit.Count, value=report.due)
    metrics.add_metric(name="AutoClosedTickets", unit=MetricUnit.Count, value=report.closed)
    metrics.add_metric(name="AutoCloseKeptOpen", unit=MetricUnit.Count, value=report.changed)
    metrics.add_metric(name="AutoCloseFailed", unit=MetricUnit.Count, value=report.failed)
    metrics.add_metric(
        name="AutoCloseStoppedEarly", unit=MetricUnit.Count, value=int(report.stopped_early)
    )
    logger.info("auto-close run", extra=report.as_dict())
    return report.as_dict()
