"""The workspace analytics summary (GET /analytics/summary)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from ticketing import analytics

MEDIAN_PRECISION = (
    "Medians come from fixed geometric buckets (2^(1/4) apart, 10 s to 15.2 days): within ±9.1 %"
    " of the exact median between 10 s and 15.2 days, within ±5 s below 10 s."
)


class DayCounters(BaseModel):
    created: int = Field(0, description="Tickets created (by a customer message or an agent).")
    closed: int = Field(0, description="Closes (a ticket closed, reopened and closed counts 2).")
    reopened: int = 0
    spam: int = Field(0, description="Tickets marked spam.")
    messages_in: int = 0
    messages_out: int = 0
    first_responses: int = Field(0, description="Tickets whose first response fell on the day.")
    median_first_response_seconds: float | None = Field(
        None, description="Median of those first responses (seconds from ticket creation)."
    )


class DaySummaryResponse(DayCounters):
    date: date


class AnalyticsSummaryResponse(BaseModel):
    workspace_id: str
    first_day: date
    last_day: date
    open_now: int = Field(description="Open tickets now (all time, not limited to the range).")
    totals: DayCounters = Field(description="The whole range; the median over all its days.")
    days: list[DaySummaryResponse] = Field(description="Every day of the range, oldest first.")
    median_precision: str = MEDIAN_PRECISION
    max_days: int = analytics.MAX_SUMMARY_DAYS
