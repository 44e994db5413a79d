"""Product reviews (Shopee, Lazada): the stored record, the pull cursor and the API's shapes.

A review belongs to the workspace of the shop connection it was pulled for. Its id is derived
(``rv_`` + hash of channel, account and the channel's review id), so storing it is a Put guarded
by ``attribute_not_exists(pk)``: the dedupe of every re-pulled page.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ticketing.ids import stable_id
from ticketing.models.records import Channel, Ticket

REVIEW_CHANNELS = (Channel.SHOPEE, Channel.LAZADA)
MIN_RATING, MAX_RATING = 1, 5


class ReviewStatus(StrEnum):
    """``new`` → ``converted`` (a ticket was opened or joined for it) → ``handled``; an agent may
    mark a new review handled directly."""

    NEW = "new"
    CONVERTED = "converted"
    HANDLED = "handled"


def review_id_for(channel: Channel | str, account_id: str, channel_review_id: str) -> str:
    return stable_id("rv_", str(channel), account_id, channel_review_id)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ReviewRecord(_Record):
    """A review as a channel adapter reads it (no workspace, no state yet)."""

    channel: Channel
    account_id: str = Field(min_length=1, max_length=128)
    channel_review_id: str = Field(min_length=1, max_length=128)
    rating: int = Field(ge=MIN_RATING, le=MAX_RATING)
    text: str = Field(default="", max_length=8000)
    product_id: str = Field(min_length=1, max_length=128)
    order_id: str | None = Field(default=None, max_length=128)
    buyer_id: str | None = Field(
        default=None,
        max_length=128,
        description="The channel's id of the buyer, when it gives one.",
    )
    buyer_name: str | None = Field(default=None, max_length=200)
    media_urls: list[str] = Field(default_factory=list)
    seller_reply: str | None = None
    created_at: datetime = Field(description="The channel's own time of the review.")

    def derived_id(self) -> str:
        return review_id_for(self.channel, self.account_id, self.channel_review_id)


class Review(ReviewRecord):
    """A stored review."""

    workspace_id: str
    review_id: str
    status: ReviewStatus = ReviewStatus.NEW
    fetched_at: datetime
    buyer_chat_id: str | None = Field(
        default=None,
        description="The buyer's customer id in the channel's chat (Shopee user id, Lazada "
        "session id): set when the review is converted.",
    )
    ticket_id: str | None = None
    converted_at: datetime | None = None
    converted_by: str | None = None
    handled_at: datetime | None = None
    handled_by: str | None = None
    version: int = 1

    @classmethod
    def of(cls, record: ReviewRecord, *, workspace_id: str, fetched_at: datetime) -> Review:
        return cls.model_validate(
            {
                **record.model_dump(),
                "review_id": record.derived_id(),
                "workspace_id": workspace_id,
                "fetched_at": fetched_at,
            }
        )


class PullCursor(_Record):
    """Where the scheduled pull of one shop resumes. ``state`` is the channel's own position
    (Shopee: the ``get_comment`` cursor; Lazada: the time window and page)."""

    channel: Channel
    account_id: str
    state: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime | None = None
    version: int = 0


# ---------------------------------------------------------------------------- API shapes
class ReviewResponse(BaseModel):
    review_id: str
    channel: Channel
    account_id: str
    channel_review_id: str
    rating: int
    text: str
    product_id: str
    order_id: str | None = None
    buyer_id: str | None = None
    buyer_name: str | None = None
    media_urls: list[str] = Field(default_factory=list)
    seller_reply: str | None = None
    created_at: datetime
    status: ReviewStatus
    ticket_id: str | None = None
    converted_at: datetime | None = None
    converted_by: str | None = None
    handled_at: datetime | None = None
    handled_by: str | None = None

    @classmethod
    def of(cls, review: Review) -> ReviewResponse:
        return cls.model_validate(review.model_dump(), from_attributes=False)


class ReviewListResponse(BaseModel):
    items: list[ReviewResponse]
    next_cursor: str | None = None


class ConvertReviewResponse(BaseModel):
    review: ReviewResponse
    ticket: Ticket
    created: bool = Field(description="True when this call opened the ticket.")
