"""Review payload adapters: the channels' review-list answers → :class:`ReviewRecord`.

Neither channel pushes reviews (shared/channels.md §4): they are pulled on a schedule.

**Shopee** ``GET /api/v2/product/get_comment`` (``cursor``, ``page_size`` ≤ 100) answers
``{"error", "message", "response": {"item_comment_list": [...], "more", "next_cursor"}}``; each
comment has ``comment_id``, ``comment``, ``buyer_username``, ``order_sn``, ``item_id``,
``rating_star``, ``create_time`` (seconds), ``media.image_url_list`` / ``video_url_list`` and
``comment_reply.reply``. It names no buyer user id: the chat's customer id (``from_id``) is the
order's ``buyer_user_id`` (``v2.order.get_order_detail``), looked up when a review is converted.

**Lazada** ``GET /review/seller/history/list`` (``start_time``/``end_time`` in ms, at most 7 days
apart, reviews of the last 3 months; ``current`` page, ``page_size``) answers ``data.id_list``;
``GET /review/seller/list/v2?id_list=[...]`` answers ``data.review_list`` with ``id``,
``buyer_id``, ``order_id``, ``product_id``, ``ratings`` (``product_rating`` …),
``review_content``, ``create_time`` (ms), ``images``. Field names beyond these are
**[uncertain]** and read tolerantly. Lazada's answers carry ``code`` ``"0"`` on success.

A single malformed review never fails its page: it is skipped and counted (``skipped``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ticketing.errors import ChannelApiError, MalformedPayloadError
from ticketing.models.records import Channel
from ticketing.models.reviews import MAX_RATING, MIN_RATING, ReviewRecord

_MS_THRESHOLD = 10**11  # below: seconds; above: milliseconds
MAX_TEXT = 8000  # longer review texts are kept truncated


def epoch(value: int | float) -> datetime:
    seconds = value / 1000 if value >= _MS_THRESHOLD else value
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass
class ReviewPage:
    """One page of a channel's review list, as records, plus where the next page starts."""

    records: list[ReviewRecord] = field(default_factory=list)
    skipped: int = 0
    more: bool = False
    next_cursor: str | None = None


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


# ---------------------------------------------------------------------------- Shopee
class ShopeeMedia(_Model):
    image_url_list: list[str] = Field(default_factory=list)
    video_url_list: list[str] = Field(default_factory=list)


class ShopeeCommentReply(_Model):
    reply: str | None = None


class ShopeeComment(_Model):
    comment_id: str = Field(min_length=1)
    comment: str | None = None
    buyer_username: str | None = None
    order_sn: str | None = None
    item_id: str = Field(min_length=1)
    model_id: str | None = None
    rating_star: int = Field(ge=MIN_RATING, le=MAX_RATING)
    create_time: int = Field(ge=0)
    media: ShopeeMedia | None = None
    comment_reply: ShopeeCommentReply | None = None


def parse_shopee_comments(shop_id: str, body: Any) -> ReviewPage:
    """A ``v2.product.get_comment`` answer → a page of review records of the shop."""
    if not isinstance(body, dict):
        raise MalformedPayloadError("shopee get_comment: the answer is not a JSON object")
    if body.get("error"):
        raise ChannelApiError(
            "shopee get_comment failed",
            details={"error": str(body.get("error")), "message": str(body.get("message", ""))},
        )
    response = body.get("response")
    if not isinstance(response, dict):
        raise MalformedPayloadError("shopee get_comment: no response object")
    page = ReviewPage(
        more=bool(response.get("more")),
        next_cursor=_text(response.get("next_cursor")),
    )
    for raw in _list(response.get("item_comment_list")):
        try:
            comment = ShopeeComment.model_validate(raw)
            media = comment.media or ShopeeMedia()
            page.records.append(
                ReviewRecord(
                    channel=Channel.SHOPEE,
                    account_id=shop_id,
                    channel_review_id=comment.comment_id,
                    rating=comment.rating_star,
                    text=(comment.comment or "")[:MAX_TEXT],
                    product_id=comment.item_id,
                    order_id=comment.order_sn or None,
                    buyer_name=comment.buyer_username or None,
                    media_urls=[*media.image_url_list, *media.video_url_list],
                    seller_reply=comment.comment_reply.reply if comment.comment_reply else None,
                    created_at=epoch(comment.create_time),
                )
            )
        except (ValidationError, ValueError, OverflowError, OSError):
            page.skipped += 1
    return page


