"""The scheduled review pull: every connected Shopee/Lazada shop, page by page, resumable.

Neither channel pushes reviews (shared/channels.md §4). Per shop a :class:`ReviewSource` walks the
channel's review list from a stored position (``PullCursor.state``); after each page the reviews
are stored (a Put guarded by ``attribute_not_exists(pk)`` on the derived review key: a re-pulled
page stores nothing twice) and then the cursor is saved (version-guarded: two overlapping runs
never move it back; the loser stops that shop). The run stops before the Lambda's time is up
(``time_left_ms``) and the next run resumes at the saved cursor. A page is stored before its
cursor moves past it, so a crash can repeat a page (harmless) but never skip one.

Sources: ``ShopeeReviewSource`` (``v2.product.get_comment``, cursor paging; a finished sweep
starts again from the top: the API has no time filter, and caps at 1000 comments) and
``LazadaReviewSource`` (``/review/seller/history/list`` in windows of at most 7 days, then
``/review/seller/list/v2`` for the page's ids; a finished window moves forward, and once caught up
the next window starts an hour back, to catch late-indexed reviews).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ticketing.channels.reviews import (
    ReviewPage,
    parse_lazada_review_ids,
    parse_lazada_reviews,
    parse_shopee_comments,
)
from ticketing.clock import to_ms
from ticketing.errors import TicketEngineError
from ticketing.models.records import ChannelConnection, ConnectionStatus
from ticketing.models.reviews import REVIEW_CHANNELS, PullCursor, Review
from ticketing.observability import logger
from ticketing.repository.reviews import ReviewRepository

SAFETY_MARGIN_MS = 3_000  # stop starting pages when less than this is left
GET_COMMENT_PATH = "/api/v2/product/get_comment"
SHOPEE_PAGE_SIZE = 100
LAZADA_HISTORY_PATH = "/review/seller/history/list"
LAZADA_LIST_PATH = "/review/seller/list/v2"
LAZADA_PAGE_SIZE = 50
LAZADA_WINDOW = timedelta(days=7)  # the API's maximum span
LAZADA_BACKFILL = timedelta(days=30)  # first run of a shop (the API keeps 3 months)
LAZADA_OVERLAP = timedelta(hours=1)


@dataclass(frozen=True)
class SourcePage:
    page: ReviewPage
    state: dict[str, Any]  # where to resume after this page
    done: bool  # the sweep is caught up: stop this shop for this run


class ReviewSource(Protocol):
    def next_page(self, state: dict[str, Any], now: datetime) -> SourcePage: ...


class ShopeeCaller(Protocol):
    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]: ...


class LazadaCaller(Protocol):
    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> dict[str, Any]: ...


class ShopeeReviewSource:
    def __init__(self, api: ShopeeCaller, shop_id: str, page_size: int = SHOPEE_PAGE_SIZE) -> None:
        self.api = api
        self.shop_id = shop_id
        self.page_size = page_size

    def next_page(self, state: dict[str, Any], now: datetime) -> SourcePage:
        cursor = str(state.get("cursor") or "")
        response = self.api.call(
            "GET", GET_COMMENT_PATH, params={"cursor": cursor, "page_size": self.page_size}
        )
        page = parse_shopee_comments(self.shop_id, {"response": response})
        if page.more and page.next_cursor and page.next_cursor != cursor:
            return SourcePage(page, {"cursor": page.next_cursor}, done=False)
        return SourcePage(page, {"cursor": ""}, done=True)  # next run: from the top


class LazadaReviewSource:
    def __init__(
        self, api: LazadaCaller, seller_id: str, page_size: int = LAZADA_PAGE_SIZE
    ) -> None:
        self.api = api
        self.seller_id = seller_id
        self.page_size = page_size

    def next_page(self, state: dict[str, Any], now: datetime) -> SourcePage:
        now_ms = to_ms(now)
        start = int(state.get("start_ms") or now_ms - to_ms_delta(LAZADA_BACKFILL))
        # within the 3 months the API keeps, and never after now (a clock that went back)
        start = min(max(start, now_ms - to_ms_delta(timedelta(days=89))), now_ms)
        end = min(start + to_ms_delta(LAZADA_WINDOW), now_ms)
        current = int(state.get("page") or 1)
        answer = self.api.call(
            "GET",
            LAZADA_HISTORY_PATH,
            {"start_time": start, "end_time": end, "current": current, "page_size": self.page_size},
        )
        ids = parse_lazada_review_ids(answer)
        page = ReviewPage()
        if ids:
            page = parse_lazada_reviews(
                self.seller_id,
                self.api.call("GET", LAZADA_LIST_PATH, {"id_list": json.dumps(ids)}),
            )
        if len(ids) >= self.page_size:
            return SourcePage(page, {"start_ms": start, "page": current + 1}, done=False)
        if end < now_ms:  # window finished: the next one
            return SourcePage(page, {"start_ms": end, "page": 1}, done=False)
        caught_up = max(start, end - to_ms_delta(LAZADA_OVERLAP))
        return SourcePage(page, {"start_ms": caught_up, "page": 1}, done=True)


def to_ms_delta(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


@dataclass
class PullStats:
    shops: int = 0
    pages: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed_shops: list[str] = field(default_factory=list)
    unfinished_shops: list[str] = field(default_factory=list)


def store_page(
    reviews: ReviewRepository, connection: ChannelConnection, page: ReviewPage, now: datetime
) -> tuple[int, int]:
    """Store a page's reviews: (stored, duplicates). The page's keys are read first (one
    BatchGetItem), so a re-swept page costs reads, not refused writes; each new review's Put is
    still guarded (the dedupe under concurrency)."""
    batch = [
        Review.of(r, workspace_id=connection.workspace_id, fetched_at=now) for r in page.records
    ]
    known = reviews.stored_ids(connection.workspace_id, [r.review_id for r in batch])
    stored = duplicates = 0
    for review in batch:
        if review.review_id not in known and reviews.store_review(review):
            stored += 1
        else:
            duplicates += 1
    return stored, duplicates


def pull_shop(
    reviews: ReviewRepository,
    connection: ChannelConnection,
    source: ReviewSource,
    *,
    now: datetime,
    time_left_ms: Callable[[], int],
    stats: PullStats,
) -> bool:
    """Pull one shop until caught up (True) or out of time / overtaken (False)."""
    cursor: PullCursor | None = reviews.get_cursor(connection.channel, connection.account_id)
    while cursor is not None:
        if time_left_ms() < SAFETY_MARGIN_MS:
            return False
        step = source.next_page(dict(cursor.state), now)
        stored, duplicates = store_page(reviews, connection, step.page, now)
        stats.pages += 1
        stats.stored += stored
        stats.duplicates += duplicates
        stats.skipped += step.page.skipped
        cursor = reviews.save_cursor(cursor.model_copy(update={"state": step.state}), now=now)
        if cursor is None:
            logger.info(
                "review pull overtaken by another run", extra={"shop": connection.account_id}
            )
            return False
        if step.done:
            return True
    return False


def review_connections(reviews: ReviewRepository) -> list[ChannelConnection]:
    return [
        connection
        for channel in REVIEW_CHANNELS
        for connection in reviews.channel_connections(channel)
        if connection.status is ConnectionStatus.ACTIVE
    ]


def rotated(connections: list[ChannelConnection], now: datetime) -> list[ChannelConnection]:
    """The shops in a different order each run (by the run's quarter hour), so a run that ends
    before the last shop does not starve the same shops every time."""
    if not connections:
        return connections
    start = int(now.timestamp() // 900) % len(connections)
    return connections[start:] + connections[:start]


def pull_all(
    reviews: ReviewRepository,
    source_for: Callable[[ChannelConnection], ReviewSource],
    *,
    now: datetime,
    time_left_ms: Callable[[], int],
) -> PullStats:
    """Every active Shopee/Lazada connection in turn; one shop's failure never stops the rest."""
    stats = PullStats()
    for connection in rotated(review_connections(reviews), now):
        shop = f"{connection.channel}:{connection.account_id}"
        if time_left_ms() < SAFETY_MARGIN_MS:
            stats.unfinished_shops.append(shop)
            continue
        stats.shops += 1
        try:
            finished = pull_shop(
                reviews,
                connection,
                source_for(connection),
                now=now,
                time_left_ms=time_left_ms,
                stats=stats,
            )
        except TicketEngineError as exc:  # channel error, bad credentials, store unavailable
            logger.warning("review pull failed for a shop", extra={"shop": shop, "code": exc.code})
            stats.failed_shops.append(shop)
            continue
        if not finished:
            stats.unfinished_shops.append(shop)
    return stats
