"""GET /analytics/summary: the workspace's ticket counters for a range of days (agent API).

Answered from pre-aggregated counters only (one GetItem for open-now, one Query over the range's
day items): the cost follows the number of days, never the number of tickets.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ticketing.auth import principal_from_claims
from ticketing.http import responses
from ticketing.models.analytics import (
    AnalyticsSummaryResponse,
    DayCounters,
    DaySummaryResponse,
)
from ticketing.repository.analytics import get_analytics_repository
from ticketing.services import analytics

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools: untyped __init__


@router.get("/analytics/summary", responses=responses())
def get_analytics_summary(
    first: Annotated[
        date, Query(alias="from", description="First day (YYYY-MM-DD, UTC), inclusive.")
    ],
    last: Annotated[date, Query(alias="to", description="Last day (YYYY-MM-DD, UTC), inclusive.")],
) -> AnalyticsSummaryResponse:
    """Open tickets now; tickets created / closed / reopened / marked spam, messages and the
    median first response per day and over the range (at most 92 days)."""
    who = principal_from_claims(router.current_event.request_context.authorizer.claims)
    result = analytics.summary(get_analytics_repository(), who.workspace_id, first, last)
    days = [
        DaySummaryResponse(
            date=d.day,
            created=d.created,
            closed=d.closed,
            reopened=d.reopened,
            spam=d.spam,
            messages_in=d.messages_in,
            messages_out=d.messages_out,
            first_responses=d.first_responses,
            median_first_response_seconds=d.median_first_response_seconds,
        )
        for d in result.days
    ]
    totals = DayCounters(
        created=sum(d.created for d in days),
        closed=sum(d.closed for d in days),
        reopened=sum(d.reopened for d in days),
        spam=sum(d.spam for d in days),
        messages_in=sum(d.messages_in for d in days),
        messages_out=sum(d.messages_out for d in days),
        first_responses=sum(d.first_responses for d in days),
        median_first_response_seconds=result.median_first_response_seconds,
    )
    return AnalyticsSummaryResponse(
        workspace_id=result.workspace_id,
        first_day=result.first,
        last_day=result.last,
        open_now=result.open_now,
        totals=totals,
        days=days,
    )