def parse_shopee_buyer_user_id(body: Any, order_sn: str) -> str | None:
    """``v2.order.get_order_detail`` (``response_optional_fields=buyer_user_id``) → the buyer's
    user id for ``order_sn``: the ``from_id`` of that buyer's chat messages."""
    if not isinstance(body, dict) or body.get("error"):
        return None
    response = body.get("response")
    orders = response.get("order_list") if isinstance(response, dict) else None
    for order in _list(orders):
        if isinstance(order, dict) and _text(order.get("order_sn")) == order_sn:
            return _text(order.get("buyer_user_id"))
    return None


# ---------------------------------------------------------------------------- Lazada
def _lazada_ok(body: Any, api: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MalformedPayloadError(f"lazada {api}: the answer is not a JSON object")
    if str(body.get("code", "0")) != "0":
        raise ChannelApiError(
            f"lazada {api} failed",
            details={"code": str(body.get("code")), "message": str(body.get("message", ""))},
        )
    data = body.get("data")
    if isinstance(data, str):  # some Lazada APIs return data as a JSON string
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise MalformedPayloadError(f"lazada {api}: data is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedPayloadError(f"lazada {api}: no data object")
    return data


def parse_lazada_review_ids(body: Any) -> list[str]:
    """``/review/seller/history/list`` → the review ids of the page (empty: no more pages)."""
    data = _lazada_ok(body, "review history")
    ids = _list(data.get("id_list"))
    return [str(i) for i in ids if isinstance(i, (int, str)) and not isinstance(i, bool) and str(i)]


class LazadaRatings(_Model):
    product_rating: int | None = None
    overall_rating: int | None = None
    seller_rating: int | None = None


class LazadaReview(_Model):
    id: str = Field(min_length=1)
    buyer_id: str | None = None
    order_id: str | None = None
    product_id: str = Field(min_length=1)
    ratings: LazadaRatings = Field(default_factory=LazadaRatings)
    rating: int | None = None
    review_content: str | None = None
    create_time: int = Field(ge=0)
    images: list[Any] = Field(default_factory=list)
    seller_reply: Any = None

    def stars(self) -> int:
        for value in (self.ratings.product_rating, self.ratings.overall_rating, self.rating):
            if value is not None:
                return value
        raise ValueError("no rating")


def _image_url(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _text(value.get("url") or value.get("image_url"))
    return None


def _reply_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return _text(value.get("content") or value.get("reply"))
    return None


def parse_lazada_reviews(seller_id: str, body: Any) -> ReviewPage:
    """``/review/seller/list/v2`` → the review records of the seller."""
    data = _lazada_ok(body, "review list")
    page = ReviewPage()
    for raw in _list(data.get("review_list")):
        try:
            review = LazadaReview.model_validate(raw)
            page.records.append(
                ReviewRecord(
                    channel=Channel.LAZADA,
                    account_id=seller_id,
                    channel_review_id=review.id,
                    rating=review.stars(),
                    text=(review.review_content or "")[:MAX_TEXT],
                    product_id=review.product_id,
                    order_id=review.order_id or None,
                    buyer_id=review.buyer_id or None,
                    media_urls=[u for u in map(_image_url, review.images) if u],
                    seller_reply=_reply_text(review.seller_reply),
                    created_at=epoch(review.create_time),
                )
            )
        except (ValidationError, ValueError, OverflowError, OSError):
            page.skipped += 1
    return page


def parse_lazada_session_id(body: Any) -> str | None:
    """``/im/session/open`` (``order_id``) → the buyer-seller chat session: the ``customer_id``
    of Lazada chat messages (channels/lazada.py). **[uncertain]** field name ``session_id``."""
    try:
        data = _lazada_ok(body, "session open")
    except (ChannelApiError, MalformedPayloadError):
        return None
    return _text(data.get("session_id"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value)
    return text or None
