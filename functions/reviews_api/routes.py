"""The reviews API (Shopee/Lazada product reviews). Thin: authorise from the Cognito claims, call
a service, shape the answer. Another workspace's review is a 404 (its key cannot be addressed).

Imported by ``app.py`` on the first invocation (or the first read of ``app.app``), not at its
import: the validating resolver, the pydantic models and the services are the first request's
cost (cold start, bench/README.md section 4).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from ticketing.clock import utc_now
from ticketing.http import caller, responses, rest_resolver
from ticketing.models.reviews import (
    MAX_RATING,
    MIN_RATING,
    ConvertReviewResponse,
    ReviewListResponse,
    ReviewResponse,
    ReviewStatus,
)
from ticketing.repository.reviews import get_review_repository
from ticketing.services import reviews
from ticketing.services.review_channels import buyer_chat_lookup

app = rest_resolver()

ReviewId = Annotated[str, Path(min_length=1, max_length=64)]


@app.get("/reviews", responses=responses())
def list_reviews(
    status: Annotated[ReviewStatus, Query(description="Which reviews")] = ReviewStatus.NEW,
    rating: Annotated[int | None, Query(ge=MIN_RATING, le=MAX_RATING)] = None,
    product_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ReviewListResponse:
    """Lowest rating first, newest first within a rating."""
    who = caller(app)
    page = reviews.list_reviews(
        get_review_repository(),
        who.workspace_id,
        status=status,
        rating=rating,
        product_id=product_id,
        limit=limit,
        cursor=cursor,
    )
    return ReviewListResponse(
        items=[ReviewResponse.of(r) for r in page.items], next_cursor=page.next_cursor
    )


@app.get("/reviews/<review_id>", responses=responses())
def get_review(review_id: ReviewId) -> ReviewResponse:
    who = caller(app)
    return ReviewResponse.of(
        reviews.get_review(get_review_repository(), who.workspace_id, review_id)
    )


@app.post("/reviews/<review_id>/handled", responses=responses())
def mark_review_handled(review_id: ReviewId) -> ReviewResponse:
    """Idempotent: a handled review is answered as it is."""
    who = caller(app)
    handled = reviews.mark_handled(
        get_review_repository(), who.workspace_id, review_id, actor=who.agent_id, now=utc_now()
    )
    return ReviewResponse.of(handled)


@app.post("/reviews/<review_id>/convert", responses=responses())
def convert_review(review_id: ReviewId) -> ConvertReviewResponse:
    """Open (or join) the ticket of the buyer's chat conversation and link it with the review
    both ways. Idempotent: a converted review answers its ticket (``created`` false)."""
    who = caller(app)
    done = reviews.convert_review(
        get_review_repository(),
        who.workspace_id,
        review_id,
        actor=who.agent_id,
        now=utc_now(),
        lookup=buyer_chat_lookup,
    )
    return ConvertReviewResponse(
        review=ReviewResponse.of(done.review), ticket=done.ticket, created=done.created
    )
